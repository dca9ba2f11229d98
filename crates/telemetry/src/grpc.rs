//! One SERVER span per gRPC call, named by method (`keyroute.router.v1.RouterService/Complete`)
//! with the OpenTelemetry RPC attributes (`rpc.system`, `rpc.service`, `rpc.method`,
//! `rpc.grpc.status_code`), continuing the caller's trace from the request's `traceparent`.
//!
//! The span lasts as long as the answer: for a server stream, until its last message and
//! trailers are sent (or the caller goes away), and it is the current span while the handler
//! runs and while the response body is produced, so work done for the call (vault calls,
//! upstream attempts, metrics) sits under it. Health checks and reflection get no span: they
//! are probes, not requests.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tracing::Span;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// A server layer that opens a span per call, parented by the caller's trace context.
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcTraceLayer;

impl<S> tower::Layer<S> for GrpcTraceLayer {
    type Service = GrpcTraceService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcTraceService { inner }
    }
}

/// See [`GrpcTraceLayer`].
#[derive(Debug, Clone)]
pub struct GrpcTraceService<S> {
    inner: S,
}

impl<S> GrpcTraceService<S> {
    /// `inner` with a span per call, as [`GrpcTraceLayer`] wraps it; for services called
    /// without a tonic server (the router an edge calls in-process).
    pub fn new(inner: S) -> Self {
        Self { inner }
    }
}

/// The span for a call to `path` (`/package.Service/Method`), or a disabled one for probes.
fn server_span(path: &str, headers: &http::HeaderMap) -> Span {
    let Some((service, method)) = path.strip_prefix('/').and_then(|p| p.split_once('/')) else {
        return Span::none();
    };
    if service.starts_with("grpc.") {
        return Span::none();
    }
    // A root span, its parent only the caller's propagated context: a call served in the
    // caller's own process (the edge's in-process router) nests in the trace exactly as
    // one that came over the network, not under whatever span the caller has entered.
    let span = tracing::info_span!(
        target: "keyroute::grpc",
        parent: None,
        "grpc.server",
        otel.name = &path[1..],
        otel.kind = "server",
        otel.status_code = Empty,
        rpc.system = "grpc",
        rpc.service = service,
        rpc.method = method,
        rpc.grpc.status_code = Empty,
    );
    if !span.is_disabled() {
        let _ = span.set_parent(crate::propagation::extract(headers));
    }
    span
}

/// The `grpc-status` in headers or trailers.
fn grpc_status(headers: &http::HeaderMap) -> Option<i64> {
    headers
        .get("grpc-status")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
}

/// Records the call's status; the codes OpenTelemetry counts as server errors mark the span.
fn record_status(span: &Span, code: i64) {
    span.record("rpc.grpc.status_code", code);
    // UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS.
    if matches!(code, 2 | 4 | 12 | 13 | 14 | 15) {
        span.record("otel.status_code", "error");
    }
}

impl<S, B, R> tower::Service<http::Request<B>> for GrpcTraceService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
{
    type Response = http::Response<TracedBody<R>>;
    type Error = S::Error;
    type Future = TracedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let span = server_span(request.uri().path(), request.headers());
        let inner = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        TracedFuture {
            inner,
            span: Some(span),
        }
    }
}

pin_project! {
    /// The call's future, polled inside its span; its answer's body carries the span on.
    pub struct TracedFuture<F> {
        #[pin]
        inner: F,
        span: Option<Span>,
    }
}

impl<F, R, E> Future for TracedFuture<F>
where
    F: Future<Output = Result<http::Response<R>, E>>,
{
    type Output = Result<http::Response<TracedBody<R>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _entered = this.span.as_ref().map(Span::enter);
            ready!(this.inner.poll(cx))
        };
        let span = this.span.take().unwrap_or_else(Span::none);
        Poll::Ready(result.map(|response| {
            // A call that failed before any message has its status in the headers.
            let status = (!span.is_disabled())
                .then(|| grpc_status(response.headers()))
                .flatten();
            if let Some(code) = status {
                record_status(&span, code);
            }
            response.map(|inner| TracedBody {
                inner,
                span,
                status_known: status.is_some(),
            })
        }))
    }
}

pin_project! {
    /// A response body that keeps the call's span open (and current while it is polled)
    /// until the body ends, and records the status from its trailers.
    pub struct TracedBody<B> {
        #[pin]
        inner: B,
        span: Span,
        status_known: bool,
    }

    impl<B> PinnedDrop for TracedBody<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if !*this.status_known && !this.span.is_disabled() {
                // The caller went away before the status was sent.
                record_status(this.span, 1);
            }
        }
    }
}

impl<B: Body> Body for TracedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let _entered = this.span.enter();
        let polled = this.inner.poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && !*this.status_known
            && let Some(code) = frame.trailers_ref().and_then(grpc_status)
        {
            record_status(this.span, code);
            *this.status_known = true;
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
