//! A fake upstream for every provider keyroute speaks, on one loopback port: each provider
//! lives under `/{provider-id}/`, speaks that provider's exact wire format, checks auth the
//! way the provider does (API keys, SigV4 signatures against stored AWS credentials, Vertex
//! service-account JWTs exchanged for access tokens) and answers auth failures in the
//! provider's own error shape. Answers are deterministic and describe what the request
//! carried; faults (status codes, latency, resets) can be set per key or per request with an
//! `x-mock-fault` header; every request is recorded for assertions.
//!
//! # Usage: a fixed rule to test against
//!
//! Input is one token per word of text the request carried (at least 1); output one per
//! word of the answer's text (at least 1), plus 5 for a tool call. Two words change that:
//!
//! - **Cache** — when the last user text contains [`MOCK_CACHE_WORD`] (`mock-cache`), of the
//!   input ([`CACHE_READ_TOKENS`] + [`CACHE_WRITE_TOKENS`] at least) [`CACHE_READ_TOKENS`]
//!   (4) were read from the cache and [`CACHE_WRITE_TOKENS`] (2) written to it; of those
//!   written, [`CACHE_WRITE_1H_TOKENS`] (1) with a 1-hour lifetime when the request carried
//!   a cache hint with `ttl: "1h"` (else 0).
//! - **Reasoning** — when the request turned thinking on, [`REASONING_TOKENS`] (3) more
//!   output tokens were spent thinking (the three words of "Thinking about it.").
//!
//! Each provider reports these in its own fields, by its own rule, so that keyroute's
//! canonical usage comes out as: input N (cache included), `cache_read_tokens` 4,
//! `cache_write_tokens` 2, `cache_write_1h_tokens` 1 or 0, output M (reasoning included),
//! `reasoning_tokens` 3.
//!
//! | Provider | Input | Cache | Reasoning |
//! |---|---|---|---|
//! | OpenAI chat, Azure, Mistral, compatible hosts | `prompt_tokens` N | `prompt_tokens_details.cached_tokens` 4, `.cache_write_tokens` 2 | inside `completion_tokens`; `completion_tokens_details.reasoning_tokens` 3 |
//! | OpenAI Responses | `input_tokens` N | `input_tokens_details.cached_tokens` 4, `.cache_write_tokens` 2 | inside `output_tokens`; `output_tokens_details.reasoning_tokens` 3 |
//! | Anthropic (direct, Vertex) | `input_tokens` N − 6 | `cache_read_input_tokens` 4, `cache_creation_input_tokens` 2, `cache_creation.ephemeral_1h_input_tokens` 1 or 0 | inside `output_tokens`; `output_tokens_details.thinking_tokens` 3 |
//! | Gemini, Vertex Gemini | `promptTokenCount` N | `cachedContentTokenCount` 4; no writes (Gemini reports none, so canonical writes are 0) | apart: `thoughtsTokenCount` 3, `candidatesTokenCount` M − 3 |
//! | Bedrock Converse | `inputTokens` N − 6 | `cacheReadInputTokens` 4, `cacheWriteInputTokens` 2, `cacheDetails` by TTL | inside `outputTokens`; no counter (canonical reasoning 0) |
//!
//! Anthropic streams give the input side in `message_start` and everything, cumulatively, in
//! `message_delta`. OpenAI chat streams report usage only when asked
//! (`stream_options.include_usage`); Mistral always does.
//!
//! # JSON answers
//!
//! A request asking for JSON (JSON mode, or a JSON schema, in the provider's own shape) gets
//! JSON: `{"echo": "<last user text>"}` for JSON mode, and for a schema a value that
//! validates, each string reading `echo: <last user text> [format=json_schema]` (see
//! [`JsonAsk`]). A tool call still wins over JSON; requests not asking for JSON get prose.

mod answer;
mod anthropic;
mod bedrock;
mod embeddings;
mod fault;
mod gemini;
mod json_answer;
mod models;
mod openai;
mod respond;
mod responses;
mod vertex;

pub use answer::{
    CACHE_READ_TOKENS, CACHE_WRITE_1H_TOKENS, CACHE_WRITE_TOKENS, Input, MOCK_CACHE_WORD,
    REASONING_TOKENS, SIGNATURE_PREFIX,
};
pub use embeddings::{default_dimensions, embedding, tokens as embedding_tokens};
pub use fault::Fault;
pub use json_answer::JsonAsk;
pub use models::UNCATALOGED;

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, Method, Uri};
use keyroute_wire::registry::{self, Provider, WireFormat};

/// One request as the mock received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub provider: String,
    pub method: String,
    /// Path below the provider prefix, with the query.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

