//! Every HTTP request's trace and its one access-log line.
//!
//! The middleware opens the request's SERVER span (continuing the caller's `traceparent`,
//! see [`keyroute_telemetry::http`]), runs the request inside it, answers with the span's
//! `traceparent` (errors and streams too), and writes one line at info level under the
//! target [`TARGET`] when the answer ends: when its body is sent, or when the client goes
//! away. For a stream that is its last event; its time to first byte is when its first bytes
//! left. Model calls add what the router said about them ([`CallNote`]): the models, who
//! served, the principal, attempts, tokens and cost. Health and metrics probes get neither a
//! span nor a line: they would drown the requests. No line carries a prompt, a completion,
//! a token or a secret.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use hyper::body::{Body as _, Frame, SizeHint};
use keyroute_proto::contract::{header, header_name};
use keyroute_proto::router::v1::complete_stream_response::Event;
use keyroute_proto::router::v1::{CompleteStreamResponse, KeySource, ServedBy, Usage};
use keyroute_telemetry::http::{TraceParent, record_status, server_span};
use tracing::{Instrument, Span};

/// The log target of access lines: `RUST_LOG=keyroute::access=off` silences them alone.
pub const TARGET: &str = "keyroute::access";

/// Paths probed by Kubernetes and Prometheus: no span, no line.
fn probe(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}

/// The API shape a path speaks, as the guard and the handlers decide it.
fn dialect(path: &str, headers: &HeaderMap) -> Option<&'static str> {
    if !path.starts_with("/v1/") {
        return None;
    }
    let anthropic = path.starts_with("/v1/messages")
        || (path.starts_with("/v1/models") && headers.contains_key("anthropic-version"));
    Some(if anthropic { "anthropic" } else { "openai" })
}

/// What a model call adds to its line. Counts are the largest reported (a stream may report
/// several times).
#[derive(Debug, Default, Clone)]
pub struct CallFacts {
    /// The model the caller asked for.
    pub model: Option<String>,
    /// The model that answered, as the provider named it.
    pub served_model: Option<String>,
    pub provider: Option<String>,
    pub key_source: Option<&'static str>,
    pub principal: Option<String>,
    pub attempts: Option<u32>,
    /// `client`, `upstream` or `internal`; for a stream that failed after it started, too.
    pub error_origin: Option<&'static str>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    /// Input read from the provider's prompt cache.
    pub cached_tokens: Option<u64>,
    pub cost_micros: Option<i64>,
    pub stream: bool,
}

fn metadata_text(metadata: &tonic::metadata::MetadataMap, name: &HeaderName) -> Option<String> {
    metadata
        .as_ref()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// Where a router failure came from, in the line's words: `client`, `upstream`, or
/// `internal` (keyroute itself, and failures the router never answered).
pub fn origin(status: &tonic::Status) -> &'static str {
    match status
        .metadata()
        .get(header::ERROR_ORIGIN)
        .and_then(|v| v.to_str().ok())
    {
        Some(header::ORIGIN_CLIENT) => "client",
        Some(header::ORIGIN_UPSTREAM) => "upstream",
        _ => "internal",
    }
}

impl CallFacts {
    /// What a router's answer metadata says: the principal.
    pub fn answered(&mut self, metadata: &tonic::metadata::MetadataMap) {
        self.principal = metadata_text(metadata, &header_name::PRINCIPAL);
    }

    /// What a router's failure says: where it came from, the provider, the attempts and
    /// the principal (when the token was checked).
    pub fn failed(&mut self, status: &tonic::Status) {
        let metadata = status.metadata();
        self.error_origin = Some(origin(status));
        self.provider = metadata_text(metadata, &header_name::PROVIDER);
        self.attempts = metadata_text(metadata, &HeaderName::from_static(header::ATTEMPTS))
            .and_then(|a| a.parse().ok());
        self.answered(metadata);
    }

    /// Who served the call, how many keys were tried, and its cost.
    pub fn served_by(&mut self, served: &ServedBy) {
        self.provider = Some(served.provider.clone());
        self.key_source = match served.key_source() {
            KeySource::Byok => Some("byok"),
            KeySource::Managed => Some("managed"),
            KeySource::Unspecified => None,
        };
        self.attempts = Some(served.attempts);
        self.cost_micros = Some(served.cost_micros);
    }

