//! Calling a provider with one key: the wire request for the candidate's format, the base URL
//! (an override, the credential's own endpoint, or the registry default), the credential
//! applied as that provider expects (header, SigV4, cached Vertex access token), one pooled
//! HTTP client, and the answer parsed or its stream decoded chunk by chunk.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use futures::{Stream, StreamExt};
use keyroute_wire::canonical::{StreamDecoder, StreamEvent, pb};
use keyroute_wire::error::{WireError, parse_retry_after};
use keyroute_wire::http::HttpRequest;
use keyroute_wire::registry::{AuthScheme, Provider, WireFormat};
use keyroute_wire::sigv4::Credentials;
use keyroute_wire::vertex::{AccessToken, ServiceAccount, parse_token_response};
use keyroute_wire::{anthropic, bedrock, gemini, openai};
use secrecy::ExposeSecret;
use serde_json::Value;

use crate::candidates::Candidate;
use crate::leases::LeasedKey;

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

/// The HTTP side of the router: one client for every provider.
#[derive(Debug)]
pub struct Upstreams {
    http: reqwest::Client,
    /// Provider id -> base URL, replacing the registry default (tests, proxies, regions).
    base_urls: HashMap<String, String>,
    vertex_tokens: Mutex<HashMap<String, AccessToken>>,
    pub timeouts: Timeouts,
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn config_error(provider: &'static str, message: String) -> WireError {
    // A credential whose configuration cannot be used: this key will not work; try another.
    let mut error = WireError::from_status(provider, 401, "invalid_credential", message);
    error.retryable = true;
    error
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
            vertex_tokens: Mutex::new(HashMap::new()),
            timeouts,
        })
    }

    /// The base URL for a key: an override, then the credential's own endpoint, then the
    /// registry default with the credential's region or location filled in.
    fn base_url(&self, provider: &Provider, key: &LeasedKey) -> Result<String, WireError> {
        if let Some(url) = self.base_urls.get(provider.id) {
            return Ok(url.trim_end_matches('/').to_owned());
        }
        let from_config = |field: &str| {
            key.config.get(field).cloned().ok_or_else(|| {
                config_error(
                    provider.id,
                    format!("credential {} has no {field}", key.fingerprint),
                )
            })
        };
        match provider.id {
            "azure" => from_config("endpoint"),
            "custom" => from_config("base_url"),
            "bedrock" => Ok(provider
                .base_url
                .replace("{region}", &from_config("region")?)),
            "vertex" => Ok(format!(
                "https://{}",
                keyroute_wire::vertex::host(&from_config("location")?)
            )),
            _ => Ok(provider.base_url.to_owned()),
        }
    }

    /// The wire request for `candidate`, without credentials.
    fn build(
        &self,
        candidate: &Candidate<'_>,
        request: &pb::ChatRequest,
        stream: bool,
    ) -> Result<HttpRequest, WireError> {
        let model = candidate.upstream_model.as_str();
        let config = |field: &str| {
            candidate
                .key
                .config
                .get(field)
                .map(String::as_str)
                .unwrap_or_default()
        };
        if let Some(fim) = keyroute_wire::mistral::FimRequest::from_chat(request, stream) {
            if candidate.provider.id != "mistral" {
                return Err(WireError::from_status(
                    candidate.provider.id,
                    400,
                    "invalid_request_error",
                    format!(
                        "fill-in-the-middle is served by Mistral's Codestral models; {} has no FIM endpoint",
                        candidate.provider.id
                    ),
                ));
            }
            return Ok(keyroute_wire::mistral::build_fim_request(&fim, model));
        }
        match candidate.provider.format {
            WireFormat::OpenAiChat(quirks) => openai::build_request(
                request,
                model,
                stream,
                openai::Endpoint::ChatCompletions,
                quirks,
            ),
            WireFormat::AzureOpenAi => openai::build_request(
                request,
                model,
                stream,
                openai::Endpoint::Azure {
                    deployment: config("deployment"),
                    api_version: config("api_version"),
                },
                openai::Quirks::OPENAI,
            ),
            WireFormat::Anthropic => {
                anthropic::build_request(request, model, stream, anthropic::Flavor::Direct)
            }
            WireFormat::Gemini => {
                gemini::build_request(request, model, stream, gemini::Flavor::AiStudio)
            }
            WireFormat::Vertex if vertex_anthropic(candidate) => anthropic::build_request(
                request,
                model,
                stream,
                anthropic::Flavor::Vertex {
                    project: config("project_id"),
                    region: config("location"),
                },
            ),
            WireFormat::Vertex => gemini::build_request(
                request,
                model,
                stream,
                gemini::Flavor::Vertex {
                    project: config("project_id"),
                    location: config("location"),
                },
            ),
            WireFormat::Bedrock => bedrock::build_request(request, model, stream),
        }
    }

    /// Adds the credential the way the provider expects it.
    async fn authorize(
        &self,
        candidate: &Candidate<'_>,
        http: &mut HttpRequest,
        authority: &str,
    ) -> Result<(), WireError> {
        let key = candidate.key;
        let provider = candidate.provider.id;
        let secret = key.secret.expose_secret();
        match candidate.provider.auth {
            AuthScheme::Bearer => http
                .headers
                .push(("authorization", format!("Bearer {secret}"))),
            AuthScheme::Header(name) => http.headers.push((name, secret.to_owned())),
            AuthScheme::Optional => {
                let parsed: Value = serde_json::from_str(secret).unwrap_or(Value::Null);
                let bearer = parsed
                    .get("apiKey")
                    .or_else(|| parsed.get("authToken"))
                    .and_then(Value::as_str);
                if let Some(bearer) = bearer {
                    http.headers
                        .push(("authorization", format!("Bearer {bearer}")));
                }
            }
            AuthScheme::AwsSigV4OrBearer => {
                let region = key
                    .config
                    .get("region")
                    .map(String::as_str)
                    .unwrap_or("us-east-1");
                if key.config.get("auth").map(String::as_str) == Some("api_key") {
                    bedrock::authorize(http, "", region, bedrock::Auth::ApiKey(secret), unix_now());
                    return Ok(());
                }
                let parsed: Value = serde_json::from_str(secret)
                    .map_err(|_| config_error(provider, "bedrock credential is not JSON".into()))?;
                let field = |name: &str| parsed.get(name).and_then(Value::as_str);
                let (Some(access_key_id), Some(secret_access_key)) =
                    (field("accessKeyId"), field("secretAccessKey"))
                else {
                    return Err(config_error(
                        provider,
                        "bedrock credential lacks its key pair".into(),
                    ));
                };
                let credentials = Credentials {
                    access_key_id,
                    secret_access_key,
                    session_token: field("sessionToken"),
                };
                bedrock::authorize(
                    http,
                    authority,
                    region,
                    bedrock::Auth::SigV4(credentials),
                    unix_now(),
                );
            }
            AuthScheme::GoogleServiceAccount => {
                let token = self.vertex_token(key).await?;
                http.headers
                    .push(("authorization", format!("Bearer {token}")));
            }
        }
        Ok(())
    }

    /// A Vertex access token for the key, from the cache or a fresh exchange.
    async fn vertex_token(&self, key: &LeasedKey) -> Result<String, WireError> {
        let now = unix_now();
        if let Some(token) = self
            .vertex_tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key.id)
            .filter(|t| t.refresh_at > now)
        {
            return Ok(token.token.clone());
        }
        let account = ServiceAccount::from_json(key.secret.expose_secret())?;
        let exchange = account.token_request(now)?;
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
            .map_err(|error| connect_error("vertex", &error))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|error| connect_error("vertex", &error))?;
        let token = parse_token_response(status, &body, now)?;
        let value = token.token.clone();
        self.vertex_tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.id.clone(), token);
        Ok(value)
    }

    /// Sends the request and returns the response once its headers arrived with a 2xx.
    async fn send(
        &self,
        candidate: &Candidate<'_>,
        request: &pb::ChatRequest,
        stream: bool,
    ) -> Result<reqwest::Response, WireError> {
        let http = self.build(candidate, request, stream)?;
        self.send_http(candidate, http).await
    }

    /// Sends a built wire request with the candidate's base URL and credential.
    async fn send_http(
        &self,
        candidate: &Candidate<'_>,
        mut http: HttpRequest,
    ) -> Result<reqwest::Response, WireError> {
        let provider = candidate.provider.id;
        let base_url = self.base_url(candidate.provider, candidate.key)?;
        let base = reqwest::Url::parse(&base_url).map_err(|_| {
            config_error(
                provider,
                format!("{provider} base url {base_url:?} is not a URL"),
            )
        })?;
        let authority = match base.port() {
            Some(port) => format!("{}:{port}", base.host_str().unwrap_or_default()),
            None => base.host_str().unwrap_or_default().to_owned(),
        };
        // The full path as sent, base path included: SigV4 signs exactly this.
        http.path = format!("{}{}", base.path().trim_end_matches('/'), http.path);
        self.authorize(candidate, &mut http, &authority).await?;
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
        let mut error = parse_error(candidate, status, error_type.as_deref(), &body);
        error.retry_after = error.retry_after.or(retry_after);
        Err(error)
    }

    /// Sends `http` and parses the whole answer with `parse`, within `deadline`.
    async fn fetch<T>(
        &self,
        candidate: &Candidate<'_>,
        http: HttpRequest,
        deadline: Duration,
        parse: impl FnOnce(u16, &[u8]) -> Result<T, WireError>,
    ) -> Result<T, WireError> {
        let call = async {
            let response = self.send_http(candidate, http).await?;
            let status = response.status().as_u16();
            let body = response
                .bytes()
                .await
                .map_err(|error| connect_error(candidate.provider.id, &error))?;
            parse(status, &body)
        };
        tokio::time::timeout(deadline, call).await.map_err(|_| {
            WireError::from_status(
                candidate.provider.id,
                504,
                "timeout",
                "the call took longer than allowed",
            )
        })?
    }

    /// One non-streaming call.
    pub async fn complete(
        &self,
        candidate: &Candidate<'_>,
        request: &pb::ChatRequest,
    ) -> Result<pb::ChatResponse, WireError> {
        let http = self.build(candidate, request, false)?;
        self.fetch(candidate, http, self.timeouts.total, |status, body| {
            parse_response(candidate, status, body)
        })
        .await
    }

    /// Anthropic's exact count of the request's input tokens, with the candidate's key.
    pub async fn count_tokens(
        &self,
        candidate: &Candidate<'_>,
        request: &pb::ChatRequest,
    ) -> Result<u32, WireError> {
        let http =
            anthropic::build_count_tokens_request(request, candidate.upstream_model.as_str())?;
        let deadline = self.timeouts.first_byte;
        self.fetch(candidate, http, deadline, anthropic::parse_count_tokens)
            .await
    }

    /// One streaming call: the canonical events, decoded chunk by chunk as the body arrives.
    pub async fn stream(
        &self,
        candidate: &Candidate<'_>,
        request: &pb::ChatRequest,
    ) -> Result<EventStream, WireError> {
        let response = self.send(candidate, request, true).await?;
        let provider = candidate.provider.id;
        let decoder = decoder(candidate);
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

fn vertex_anthropic(candidate: &Candidate<'_>) -> bool {
    candidate.offer.is_some_and(|o| o.format == "anthropic")
        || candidate.upstream_model.starts_with("claude")
}

fn parse_response(
    candidate: &Candidate<'_>,
    status: u16,
    body: &[u8],
) -> Result<pb::ChatResponse, WireError> {
    match candidate.provider.format {
        WireFormat::OpenAiChat(_) | WireFormat::AzureOpenAi => openai::parse_response(status, body),
        WireFormat::Anthropic => anthropic::parse_response(status, body),
        WireFormat::Vertex if vertex_anthropic(candidate) => {
            anthropic::parse_response(status, body)
        }
        WireFormat::Gemini | WireFormat::Vertex => gemini::parse_response(status, body),
        WireFormat::Bedrock => bedrock::parse_response(status, None, body),
    }
}

fn parse_error(
    candidate: &Candidate<'_>,
    status: u16,
    error_type: Option<&str>,
    body: &[u8],
) -> WireError {
    match candidate.provider.format {
        WireFormat::OpenAiChat(_) | WireFormat::AzureOpenAi => openai::parse_error(status, body),
        WireFormat::Anthropic => anthropic::parse_error(status, body),
        // Vertex's own refusals use the Google envelope, the model's the Anthropic one.
        WireFormat::Vertex if vertex_anthropic(candidate) && body.starts_with(b"{\"type\"") => {
            anthropic::parse_error(status, body)
        }
        WireFormat::Gemini | WireFormat::Vertex => gemini::parse_error(status, body),
        WireFormat::Bedrock => bedrock::parse_error(status, error_type, body),
    }
}

fn decoder(candidate: &Candidate<'_>) -> Box<dyn StreamDecoder + Send> {
    match candidate.provider.format {
        WireFormat::OpenAiChat(_) | WireFormat::AzureOpenAi => {
            Box::new(openai::OpenAiStreamDecoder::new())
        }
        WireFormat::Anthropic => Box::new(anthropic::AnthropicStreamDecoder::new()),
        WireFormat::Vertex if vertex_anthropic(candidate) => {
            Box::new(anthropic::AnthropicStreamDecoder::new())
        }
        WireFormat::Gemini | WireFormat::Vertex => Box::new(gemini::GeminiStreamDecoder::new()),
        WireFormat::Bedrock => Box::new(bedrock::BedrockStreamDecoder::new()),
    }
}
