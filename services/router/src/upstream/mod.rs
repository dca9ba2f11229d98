//! Calling a provider with one key, I/O only: the target's contract (`keyroute_wire::contract`)
//! says what to send, where, how to authenticate and how to read the answer; this module
//! sends it with one pooled HTTP client, within deadlines, signs with the inputs the contract
//! gives, caches Vertex access tokens, and decodes streams chunk by chunk as they arrive.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use futures::{Stream, StreamExt};
use keyroute_wire::canonical::{StreamEvent, pb};
use keyroute_wire::contract::{Authorization, Contract, ServiceAccountKey};
use keyroute_wire::error::{WireError, parse_retry_after};
use keyroute_wire::http::HttpRequest;
use keyroute_wire::vertex::{AccessToken, parse_token_response};
use secrecy::ExposeSecret;

use crate::cache::leases::LeasedKey;

/// Canonical events from one upstream stream, decoded as the body arrives.
pub type EventStream = std::pin::Pin<Box<dyn Stream<Item = Result<StreamEvent, WireError>> + Send>>;

/// Deadlines for one upstream call.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    /// Until the response headers (and, for streams, the first bytes) arrive.
    pub first_byte: Duration,
    /// Between two stream chunks.
    pub between_chunks: Duration,
    /// For a whole non-streaming call.
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

/// The HTTP side of the router: one client for every provider.
#[derive(Debug)]
pub struct Upstreams {
    http: reqwest::Client,
    /// Provider id -> base URL, replacing the registry default (tests, proxies, regions).
    base_urls: HashMap<String, String>,
    /// Service-account access tokens by credential id, until shortly before they expire.
    access_tokens: Mutex<HashMap<String, AccessToken>>,
    pub timeouts: Timeouts,
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn connect_error(provider: &'static str, error: &reqwest::Error) -> WireError {
    let status = if error.is_timeout() { 504 } else { 502 };
    WireError::from_status(
        provider,
        status,
        "unreachable",
        format!("cannot reach {provider}: {error}"),
    )
}

impl Upstreams {
    pub fn new(base_urls: HashMap<String, String>, timeouts: Timeouts) -> Result<Self, String> {
        // One crypto provider for the whole process: ring, as everywhere in keyroute.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .tls_backend_rustls()
            .connect_timeout(timeouts.connect)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .build()
            .map_err(|error| format!("cannot build the http client: {error}"))?;
        Ok(Self {
            http,
            base_urls,
            access_tokens: Mutex::new(HashMap::new()),
            timeouts,
        })
    }

    /// The base URL for a key: the operator's override, else what the contract says.
    fn base_url(&self, target: Target<'_>) -> Result<String, WireError> {
        match self.base_urls.get(target.provider()) {
            Some(url) => Ok(url.trim_end_matches('/').to_owned()),
            None => target.contract.base_url(&target.key.fingerprint),
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
        if let Some(token) = self
            .access_tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key.id)
            .filter(|t| t.refresh_at > now)
        {
            return Ok(token.token.clone());
        }
        let exchange = account.parse()?.token_request(now)?;
        let mut builder = self
            .http
            .post(&exchange.path)
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
        let body = response
            .bytes()
            .await
            .map_err(|error| connect_error(provider, &error))?;
        let token = parse_token_response(status, &body, now)?;
        let value = token.token.clone();
        self.access_tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.id.clone(), token);
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
        let base_url = self.base_url(target)?;
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
        let mut builder = self.http.post(&url).body(http.body);
        for (name, value) in &http.headers {
            builder = builder.header(*name, value);
        }
        let response = tokio::time::timeout(self.timeouts.first_byte, builder.send())
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
        let body = response.bytes().await.unwrap_or_default();
        let mut error = target
            .contract
            .parse_error(status, error_type.as_deref(), &body);
        error.retry_after = error.retry_after.or(retry_after);
        Err(error)
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
            let body = response
                .bytes()
                .await
                .map_err(|error| connect_error(target.provider(), &error))?;
            parse(status, &body)
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
        let provider = target.provider();
        let decoder = target.contract.decoder();
        let between = self.timeouts.between_chunks;
        let body = response.bytes_stream();
        let state = (
            Box::pin(body),
            decoder,
            std::collections::VecDeque::<StreamEvent>::new(),
            false,
        );
        Ok(Box::pin(futures::stream::unfold(
            state,
            move |(mut body, mut decoder, mut pending, mut done)| async move {
                loop {
                    if let Some(event) = pending.pop_front() {
                        return Some((Ok(event), (body, decoder, pending, done)));
                    }
                    if done {
                        return None;
                    }
                    let mut out = Vec::new();
                    let next = tokio::time::timeout(between, body.next()).await;
                    let result = match next {
                        Err(_) => Err(WireError::from_status(
                            provider,
                            504,
                            "timeout",
                            "the stream stalled",
                        )),
                        Ok(Some(Ok(bytes))) => decoder.feed(&bytes, &mut out),
                        Ok(Some(Err(error))) => Err(WireError::truncated(
                            provider,
                            &format!("its end ({error})"),
                        )),
                        Ok(None) => {
                            done = true;
                            decoder.finish(&mut out)
                        }
                    };
                    pending.extend(out);
                    if let Err(error) = result {
                        done = true;
                        if pending.is_empty() {
                            return Some((Err(error), (body, decoder, pending, done)));
                        }
                        // Deliver what decoded before the failure, then the failure.
                        pending.push_back(keyroute_wire::canonical::error_event(error));
                    }
                }
            },
        )))
    }
}
