//! The router served to an edge in the same process (`keyroute dev`), without TCP, TLS or
//! HTTP/2 framing (under load those cost more than the routing itself). Two ways in:
//!
//! - as gRPC services (`tower::Service` over HTTP requests): the same services, tracing
//!   layer and message limit as the mTLS port; the edge's readiness check uses this;
//! - as [`RouterService`] itself, typed: the edge's model calls, with no protobuf encoding,
//!   HTTP request or response body at all (those were most of what the hop still cost).
//!
//! The caller is the edge by construction: an [`InProcessRouter`] exists only in this
//! process, made by [`crate::server::PreparedRouter::in_process`], and nothing on the network
//! can reach it. Each call carries the [`PeerInfo`] the TLS acceptor inserts for the edge's
//! certificate, so authorization runs unchanged. What tonic's server adds around the
//! services is kept on both ways in: the caller's `grpc-timeout` bounds the call's answer,
//! once the router is stopping new calls are refused, as its port then refuses them, and
//! each call has the span the port's tracing layer opens. A typed call's statuses reach the
//! caller as gRPC would carry them (metadata from headers, no error source).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use keyroute_proto::contract::size::ROUTER_MESSAGE_LIMIT;
use keyroute_proto::router::v1::router_service_server::{RouterService, RouterServiceServer};
use keyroute_proto::router::v1::*;
use keyroute_telemetry::{GrpcTraceService, OpenTelemetrySpanExt};
use keyroute_tls::{Identity, PeerInfo, grpc_timeout};
use tonic::body::Body;
use tonic::codegen::{BoxFuture, BoxStream, Service, http};
use tonic::server::NamedService;
use tonic::{Code, Request, Response, Status};
use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::{HealthReporter, HealthService};
use tracing::field::Empty;
use tracing::{Instrument, Span};

use crate::port::service_of;
use crate::service::Router;

/// The router's services for a caller in this process; cheap to clone (handles only).
#[derive(Debug, Clone)]
pub struct InProcessRouter {
    /// Who calls: the edge, as its certificate names it.
    peer: PeerInfo,
    services: GrpcTraceService<Services>,
    /// What the typed calls reach (the same router the gRPC services serve).
    router: Arc<Router>,
    /// Set when the router starts shutting down.
    stopping: Arc<AtomicBool>,
}

impl InProcessRouter {
    /// `router`'s services, with `health` reporting its status, called as `edge` (the
    /// identity the edge's certificate names).
    pub(crate) fn new(
        router: Router,
        health: HealthReporter,
        edge: Identity,
        stopping: Arc<AtomicBool>,
    ) -> Self {
        let router = Arc::new(router);
        let services = Services {
            health: HealthServer::new(HealthService::from_health_reporter(health)),
            // As on the port: edges send requests as large as their body limit.
            router: RouterServiceServer::from_arc(Arc::clone(&router))
                .max_decoding_message_size(ROUTER_MESSAGE_LIMIT),
        };
        Self {
            peer: PeerInfo {
                identity: edge,
                remote_addr: None,
            },
            // The same layer as on the port: one span per call, under the caller's trace.
            services: GrpcTraceService::new(services),
            router,
            stopping,
        }
    }
}

/// The gRPC services served in-process: health (the edge's readiness check) and
/// `RouterService` (for gRPC clients in this process; the edge calls it typed). Platforms'
/// key management and reflection are for network clients and stay on the port.
#[derive(Debug, Clone)]
struct Services {
    health: HealthServer<HealthService>,
    router: RouterServiceServer<Router>,
}

impl Service<http::Request<Body>> for Services {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Both are always ready (tonic's generated servers are).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let health = <HealthServer<HealthService> as NamedService>::NAME;
        if service_of(request.uri().path()) == health {
            self.health.call(request)
        } else {
            // Its own answer for unknown methods: UNIMPLEMENTED.
            self.router.call(request)
        }
    }
}

/// `RouterService`'s name, as gRPC paths and the port's spans give it.
const SERVICE: &str = <RouterServiceServer<Router> as NamedService>::NAME;

