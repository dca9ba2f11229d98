//! Calling a provider with one key, I/O only: the target's contract (`keyroute_wire::contract`)
//! says what to send, where, how to authenticate and how to read the answer; this module
//! sends it within deadlines and size bounds, signs with the inputs the contract gives,
//! caches Vertex access tokens, and decodes streams chunk by chunk as they arrive.
//!
//! Two pooled clients: one for destinations the registry or the operator set (trusted), one
//! for destinations a user supplied (a custom base URL, an Azure endpoint, a Vertex token
//! URI), whose every connection passes the egress policy. Neither follows redirects: a 3xx
//! is an upstream error.

mod body;
mod discovery;
mod egress;
mod embed;
mod models;
mod stream;

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use keyroute_egress::EgressPolicy;
use keyroute_wire::canonical::pb;
use keyroute_wire::contract::{Authorization, Contract, ServiceAccountKey};
use keyroute_wire::error::{WireError, parse_retry_after, scrub};
use keyroute_wire::http::HttpRequest;
use keyroute_wire::vertex::{AccessToken, parse_token_response};
use secrecy::ExposeSecret;

use crate::cache::leases::LeasedKey;

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

/// A provider's error text made fit for a client: credentials scrubbed, length bounded.
fn scrubbed(mut error: WireError) -> WireError {
    error.message = scrub(&error.message);
    error
}

/// The HTTP side of the router: the pooled clients for every provider.
#[derive(Debug)]
pub struct Upstreams {
    /// For the registry's and the operator's destinations.
    http: reqwest::Client,
    /// For destinations users supplied: every address passes `egress`.
    guarded: reqwest::Client,
    egress: Arc<EgressPolicy>,
    /// Provider id -> base URL, replacing the registry default (tests, proxies, regions).
    base_urls: HashMap<String, String>,
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

fn connect_error(provider: &'static str, error: &reqwest::Error) -> WireError {
    if let Some(refused) = egress::refusal(error) {
        return egress::refused_error(provider, refused);
    }
    let status = if error.is_timeout() { 504 } else { 502 };
    WireError::from_status(
        provider,
        status,
        "unreachable",
        format!("cannot reach {provider}: {error}"),
    )
}

fn client(
    timeouts: Timeouts,
    resolver: Option<egress::GuardedResolver>,
) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .tls_backend_rustls()
        .connect_timeout(timeouts.connect)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none());
    if let Some(resolver) = resolver {
        // No proxy either: the policy must see the address actually connected to.
        builder = builder.no_proxy().dns_resolver(Arc::new(resolver));
    }
    builder
        .build()
        .map_err(|error| format!("cannot build the http client: {error}"))
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
        let egress = Arc::new(egress);
        let resolver = egress::GuardedResolver {
            policy: egress.clone(),
        };
        Ok(Self {
            http: client(timeouts, None)?,
            guarded: client(timeouts, Some(resolver))?,
            egress,
            base_urls,
            access_tokens: Mutex::new(HashMap::new()),
            discovered: discovery::Discovered::default(),
            timeouts,
        })
    }

    /// The base URL for a key, and whether a user supplied it: the operator's override
    /// (trusted), else what the contract says.
    fn base_url(&self, target: Target<'_>) -> Result<(String, bool), WireError> {
        match self.base_urls.get(target.provider()) {
            Some(url) => Ok((url.trim_end_matches('/').to_owned(), false)),
            None => Ok((
                target.contract.base_url(&target.key.fingerprint)?,
                target.contract.user_supplied_destination(),
            )),
        }
    }

    /// The client for a destination, once an address literal or `localhost` in it passed
    /// the policy (names are checked on the addresses they resolve to).
    fn client_for(
        &self,
        provider: &'static str,
        url: &reqwest::Url,
        user_supplied: bool,
    ) -> Result<&reqwest::Client, WireError> {
        if !user_supplied {
            return Ok(&self.http);
        }
        egress::check_literal(&self.egress, url)
            .map_err(|refused| egress::refused_error(provider, &refused))?;
        Ok(&self.guarded)
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
        let uri = reqwest::Url::parse(&exchange.path).map_err(|_| {
            WireError::from_status(
                provider,
                401,
                "invalid_service_account",
                "token_uri is not a URL",
            )
        })?;
        let mut builder = self
            .client_for(provider, &uri, true)?
            .post(uri)
            .body(exchange.body)
            .timeout(self.timeouts.first_byte);
        for (name, value) in &exchange.headers {
            builder = builder.header(*name, value);
        }
        let response = builder
            .send()
            .await
            .map_err(|error| connect_error(provider, &error))?;
        let status = response.status().as_u16();
        let deadline = tokio::time::Instant::now() + self.timeouts.first_byte;
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
    ) -> Result<reqwest::Response, WireError> {
        let http = target
            .contract
            .chat_request(request, target.model, stream)?;
        self.send_http(target, http).await
    }

    /// Sends a built wire request with the target's base URL and credential.
    async fn send_http(
        &self,
        target: Target<'_>,
        mut http: HttpRequest,
    ) -> Result<reqwest::Response, WireError> {
        let provider = target.provider();
        let (base_url, user_supplied) = self.base_url(target)?;
        let base = reqwest::Url::parse(&base_url).map_err(|_| {
            let mut error = WireError::from_status(
                provider,
                401,
                "invalid_credential",
                format!("{provider} base url {base_url:?} is not a URL"),
            );
            // This key's endpoint is unusable; another key may work.
            error.retryable = true;
            error
        })?;
        let authority = match base.port() {
            Some(port) => format!("{}:{port}", base.host_str().unwrap_or_default()),
            None => base.host_str().unwrap_or_default().to_owned(),
        };
        // The full path as sent, base path included: SigV4 signs exactly this.
        http.path = format!("{}{}", base.path().trim_end_matches('/'), http.path);
        self.authorize(target, &mut http, &authority).await?;
        let url = format!("{}://{authority}{}", base.scheme(), http.path);
        // POST for calls, GET for model lists: whatever the contract built.
        let method =
            reqwest::Method::from_bytes(http.method.as_bytes()).unwrap_or(reqwest::Method::POST);
        let mut builder = self
            .client_for(provider, &base, user_supplied)?
            .request(method, &url)
            .body(http.body);
        for (name, value) in &http.headers {
            builder = builder.header(*name, value);
        }
        // The answer's head, and an error's body, arrive within the first-byte deadline.
        let deadline = tokio::time::Instant::now() + self.timeouts.first_byte;
        let response = tokio::time::timeout_at(deadline, builder.send())
            .await
            .map_err(|_| {
                WireError::from_status(
                    provider,
                    504,
                    "timeout",
                    format!("{provider} did not answer in time"),
                )
            })?
            .map_err(|error| connect_error(provider, &error))?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(response);
        }
        if (300..400).contains(&status) {
            return Err(WireError::from_status(
                provider,
                502,
                "redirect_refused",
                format!(
                    "{provider} answered with a redirect ({status}), which keyroute does not follow"
                ),
            ));
        }
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let error_type = response
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = body::read_prefix(response, body::MAX_ERROR_BYTES, deadline).await;
        let mut error = target
            .contract
            .parse_error(status, error_type.as_deref(), &body);
        error.retry_after = error.retry_after.or(retry_after);
        Err(scrubbed(error))
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
