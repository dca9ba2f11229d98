//! W3C trace context (`traceparent`, `tracestate`) carried in HTTP headers and gRPC metadata:
//! every gRPC client channel injects the current span's context ([`TracedChannel`]), so the
//! server's span (see [`crate::grpc`]) continues the caller's trace instead of starting one.

use std::task::{Context, Poll};

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// keyroute speaks W3C trace context, whatever global propagator a process set: the edge's
/// callers, its routers and the vault agree on it without configuration.
static PROPAGATOR: std::sync::LazyLock<TraceContextPropagator> =
    std::sync::LazyLock::new(TraceContextPropagator::new);

struct MetadataInjector<'a>(&'a mut MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            MetadataKey::from_bytes(key.as_bytes()),
            MetadataValue::try_from(value.as_str()),
        ) {
            self.0.insert(key, value);
        }
    }
}

struct HeaderInjector<'a>(&'a mut http::HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::try_from(value),
        ) {
            self.0.insert(name, value);
        }
    }
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// The caller's trace context from request headers (`traceparent`, `tracestate`); an empty
/// context when there is none or it is malformed.
pub fn extract(headers: &http::HeaderMap) -> opentelemetry::Context {
    PROPAGATOR.extract(&HeaderExtractor(headers))
}

/// The current span's context, or `None` when there is no span to continue (no subscriber,
/// no OpenTelemetry layer, or outside any span): nothing is then sent.
fn current_context() -> Option<opentelemetry::Context> {
    let span = tracing::Span::current();
    if span.is_disabled() {
        return None;
    }
    Some(span.context())
}

/// Writes the current span's trace context into outgoing metadata.
pub fn inject_trace_context(metadata: &mut MetadataMap) {
    if let Some(context) = current_context() {
        PROPAGATOR.inject_context(&context, &mut MetadataInjector(metadata));
    }
}

/// Writes the current span's trace context into outgoing HTTP headers.
pub fn inject_headers(headers: &mut http::HeaderMap) {
    if let Some(context) = current_context() {
        PROPAGATOR.inject_context(&context, &mut HeaderInjector(headers));
    }
}

/// A tonic client interceptor that propagates the current trace context.
pub fn propagate(mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
    inject_trace_context(request.metadata_mut());
    Ok(request)
}

/// A gRPC client service that sends the current span's trace context with every call, so
/// that the service called continues the caller's trace. Wrapping the channel (rather than
/// each call site) covers every RPC a client makes, present and future.
#[derive(Debug, Clone)]
pub struct TraceContextService<S> {
    inner: S,
}

/// A tonic channel that propagates trace context; what keyroute's clients are built on.
pub type TracedChannel = TraceContextService<tonic::transport::Channel>;

/// `channel` (a tonic channel, or any other gRPC client service: the edge's in-process
/// router), propagating trace context on every call.
pub fn traced<S>(channel: S) -> TraceContextService<S> {
    TraceContextService { inner: channel }
}

impl<S, B> tower::Service<http::Request<B>> for TraceContextService<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // Runs inside the caller's poll, so the current span is the caller's.
        inject_headers(request.headers_mut());
        self.inner.call(request)
    }
}

/// The caller's `x-request-id`, if it is one keyroute keeps (1 to 128 visible ASCII
/// characters): logged, audited and used as the usage idempotency key. Callers mint their
/// own id when there is none.
pub fn request_id(metadata: &tonic::metadata::MetadataMap) -> Option<&str> {
    metadata
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .filter(|id| valid_request_id(id))
}

/// Whether a caller's request id can be kept: 1 to 128 visible ASCII characters.
pub fn valid_request_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic())
}

/// A new request id, `req_` and a time-ordered UUID.
pub fn new_request_id() -> String {
    format!("req_{}", uuid::Uuid::now_v7().simple())
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn trace_context_survives_a_round_trip_through_metadata() {
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("client call");
            let _entered = span.enter();
            let sent = span.context().span().span_context().trace_id();

            let mut metadata = MetadataMap::new();
            inject_trace_context(&mut metadata);
            let traceparent = metadata.get("traceparent").unwrap().to_str().unwrap();
            assert!(traceparent.contains(&sent.to_string()), "{traceparent}");

            let received = extract(&metadata.into_headers());
            assert_eq!(received.span().span_context().trace_id(), sent);
        });
    }

    #[test]
    fn nothing_is_sent_outside_a_span() {
        let mut headers = http::HeaderMap::new();
        inject_headers(&mut headers);
        assert!(headers.is_empty());
    }
}