/// A `RouterService` method as the port's tracing layer names it: `rpc.method`, and
/// `otel.name` (the gRPC path without its leading slash).
#[derive(Debug, Clone, Copy)]
struct Method {
    name: &'static str,
    path: &'static str,
}

const COMPLETE: Method = Method {
    name: "Complete",
    path: "keyroute.router.v1.RouterService/Complete",
};
const COMPLETE_STREAM: Method = Method {
    name: "CompleteStream",
    path: "keyroute.router.v1.RouterService/CompleteStream",
};
const LIST_MODELS: Method = Method {
    name: "ListModels",
    path: "keyroute.router.v1.RouterService/ListModels",
};
const TEST_CREDENTIAL: Method = Method {
    name: "TestCredential",
    path: "keyroute.router.v1.RouterService/TestCredential",
};
const COUNT_TOKENS: Method = Method {
    name: "CountTokens",
    path: "keyroute.router.v1.RouterService/CountTokens",
};
const EMBED: Method = Method {
    name: "Embed",
    path: "keyroute.router.v1.RouterService/Embed",
};

/// The span `keyroute_telemetry::GrpcTraceService` opens for a call to `method` on the port:
/// the same name, target and attributes, a root whose parent is the caller's trace context
/// (here the caller's current span, which its channel would have propagated).
fn call_span(method: Method) -> Span {
    let span = tracing::info_span!(
        target: "keyroute::grpc",
        parent: None,
        "grpc.server",
        otel.name = method.path,
        otel.kind = "server",
        otel.status_code = Empty,
        rpc.system = "grpc",
        rpc.service = SERVICE,
        rpc.method = method.name,
        rpc.grpc.status_code = Empty,
    );
    if !span.is_disabled() {
        let caller = Span::current();
        let parent = if caller.is_disabled() {
            // What the port reads when nothing was propagated.
            keyroute_telemetry::extract(&http::HeaderMap::new())
        } else {
            caller.context()
        };
        let _ = span.set_parent(parent);
    }
    span
}

/// Records a call's status as the port's tracing layer does; the codes OpenTelemetry counts
/// as server errors mark the span.
fn record_status(span: &Span, code: Code) {
    if span.is_disabled() {
        return;
    }
    span.record("rpc.grpc.status_code", i64::from(i32::from(code)));
    if matches!(
        code,
        Code::Unknown
            | Code::DeadlineExceeded
            | Code::Unimplemented
            | Code::Internal
            | Code::Unavailable
            | Code::DataLoss
    ) {
        span.record("otel.status_code", "error");
    }
}

/// `status` as its caller reads it once gRPC has carried it: rebuilt from the headers tonic
/// writes for it (with the `content-type` of a trailers-only answer when it is the whole
/// answer rather than a stream's end). So its metadata is what a gRPC caller sees, and it
/// has no error source, which the edge would read as a connection that failed.
fn as_received(status: Status, whole_answer: bool) -> Status {
    let mut headers = http::HeaderMap::with_capacity(status.metadata().len() + 4);
    if whole_answer {
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/grpc"),
        );
    }
    match status.add_header(&mut headers) {
        Ok(()) => Status::from_header_map(&headers).unwrap_or(status),
        // What could not be written as headers (tonic says why).
        Err(unwritable) => unwritable,
    }
}

/// A typed call let in: its span and the caller's deadline.
struct Call {
    span: Span,
    deadline: Option<Duration>,
}

/// What tonic's server answers when the caller's deadline passes first.
fn timed_out() -> Status {
    as_received(keyroute_tls::timed_out(), true)
}

impl Call {
    /// The handler's answer, run in the call's span and bounded by the deadline; `None` when
    /// the deadline passed first (the span then records no status, as on the port).
    async fn answer<R>(
        &self,
        handler: impl Future<Output = Result<Response<R>, Status>>,
    ) -> Option<Result<Response<R>, Status>> {
        let handler = handler.instrument(self.span.clone());
        match self.deadline {
            None => Some(handler.await),
            Some(limit) => tokio::time::timeout(limit, handler).await.ok(),
        }
    }

