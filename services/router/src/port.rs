//! What the router's mTLS port serves, and which service answers which gRPC path: the
//! router's own calls, platforms' key management (passed to the vault), health and
//! reflection; anything else is UNIMPLEMENTED. One match on the service's name in place of
//! tonic's axum router, in front of the tracing layer's span per call.

use std::convert::Infallible;
use std::task::{Context, Poll};

use keyroute_proto::contract::size::ROUTER_MESSAGE_LIMIT;
use keyroute_proto::router::v1::router_service_server::RouterServiceServer;
use keyroute_telemetry::GrpcTraceService;
use tonic::body::Body;
use tonic::codegen::{BoxFuture, Service, http};
use tonic::server::NamedService;
use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::HealthService;
use tower::util::BoxCloneService;

use crate::platform::VaultPassThrough;
use crate::service::Router;

/// The port's services as its connections call them: each call in its span.
pub type Port = GrpcTraceService<PortServices>;

/// A gRPC service as the port calls it.
type Boxed = BoxCloneService<http::Request<Body>, http::Response<Body>, Infallible>;

/// The port's services; cheap to clone (handles only).
#[derive(Clone)]
pub struct PortServices {
    router: RouterServiceServer<Router>,
    pass_through: VaultPassThrough,
    health: HealthServer<HealthService>,
    /// Rarely called: boxed, since its type cannot be named.
    reflection: Boxed,
}

impl std::fmt::Debug for PortServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortServices").finish_non_exhaustive()
    }
}

impl PortServices {
    /// The services with the tracing layer's span per call around them.
    pub fn traced(
        router: Router,
        pass_through: VaultPassThrough,
        health: HealthServer<HealthService>,
        reflection: Boxed,
    ) -> Port {
        GrpcTraceService::new(Self {
            // Edges send requests as large as their body limit (see `contract::size`).
            router: RouterServiceServer::new(router)
                .max_decoding_message_size(ROUTER_MESSAGE_LIMIT),
            pass_through,
            health,
            reflection,
        })
    }
}

/// The service a gRPC path (`/package.Service/Method`) names; empty when it names none.
pub(crate) fn service_of(path: &str) -> &str {
    path.strip_prefix('/')
        .and_then(|rest| rest.split_once('/'))
        .map_or("", |(service, _)| service)
}

impl Service<http::Request<Body>> for PortServices {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Every one of them is always ready (tonic's generated servers and the pass-through
        // are; the boxed reflection service is tonic's too).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        match service_of(request.uri().path()) {
            <RouterServiceServer<Router> as NamedService>::NAME => self.router.call(request),
            <VaultPassThrough as NamedService>::NAME => self.pass_through.call(request),
            <HealthServer<HealthService> as NamedService>::NAME => self.health.call(request),
            tonic_reflection::pb::v1::server_reflection_server::SERVICE_NAME => {
                self.reflection.call(request)
            }
            _ => Box::pin(async {
                let (head, ()) = tonic::Status::unimplemented("")
                    .into_http::<()>()
                    .into_parts();
                Ok(http::Response::from_parts(head, Body::empty()))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_their_service() {
        assert_eq!(
            service_of("/keyroute.router.v1.RouterService/Complete"),
            "keyroute.router.v1.RouterService"
        );
        assert_eq!(
            service_of("/grpc.health.v1.Health/Check"),
            "grpc.health.v1.Health"
        );
        assert_eq!(
            service_of("/grpc.health.v1.HealthX/Check"),
            "grpc.health.v1.HealthX"
        );
        for odd in ["", "/", "/NoMethod", "NoSlash/Method"] {
            assert_eq!(service_of(odd), "", "{odd:?}");
        }
    }
}