    /// What a whole answer says: its metadata, who served it, and its usage.
    pub fn whole_answer(
        &mut self,
        metadata: &tonic::metadata::MetadataMap,
        served: Option<&ServedBy>,
        usage: Option<&Usage>,
    ) {
        self.answered(metadata);
        if let Some(served) = served {
            self.served_by(served);
        }
        if let Some(usage) = usage {
            self.usage(usage);
        }
    }

    /// Token counts, each the largest reported so far.
    pub fn usage(&mut self, usage: &Usage) {
        let most = |kept: Option<u64>, new: u64| Some(kept.unwrap_or(0).max(new));
        self.input_tokens = most(self.input_tokens, usage.input_tokens);
        self.output_tokens = most(self.output_tokens, usage.output_tokens);
        self.cached_tokens = most(self.cached_tokens, usage.cache_read_tokens);
    }
}

/// A model call's facts, shared with the access line: the handler fills them in and puts
/// the note in the response's extensions; a stream keeps filling them as events pass.
#[derive(Debug, Clone, Default)]
pub struct CallNote(Arc<Mutex<CallFacts>>);

impl CallNote {
    pub fn new(facts: CallFacts) -> Self {
        Self(Arc::new(Mutex::new(facts)))
    }

    /// The facts, to change (a poisoned lock still holds usable facts).
    pub fn facts(&self) -> MutexGuard<'_, CallFacts> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Watches a stream's event: the model that answers, usage, who served it and its cost
    /// (at the end), and an error event (a failure after the stream started).
    pub fn observe(&self, event: &CompleteStreamResponse) {
        match &event.event {
            Some(Event::Start(start)) => self.facts().served_model = Some(start.model.clone()),
            Some(Event::Usage(usage)) => self.facts().usage(usage),
            Some(Event::End(end)) => {
                if let Some(served) = &end.served_by {
                    self.facts().served_by(served);
                }
            }
            Some(Event::Error(_)) => {
                self.facts().error_origin.get_or_insert("upstream");
            }
            _ => {}
        }
    }

    /// Attaches the note to `response`, for the access line.
    pub fn attach(self, response: &mut Response) {
        response.extensions_mut().insert(self);
    }

    /// The note attached to `response`, if any.
    pub fn of(response: &Response) -> Option<&Self> {
        response.extensions().get::<Self>()
    }
}

/// What the line says besides the call's facts, known when the answer's head is ready.
#[derive(Debug)]
struct Line {
    started: Instant,
    method: Method,
    route: Option<MatchedPath>,
    /// Only when no route matched (the template names the endpoint otherwise).
    path: Option<String>,
    dialect: Option<&'static str>,
    request_id: Option<String>,
    trace: TraceParent,
    status: StatusCode,
    /// From the answer's headers (what clients see).
    provider: Option<String>,
    key_source: Option<String>,
    note: Option<CallNote>,
}

fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1e6).round() / 1e3
}

impl Line {
    fn write(self, first_byte: Option<Duration>, client_gone: bool) {
        let latency = self.started.elapsed();
        let facts = self.note.as_ref().map(|note| note.facts().clone());
        let facts = facts.unwrap_or_default();
        let error_origin = facts.error_origin.or(if self.status.is_client_error() {
            Some("client")
        } else if self.status.is_server_error() {
            Some("internal")
        } else {
            None
        });
        let model_call = self.note.is_some();
        let trace_id = self.trace.trace_id_text();
        tracing::info!(
            target: TARGET,
            request_id = self.request_id.as_deref(),
            trace_id = trace_id.as_str(),
            method = %self.method,
            endpoint = self.route.as_ref().map(MatchedPath::as_str),
            path = self.path.as_deref(),
            status = self.status.as_u16(),
            dialect = self.dialect,
            principal_id = facts.principal.as_deref(),
            model = facts.model.as_deref(),
            served_model = facts.served_model.as_deref(),
            provider = self.provider.as_deref().or(facts.provider.as_deref()),
            key_source = self.key_source.as_deref().or(facts.key_source),
            attempts = facts.attempts,
            error_origin,
            input_tokens = facts.input_tokens,
            output_tokens = facts.output_tokens,
            cached_tokens = facts.cached_tokens,
            cost_micros = facts.cost_micros,
            stream = model_call.then_some(facts.stream),
            latency_ms = millis(latency),
            ttfb_ms = first_byte.map(millis),
            client_gone,
            "request"
        );
    }
}