    /// A unary call's answer; the span ends with it.
    async fn unary<R>(
        self,
        handler: impl Future<Output = Result<Response<R>, Status>>,
    ) -> Result<Response<R>, Status> {
        let answer = self.answer(handler).await.ok_or_else(timed_out)?;
        let code = answer.as_ref().map_or_else(Status::code, |_| Code::Ok);
        record_status(&self.span, code);
        answer.map_err(|status| as_received(status, true))
    }

    /// A server stream's opening; the span lasts as long as its events (see [`Traced`]).
    async fn stream<T: Send + 'static>(
        self,
        handler: impl Future<Output = Result<Response<BoxStream<T>>, Status>>,
    ) -> Result<Response<BoxStream<T>>, Status> {
        match self.answer(handler).await.ok_or_else(timed_out)? {
            Ok(response) => Ok(response.map(|events| {
                let traced = Traced {
                    events,
                    span: self.span,
                    ended: false,
                };
                Box::pin(traced) as BoxStream<T>
            })),
            Err(status) => {
                record_status(&self.span, status.code());
                Err(as_received(status, true))
            }
        }
    }
}

/// A stream's events as the port sends them: polled in the call's span, which stays open
/// until the stream ends; over at its first error (the status ends a gRPC stream); the
/// status recorded on the span, CANCELLED when the caller drops it before the end.
struct Traced<T> {
    events: BoxStream<T>,
    span: Span,
    /// Whether the stream has ended (its last event or an error was taken).
    ended: bool,
}

impl<T> Stream for Traced<T> {
    type Item = Result<T, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // `Unpin`: the events are boxed.
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        let polled = {
            let _entered = this.span.enter();
            this.events.as_mut().poll_next(cx)
        };
        match polled {
            Poll::Ready(Some(Err(status))) => {
                this.ended = true;
                record_status(&this.span, status.code());
                Poll::Ready(Some(Err(as_received(status, false))))
            }
            Poll::Ready(None) => {
                this.ended = true;
                record_status(&this.span, Code::Ok);
                Poll::Ready(None)
            }
            other => other,
        }
    }
}

impl<T> Drop for Traced<T> {
    fn drop(&mut self) {
        if !self.ended {
            // The caller went away before the end.
            record_status(&self.span, Code::Cancelled);
        }
    }
}

impl InProcessRouter {
    /// Lets a typed call in as the port would: refused once the router is stopping, made as
    /// the edge (whatever the caller put in its extensions), with the port's span and the
    /// caller's deadline.
    fn open<T>(&self, method: Method, request: &mut Request<T>) -> Result<Call, Status> {
        if let Some(refused) = self.refusal() {
            return Err(as_received(refused, true));
        }
        request.extensions_mut().insert(self.peer.clone());
        Ok(Call {
            deadline: grpc_timeout(request.metadata().as_ref()),
            span: call_span(method),
        })
    }
}

/// The router's own `RouterService`, called typed: what the edge in this process calls for
/// every model call, so that nothing is encoded, framed or decoded on a hop that never
/// leaves the process.
#[tonic::async_trait]
impl RouterService for InProcessRouter {
    async fn complete(
        &self,
        mut request: Request<CompleteRequest>,
    ) -> Result<Response<CompleteResponse>, Status> {
        let call = self.open(COMPLETE, &mut request)?;
        call.unary(self.router.complete(request)).await
    }

    type CompleteStreamStream = BoxStream<CompleteStreamResponse>;

    async fn complete_stream(
        &self,
        mut request: Request<CompleteStreamRequest>,
    ) -> Result<Response<Self::CompleteStreamStream>, Status> {
        let call = self.open(COMPLETE_STREAM, &mut request)?;
        call.stream(self.router.complete_stream(request)).await
    }

    async fn list_models(
        &self,
        mut request: Request<ListModelsRequest>,
    ) -> Result<Response<ListModelsResponse>, Status> {
        let call = self.open(LIST_MODELS, &mut request)?;
        call.unary(self.router.list_models(request)).await
    }

    async fn test_credential(
        &self,
        mut request: Request<TestCredentialRequest>,
    ) -> Result<Response<TestCredentialResponse>, Status> {
        let call = self.open(TEST_CREDENTIAL, &mut request)?;
        call.unary(self.router.test_credential(request)).await
    }

