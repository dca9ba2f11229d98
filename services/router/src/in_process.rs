//! The router served to an edge in the same process (`keyroute dev`): the same gRPC services,
//! tracing layer and message limit as the mTLS port, called directly, without TCP, TLS or
//! HTTP/2 framing (under load those cost more than the routing itself).
//!
//! The caller is the edge by construction: an [`InProcessRouter`] exists only in this
//! process, made by [`crate::server::PreparedRouter::in_process`], and nothing on the network
//! can reach it. Each call carries the [`PeerInfo`] the TLS acceptor inserts for the edge's
//! certificate, so authorization runs unchanged. What tonic's server adds around the
//! services is kept too: the caller's `grpc-timeout` bounds the call's answer, and once the
//! router is stopping new calls are refused, as its port then refuses them.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use keyroute_proto::contract::size::ROUTER_MESSAGE_LIMIT;
use keyroute_proto::router::v1::router_service_server::RouterServiceServer;
use keyroute_telemetry::GrpcTraceService;
use keyroute_tls::{Identity, PeerInfo};
use tonic::body::Body;
use tonic::codegen::{BoxFuture, Service, http};
use tonic::server::NamedService;
use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::{HealthReporter, HealthService};

use crate::service::Router;

/// The router's gRPC services for a caller in this process; cheap to clone (handles only).
#[derive(Debug, Clone)]
pub struct InProcessRouter {
    /// Who calls: the edge, as its certificate names it.
    peer: PeerInfo,
    services: GrpcTraceService<Services>,
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
        let services = Services {
            health: HealthServer::new(HealthService::from_health_reporter(health)),
            // As on the port: edges send requests as large as their body limit.
            router: RouterServiceServer::new(router)
                .max_decoding_message_size(ROUTER_MESSAGE_LIMIT),
        };
        Self {
            peer: PeerInfo {
                identity: edge,
                remote_addr: None,
            },
            // The same layer as on the port: one span per call, under the caller's trace.
            services: GrpcTraceService::new(services),
            stopping,
        }
    }
}

/// The services the edge calls: health (for readiness) and `RouterService`. Platforms'
/// key management and reflection are for network clients and stay on the port.
#[derive(Debug, Clone)]
struct Services {
    health: HealthServer<HealthService>,
    router: RouterServiceServer<Router>,
}

/// Whether `path` (`/package.Service/Method`) names a method of `service`.
fn calls(path: &str, service: &str) -> bool {
    path.strip_prefix('/')
        .and_then(|rest| rest.strip_prefix(service))
        .is_some_and(|rest| rest.starts_with('/'))
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
        if calls(request.uri().path(), health) {
            self.health.call(request)
        } else {
            // Its own answer for unknown methods: UNIMPLEMENTED.
            self.router.call(request)
        }
    }
}

/// The caller's deadline from `grpc-timeout` (at most eight digits and a unit, as gRPC over
/// HTTP/2 writes it); `None` when absent or malformed, and then no deadline, as tonic's
/// server reads it.
fn grpc_timeout(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at_checked(value.len().checked_sub(1)?)?;
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

/// An answer that is only a status, as tonic's server writes one (trailers-only).
fn status_only(status: tonic::Status) -> http::Response<Body> {
    status.into_http()
}

impl Service<http::Request<Body>> for InProcessRouter {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.services.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        if self.stopping.load(Ordering::Relaxed) {
            let refused = tonic::Status::unavailable("the router is shutting down");
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
                    Err(_) => return Ok(status_only(tonic::Status::cancelled("Timeout expired"))),
                },
            };
            response.map(|response| response.map(Body::new))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeout(value: &str) -> Option<Duration> {
        let mut headers = http::HeaderMap::new();
        headers.insert("grpc-timeout", http::HeaderValue::from_str(value).ok()?);
        grpc_timeout(&headers)
    }

    #[test]
    fn deadlines_are_read_as_grpc_writes_them() {
        assert_eq!(timeout("600000m"), Some(Duration::from_secs(600)));
        assert_eq!(timeout("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(timeout("3M"), Some(Duration::from_secs(180)));
        assert_eq!(timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(timeout("7u"), Some(Duration::from_micros(7)));
        assert_eq!(timeout("99999999n"), Some(Duration::from_nanos(99_999_999)));
        for malformed in ["", "S", "123456789S", "10", "10x", "+1S", "-1S", "1.5S"] {
            assert_eq!(timeout(malformed), None, "{malformed:?}");
        }
        assert_eq!(grpc_timeout(&http::HeaderMap::new()), None);
    }

    #[test]
    fn only_the_health_service_is_told_apart() {
        assert!(calls(
            "/grpc.health.v1.Health/Check",
            "grpc.health.v1.Health"
        ));
        assert!(!calls(
            "/grpc.health.v1.HealthX/Check",
            "grpc.health.v1.Health"
        ));
        assert!(!calls(
            "/keyroute.router.v1.RouterService/Complete",
            "grpc.health.v1.Health"
        ));
    }
}