#[derive(Default)]
struct MockState {
    keys: Mutex<HashMap<String, HashSet<String>>>,
    aws: Mutex<HashMap<String, String>>,
    service_accounts: Mutex<HashMap<String, Vec<u8>>>,
    vertex_tokens: Mutex<HashSet<String>>,
    faults: Mutex<HashMap<String, Fault>>,
    /// Per key, the requests a `pass_first` fault has let through so far.
    passed: Mutex<HashMap<String, u64>>,
    recorded: Mutex<VecDeque<Recorded>>,
    /// Keys starting with one of these are valid for every provider (`keyroute dev --mock`).
    accepted_prefixes: Mutex<Vec<String>>,
    /// Ids of Responses answers kept (`store` not false), oldest first.
    kept_responses: Mutex<VecDeque<String>>,
    /// Each key's model list, where a test set one (`Mock::set_models`).
    model_lists: models::ModelLists,
    next_id: AtomicU64,
}

/// The most requests kept for assertions; older ones are dropped, so a long-running mock
/// (`keyroute dev --mock`, benchmarks) keeps a bounded memory.
const MAX_RECORDED: usize = 10_000;

/// The most Responses ids kept for `previous_response_id`.
const MAX_KEPT_RESPONSES: usize = 10_000;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// The mock's configuration and records, shared with its server. Cheap to clone.
#[derive(Clone, Default)]
pub struct Mock(Arc<MockState>);

impl std::fmt::Debug for Mock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mock").finish_non_exhaustive()
    }
}

impl Mock {
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepts `key` for `provider` (API keys, bearer tokens, Bedrock API keys).
    pub fn add_key(&self, provider: &str, key: &str) {
        lock(&self.0.keys)
            .entry(provider.to_owned())
            .or_default()
            .insert(key.to_owned());
    }

    /// Accepts, for every provider, any key that starts with `prefix`: a demo mock that
    /// takes whatever keys people add, yet still refuses others.
    pub fn accept_prefix(&self, prefix: &str) {
        lock(&self.0.accepted_prefixes).push(prefix.to_owned());
    }

    /// Accepts SigV4 signatures made with this AWS key pair.
    pub fn add_aws_credentials(&self, access_key_id: &str, secret_access_key: &str) {
        lock(&self.0.aws).insert(access_key_id.to_owned(), secret_access_key.to_owned());
    }

    /// Accepts JWT assertions from this service account (its RSA public key, PKCS#1 DER).
    pub fn add_service_account(&self, client_email: &str, public_key: &[u8]) {
        lock(&self.0.service_accounts).insert(client_email.to_owned(), public_key.to_vec());
    }

    /// Applies `fault` to every request made with `key`.
    pub fn set_fault(&self, key: &str, fault: Fault) {
        lock(&self.0.passed).remove(key);
        lock(&self.0.faults).insert(key.to_owned(), fault);
    }

    pub fn clear_fault(&self, key: &str) {
        lock(&self.0.faults).remove(key);
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.0.recorded).iter().cloned().collect()
    }

    /// Requests received for one provider.
    pub fn requests_for(&self, provider: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.provider == provider)
            .collect()
    }

    fn has_key(&self, provider: &str, key: &str) -> bool {
        lock(&self.0.keys)
            .get(provider)
            .is_some_and(|keys| keys.contains(key))
            || lock(&self.0.accepted_prefixes)
                .iter()
                .any(|prefix| key.starts_with(prefix.as_str()))
    }

    fn aws_secret(&self, access_key_id: &str) -> Option<String> {
        lock(&self.0.aws).get(access_key_id).cloned()
    }

    fn service_account(&self, email: &str) -> Option<Vec<u8>> {
        lock(&self.0.service_accounts).get(email).cloned()
    }

    fn issue_vertex_token(&self) -> String {
        let token = format!("ya29.mock-{}", self.next_id());
        lock(&self.0.vertex_tokens).insert(token.clone());
        token
    }

    fn has_vertex_token(&self, token: &str) -> bool {
        lock(&self.0.vertex_tokens).contains(token)
    }

    fn fault_for(&self, key: &str) -> Fault {
        let Some(fault) = lock(&self.0.faults).get(key).cloned() else {
            return Fault::default();
        };
        if fault.pass_first > 0 {
            let mut passed = lock(&self.0.passed);
            let count = passed.entry(key.to_owned()).or_default();
            if *count < fault.pass_first {
                *count += 1;
                return Fault::default();
            }
        }
        fault
    }

    fn next_id(&self) -> u64 {
        self.0.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Keeps a Responses answer's id, as OpenAI does when `store` is not false.
    fn keep_response(&self, id: &str) {
        let mut kept = lock(&self.0.kept_responses);
        if kept.len() >= MAX_KEPT_RESPONSES {
            kept.pop_front();
        }
        kept.push_back(id.to_owned());
    }

    /// Whether a Responses answer with this id was kept.
    fn has_response(&self, id: &str) -> bool {
        lock(&self.0.kept_responses).iter().any(|kept| kept == id)
    }
}

