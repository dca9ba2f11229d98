//! Calling a provider with one key, I/O only: the target's contract (`keyroute_wire::contract`)
//! says what to send, where, how to authenticate and how to read the answer; this module
//! sends it within deadlines and size bounds, signs with the inputs the contract gives,
//! caches Vertex access tokens, and decodes streams chunk by chunk as they arrive.
//!
//! Two pooled clients: one for destinations the registry or the operator set (trusted), one
//! for destinations a user supplied (a custom base URL, an Azure endpoint, a Vertex token
//! URI), whose every connection passes the egress policy and which never uses a proxy (the
//! trusted one honours the environment's, `proxy`). Neither follows redirects: a 3xx is an
//! upstream error. Both are hyper-util's pooled client with nothing on top (`client`); a
//! call appends its path to a base URL parsed once (`base`), never parsing a URL itself.

mod base;
mod body;
mod client;
mod discovery;
mod egress;
mod embed;
mod models;
mod proxy;
mod send;
mod stream;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use client::HttpClient;
use http::Uri;
use keyroute_egress::EgressPolicy;
use keyroute_serve::PerThread;
use keyroute_wire::canonical::pb;
use keyroute_wire::contract::{Authorization, Contract, ServiceAccountKey};
use keyroute_wire::error::{WireError, scrub};
use keyroute_wire::http::HttpRequest;
use keyroute_wire::vertex::{AccessToken, parse_token_response};
use secrecy::ExposeSecret;

use crate::cache::leases::LeasedKey;
use base::{Base, BaseError, Bases};
use proxy::Proxies;

pub use discovery::Discovery;
pub use embed::{EmbedFailure, Embeddings};
pub use models::MAX_MODELS;
pub use stream::EventStream;

/// Deadlines for one upstream call.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    /// Until the response headers (and, for streams, the first bytes) arrive.
    pub first_byte: Duration,
    /// Between two stream events (bytes that complete no event do not count).
    pub between_chunks: Duration,
    /// For a whole call, streams included.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            first_byte: Duration::from_secs(60),
            between_chunks: Duration::from_secs(60),
            total: Duration::from_secs(600),
        }
    }
}

/// One call's target: the key, how its provider is called with it, and the model name to
/// send. Borrowed from a routing candidate for the length of the call.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub key: &'a LeasedKey,
    pub contract: &'a Contract<'a>,
    pub model: &'a str,
}

impl Target<'_> {
    fn provider(&self) -> &'static str {
        self.contract.provider.id
    }
}

/// A cached access token and the secret it was made from: a changed secret (a new version of
/// the credential) never reuses the old one's token.
#[derive(Debug)]
struct CachedToken {
    secret_hash: u64,
    token: AccessToken,
}

fn secret_hash(secret: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    secret.hash(&mut hasher);
    hasher.finish()
}

/// A token URI (from a key file) as sent: an absolute http(s) URL with a host.
fn token_uri(raw: &str) -> Option<Uri> {
    let uri: Uri = raw.trim().parse().ok()?;
    let web = matches!(uri.scheme_str(), Some("http" | "https"));
    (web && uri.host().is_some_and(|host| !host.is_empty())).then_some(uri)
}

/// A provider's error text made fit for a client: credentials scrubbed, length bounded.
fn scrubbed(mut error: WireError) -> WireError {
    error.message = scrub(&error.message);
    error
}