    async fn count_tokens(
        &self,
        mut request: Request<CountTokensRequest>,
    ) -> Result<Response<CountTokensResponse>, Status> {
        let call = self.open(COUNT_TOKENS, &mut request)?;
        call.unary(self.router.count_tokens(request)).await
    }

    async fn embed(
        &self,
        mut request: Request<EmbedRequest>,
    ) -> Result<Response<EmbedResponse>, Status> {
        let call = self.open(EMBED, &mut request)?;
        call.unary(self.router.embed(request)).await
    }
}

/// An answer that is only a status, as tonic's server writes one (trailers-only).
fn status_only(status: tonic::Status) -> http::Response<Body> {
    status.into_http()
}

impl InProcessRouter {
    /// What a new call gets once the router is stopping, as its port then refuses them.
    fn refusal(&self) -> Option<Status> {
        self.stopping
            .load(Ordering::Relaxed)
            .then(|| Status::unavailable("the router is shutting down"))
    }
}

impl Service<http::Request<Body>> for InProcessRouter {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.services.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        if let Some(refused) = self.refusal() {
            return Box::pin(std::future::ready(Ok(status_only(refused))));
        }
        // Replaces anything the caller put there: the peer is who this service was made for.
        request.extensions_mut().insert(self.peer.clone());
        let deadline = grpc_timeout(request.headers());
        let answer = self.services.call(request);
        Box::pin(async move {
            let response = match deadline {
                None => answer.await,
                Some(limit) => match tokio::time::timeout(limit, answer).await {
                    Ok(response) => response,
                    // What tonic's server answers when the deadline passes first.
                    Err(_) => return Ok(status_only(keyroute_tls::timed_out())),
                },
            };
            response.map(|response| response.map(Body::new))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_calls_are_named_as_their_grpc_paths() {
        for method in [
            COMPLETE,
            COMPLETE_STREAM,
            LIST_MODELS,
            TEST_CREDENTIAL,
            COUNT_TOKENS,
            EMBED,
        ] {
            assert_eq!(method.path, format!("{SERVICE}/{}", method.name));
            assert_eq!(service_of(&format!("/{}", method.path)), SERVICE);
        }
    }

    #[test]
    fn statuses_arrive_as_grpc_carries_them() {
        let mut status = Status::with_details(Code::NotFound, "no such model: ä", "why".into());
        status
            .metadata_mut()
            .insert("x-keyroute-error-origin", "client".parse().unwrap());
        status.set_source(Arc::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )));
        let answered = as_received(status.clone(), true);
        assert_eq!(answered.code(), Code::NotFound);
        assert_eq!(answered.message(), "no such model: ä");
        assert_eq!(answered.details(), b"why");
        assert!(std::error::Error::source(&answered).is_none());
        let metadata = answered.metadata();
        assert_eq!(metadata.get("x-keyroute-error-origin").unwrap(), "client");
        assert_eq!(metadata.get("content-type").unwrap(), "application/grpc");
        assert_eq!(metadata.len(), 2, "{metadata:?}");
        let ended = as_received(status, false);
        assert_eq!(ended.metadata().len(), 1, "{:?}", ended.metadata());
    }

    #[tokio::test]
    async fn a_typed_stream_ends_at_its_first_error_as_grpc_ends_it() {
        use futures::StreamExt;

        let mut broken = Status::internal("broken");
        broken.set_source(Arc::new(std::io::Error::other("gone")));
        let events: BoxStream<u32> = Box::pin(futures::stream::iter([Ok(1), Err(broken), Ok(2)]));
        let traced = Traced {
            events,
            span: Span::none(),
            ended: false,
        };
        let items: Vec<Result<u32, Status>> = traced.collect().await;
        assert_eq!(items.len(), 2, "{items:?}");
        assert!(matches!(items[0], Ok(1)));
        let status = items[1].as_ref().unwrap_err();
        assert_eq!(
            (status.code(), status.message()),
            (Code::Internal, "broken")
        );
        assert!(std::error::Error::source(status).is_none());
        assert!(status.metadata().is_empty(), "{:?}", status.metadata());
    }
}