/// A running mock on a loopback port.
#[derive(Debug)]
pub struct MockServer {
    pub addr: SocketAddr,
    pub mock: Mock,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl MockServer {
    /// Serves `mock` on `127.0.0.1:0`.
    pub async fn start(mock: Mock) -> std::io::Result<Self> {
        Self::start_on(mock, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    pub async fn start_on(mock: Mock, addr: SocketAddr) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let app = Router::new().fallback(dispatch).with_state(mock.clone());
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            // Like a provider's front end: small writes leave at once.
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let served = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stop.await;
            });
            if let Err(error) = served.await {
                tracing::warn!(%error, "mock server stopped");
            }
        });
        Ok(Self {
            addr,
            mock,
            shutdown: Some(shutdown),
            task: Some(task),
        })
    }

    /// The base URL keyroute should use for `provider` (what its registry base URL would be).
    pub fn base_url(&self, provider: &str) -> String {
        let root = format!("http://{}/{provider}", self.addr);
        match registry::provider(provider).map(|p| p.format) {
            Some(WireFormat::OpenAiChat(_)) => format!("{root}/v1"),
            _ => root,
        }
    }

    /// The token endpoint for Vertex service accounts (their `token_uri`).
    pub fn vertex_token_uri(&self) -> String {
        format!("http://{}/vertex/token", self.addr)
    }

    pub async fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// One request on its way to a provider handler.
pub(crate) struct Call {
    pub mock: Mock,
    pub provider: &'static Provider,
    /// The path below the provider prefix, without the query.
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Call {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The bearer token of `Authorization`.
    pub fn bearer(&self) -> Option<&str> {
        self.header("authorization").and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
    }

    /// The fault for this request: the `x-mock-fault` header, else the key's.
    pub fn fault(&self, key: &str) -> Result<Fault, String> {
        match self.header("x-mock-fault") {
            Some(text) => Fault::parse(text),
            None => Ok(self.mock.fault_for(key)),
        }
    }
}

async fn dispatch(
    State(mock): State<Mock>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let full = uri.path().trim_start_matches('/');
    let (prefix, rest) = full.split_once('/').unwrap_or((full, ""));
    let query = uri.query().unwrap_or_default().to_owned();
    {
        let mut recorded = lock(&mock.0.recorded);
        if recorded.len() >= MAX_RECORDED {
            recorded.pop_front();
        }
        recorded.push_back(Recorded {
            provider: prefix.to_owned(),
            method: method.to_string(),
            path: if query.is_empty() {
                format!("/{rest}")
            } else {
                format!("/{rest}?{query}")
            },
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_owned()))
                .collect(),
            body: body.to_vec(),
        });
    }
    let Some(provider) = registry::provider(prefix) else {
        return respond::json(404, br#"{"error":"no such mock provider"}"#.to_vec());
    };
    let call = Call {
        mock,
        provider,
        path: format!("/{rest}"),
        query,
        headers,
        body,
    };
    if method == Method::GET {
        return models::list(call).await;
    }
    if method != Method::POST {
        return respond::json(
            405,
            br#"{"error":"the mock serves POST and GET only"}"#.to_vec(),
        );
    }
    match provider.format {
        WireFormat::OpenAiChat(_)
            if call.path.ends_with("/fim/completions") && provider.id == "mistral" =>
        {
            openai::fim(call).await
        }
        WireFormat::OpenAiChat(_) if call.path == "/v1/responses" && provider.id == "openai" => {
            responses::create(call).await
        }
        WireFormat::AzureOpenAi if call.path == "/openai/v1/responses" => {
            responses::create(call).await
        }
        WireFormat::OpenAiChat(_) | WireFormat::AzureOpenAi
            if call.path.ends_with("/embeddings") =>
        {
            embeddings::openai(call).await
        }
        WireFormat::Gemini if call.path.ends_with(":batchEmbedContents") => {
            embeddings::ai_studio(call).await
        }
        WireFormat::Vertex
            if call.path.ends_with(":predict")
                && call
                    .bearer()
                    .is_some_and(|token| call.mock.has_vertex_token(token)) =>
        {
            embeddings::vertex(call).await
        }
        WireFormat::Bedrock
            if call.path.starts_with("/model/") && call.path.ends_with("/invoke") =>
        {
            embeddings::bedrock(call).await
        }
        WireFormat::OpenAiChat(_) | WireFormat::AzureOpenAi
            if call.path.ends_with("/chat/completions") =>
        {
            openai::chat(call).await
        }
        WireFormat::Anthropic if call.path == "/v1/messages/count_tokens" => {
            anthropic::count_tokens(call).await
        }
        WireFormat::Anthropic if call.path == "/v1/messages" => {
            anthropic::messages(call, None).await
        }
        WireFormat::Gemini if call.path.starts_with("/v1beta/models/") => {
            gemini::generate(call, false).await
        }
        WireFormat::Vertex => vertex::route(call).await,
        WireFormat::Bedrock if call.path.starts_with("/model/") => bedrock::converse(call).await,
        _ => respond::json(
            404,
            br#"{"error":"no such route for this provider"}"#.to_vec(),
        ),
    }
}