/// The HTTP side of the router: the pooled clients for every provider.
#[derive(Debug)]
pub struct Upstreams {
    /// For the registry's and the operator's destinations.
    http: PerThread<HttpClient>,
    /// For destinations users supplied: every address passes `egress`, no proxy.
    guarded: PerThread<HttpClient>,
    /// The environment's proxies, which the trusted client uses.
    proxies: Option<Arc<Proxies>>,
    egress: Arc<EgressPolicy>,
    /// Provider id -> the operator's base URL (as given, and parsed), replacing the
    /// registry default (tests, proxies, regions).
    operator_bases: HashMap<String, (String, Result<Arc<Base>, BaseError>)>,
    /// Every other base URL, parsed once per text.
    bases: Bases,
    /// Service-account access tokens by credential id, until shortly before they expire.
    access_tokens: Mutex<HashMap<String, CachedToken>>,
    /// Each key's models as its provider lists them (live discovery).
    discovered: discovery::Discovered,
    pub timeouts: Timeouts,
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Upstreams {
    /// Upstreams whose user-supplied destinations pass the strict egress policy.
    pub fn new(base_urls: HashMap<String, String>, timeouts: Timeouts) -> Result<Self, String> {
        Self::with_egress(base_urls, timeouts, EgressPolicy::strict())
    }

    /// Upstreams whose user-supplied destinations pass `egress`.
    pub fn with_egress(
        base_urls: HashMap<String, String>,
        timeouts: Timeouts,
        egress: EgressPolicy,
    ) -> Result<Self, String> {
        // One crypto provider for the whole process: ring, as everywhere in keyroute.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let tls = client::tls_config()?;
        let trusted = egress::Resolver { policy: None };
        let proxies =
            Proxies::from_env(client::tcp(trusted.clone(), timeouts.connect), &tls).map(Arc::new);
        if proxies.is_some() {
            tracing::info!("trusted upstream destinations go through the environment's proxy");
        }
        Ok(Self::from_parts(base_urls, timeouts, egress, &tls, proxies))
    }

    /// Upstreams with these TLS settings and proxies (tests give their own).
    fn from_parts(
        base_urls: HashMap<String, String>,
        timeouts: Timeouts,
        egress: EgressPolicy,
        tls: &rustls::ClientConfig,
        proxies: Option<Arc<Proxies>>,
    ) -> Self {
        let egress = Arc::new(egress);
        let trusted = egress::Resolver { policy: None };
        let guarded = egress::Resolver {
            policy: Some(egress.clone()),
        };
        let operator_bases = base_urls
            .into_iter()
            .map(|(provider, raw)| {
                let parsed = Base::parse(&raw, &egress).map(Arc::new);
                (provider, (raw.trim_end_matches('/').to_owned(), parsed))
            })
            .collect();
        let connect = timeouts.connect;
        let http = {
            let (tls, proxies) = (tls.clone(), proxies.clone());
            PerThread::new(move || client::build(&tls, trusted.clone(), proxies.clone(), connect))
        };
        // No proxy: the policy must see the address actually connected to.
        let guarded = {
            let tls = tls.clone();
            PerThread::new(move || client::build(&tls, guarded.clone(), None, connect))
        };
        Self {
            http,
            guarded,
            proxies,
            bases: Bases::new(egress.clone()),
            egress,
            operator_bases,
            access_tokens: Mutex::new(HashMap::new()),
            discovered: discovery::Discovered::default(),
            timeouts,
        }
    }

    /// Adds the credential the way the contract says the provider expects it.
    async fn authorize(
        &self,
        target: Target<'_>,
        http: &mut HttpRequest,
        authority: &str,
    ) -> Result<(), WireError> {
        let key = target.key;
        match target.contract.authorization(key.secret.expose_secret())? {
            Authorization::ServiceAccount(account) => {
                let token = self.access_token(target.provider(), key, &account).await?;
                http.headers.push(Authorization::bearer(&token));
            }
            other => other.apply(http, authority, unix_now()),
        }
        Ok(())
    }

    /// A service-account access token (Vertex) for the key, from the cache or a fresh
    /// exchange.
    async fn access_token(
        &self,
        provider: &'static str,
        key: &LeasedKey,
        account: &ServiceAccountKey<'_>,
    ) -> Result<String, WireError> {
        let now = unix_now();
        let version = secret_hash(key.secret.expose_secret());
        if let Some(cached) = self
            .access_tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key.id)
            .filter(|c| c.secret_hash == version && c.token.refresh_at > now)
        {
            return Ok(cached.token.token.clone());
        }
        let exchange = account.parse()?.token_request(now)?;
        // The token URI comes from the key file: a destination the user supplied.
        let uri = token_uri(&exchange.path).ok_or_else(|| {
            WireError::from_status(
                provider,
                401,
                "invalid_service_account",
                "token_uri is not a URL",
            )
        })?;
        self.egress
            .check_host(uri.host().unwrap_or_default())
            .map_err(|refused| egress::refused_error(provider, &refused))?;
        let outgoing = send::Outgoing {
            method: http::Method::POST,
            uri,
            headers: &exchange.headers,
            body: bytes::Bytes::from(exchange.body),
            proxy_auth: None,
        };
        let deadline = tokio::time::Instant::now() + self.timeouts.first_byte;
        let response = outgoing
            .send(&self.guarded.get(), provider, deadline)
            .await
            .ok_or_else(|| {
                WireError::from_status(
                    provider,
                    504,
                    "unreachable",
                    format!("cannot reach {provider}: the token exchange did not answer in time"),
                )
            })??;
        let status = response.status().as_u16();
        let body = body::read_prefix(response, body::MAX_ERROR_BYTES, deadline).await;
        let token = parse_token_response(status, &body, now).map_err(scrubbed)?;
        let value = token.token.clone();
        self.access_tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                key.id.clone(),
                CachedToken {
                    secret_hash: version,
                    token,
                },
            );
        Ok(value)
    }

    /// Sends the request and returns the response once its headers arrived with a 2xx.
    async fn send(
        &self,
        target: Target<'_>,
        request: &pb::ChatRequest,
        stream: bool,
    ) -> Result<body::Response, WireError> {
        let http = target
            .contract
            .chat_request(request, target.model, stream)?;
        self.send_http(target, http).await
    }

    /// Sends `http` and parses the whole answer with `parse`, within `deadline`.
    async fn fetch<T>(
        &self,
        target: Target<'_>,
        http: HttpRequest,
        deadline: Duration,
        parse: impl FnOnce(u16, &[u8]) -> Result<T, WireError>,
    ) -> Result<T, WireError> {
        let call = async {
            let response = self.send_http(target, http).await?;
            let status = response.status().as_u16();
            let body =
                body::read_capped(response, body::MAX_ANSWER_BYTES, target.provider()).await?;
            parse(status, &body).map_err(scrubbed)
        };
        tokio::time::timeout(deadline, call).await.map_err(|_| {
            WireError::from_status(
                target.provider(),
                504,
                "timeout",
                "the call took longer than allowed",
            )
        })?
    }

    /// One non-streaming call.
    pub async fn complete(
        &self,
        target: Target<'_>,
        request: &pb::ChatRequest,
    ) -> Result<pb::ChatResponse, WireError> {
        let contract = &target.contract;
        let http = contract.chat_request(request, target.model, false)?;
        self.fetch(target, http, self.timeouts.total, |status, body| {
            contract.parse_response(status, body)
        })
        .await
    }

    /// The provider's exact count of the request's input tokens, with the target's key.
    pub async fn count_tokens(
        &self,
        target: Target<'_>,
        request: &pb::ChatRequest,
    ) -> Result<u32, WireError> {
        let contract = &target.contract;
        let http = contract.count_tokens_request(request, target.model)?;
        let deadline = self.timeouts.first_byte;
        self.fetch(target, http, deadline, |status, body| {
            contract.parse_count_tokens(status, body)
        })
        .await
    }

    /// One streaming call: the canonical events, decoded chunk by chunk as the body arrives.
    pub async fn stream(
        &self,
        target: Target<'_>,
        request: &pb::ChatRequest,
    ) -> Result<EventStream, WireError> {
        let response = self.send(target, request, true).await?;
        Ok(stream::decode(
            response,
            target.contract.decoder(),
            target.provider(),
            self.timeouts.between_chunks,
            self.timeouts.total,
        ))
    }
}