fn header_text(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The middleware: see the module documentation.
pub async fn observe(request: Request, next: impl AsyncFnOnce(Request) -> Response) -> Response {
    let path = request.uri().path();
    if probe(path) {
        return next(request).await;
    }
    let started = Instant::now();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let headers = request.headers();
    let span = server_span(
        request.method(),
        route.as_ref().map(MatchedPath::as_str),
        path,
        request.version(),
        headers,
    );
    let trace = TraceParent::of(&span, headers);
    let method = request.method().clone();
    let unmatched = route.is_none().then(|| path.to_owned());
    let dialect = dialect(path, headers);
    let request_id = header_text(headers, &header_name::REQUEST_ID);

    let mut response = next(request).instrument(span.clone()).await;
    let status = response.status();
    record_status(&span, status);
    if let Ok(value) = HeaderValue::from_str(&trace.header()) {
        response.headers_mut().insert("traceparent", value);
    }
    let note = response.extensions_mut().remove::<CallNote>();
    if let Some(principal) = note.as_ref().and_then(|n| n.facts().principal.clone()) {
        span.record("keyroute.principal.id", principal.as_str());
    }
    let line = Line {
        started,
        method,
        route,
        path: unmatched,
        dialect,
        request_id,
        trace,
        status,
        provider: header_text(response.headers(), &header_name::PROVIDER),
        key_source: header_text(response.headers(), &header_name::KEY_SOURCE),
        note,
    };
    response.map(|inner| {
        Body::new(Logged {
            inner,
            span,
            line: Some(line),
            first_byte: None,
        })
    })
}

/// An answer's body that keeps the request's span open and current while it is sent, notes
/// when its first bytes leave, and writes the access line when it ends or is dropped.
struct Logged {
    inner: Body,
    span: Span,
    /// Taken when written.
    line: Option<Line>,
    first_byte: Option<Duration>,
}

impl Logged {
    fn finish(&mut self, client_gone: bool) {
        if let Some(line) = self.line.take() {
            line.write(self.first_byte, client_gone);
        }
    }
}

impl hyper::body::Body for Logged {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let polled = {
            let _entered = this.span.enter();
            Pin::new(&mut this.inner).poll_frame(cx)
        };
        match &polled {
            Poll::Ready(Some(Ok(frame))) if frame.is_data() && this.first_byte.is_none() => {
                if let Some(line) = &this.line {
                    this.first_byte = Some(line.started.elapsed());
                }
            }
            Poll::Ready(None) => this.finish(false),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        // A body sent whole may be dropped without a last poll; one that is not at its end
        // here lost its client.
        let whole = self.inner.is_end_stream();
        {
            // What the body holds (a stream's metering) ends inside the request's span.
            let _entered = self.span.enter();
            drop(std::mem::take(&mut self.inner));
        }
        self.finish(!whole);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_and_dialects() {
        assert!(probe("/healthz") && probe("/readyz") && probe("/metrics"));
        assert!(!probe("/v1/models"));
        let none = HeaderMap::new();
        assert_eq!(dialect("/v1/messages", &none), Some("anthropic"));
        assert_eq!(dialect("/v1/chat/completions", &none), Some("openai"));
        assert_eq!(dialect("/api/v1/keys", &none), None);
        let mut anthropic = HeaderMap::new();
        anthropic.insert("anthropic-version", HeaderValue::from_static("2023-06-01"));
        assert_eq!(dialect("/v1/models", &anthropic), Some("anthropic"));
    }

    #[test]
    fn usage_keeps_the_largest_counts() {
        let mut facts = CallFacts::default();
        facts.usage(&Usage {
            input_tokens: 10,
            cache_read_tokens: 4,
            ..Usage::default()
        });
        facts.usage(&Usage {
            output_tokens: 7,
            ..Usage::default()
        });
        assert_eq!(
            (facts.input_tokens, facts.output_tokens, facts.cached_tokens),
            (Some(10), Some(7), Some(4))
        );
    }
}
