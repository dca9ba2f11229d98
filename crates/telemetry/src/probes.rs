//! A plaintext port with `grpc.health.v1` alone, for Kubernetes `grpc:` probes: the kubelet
//! cannot present a client certificate, so it cannot reach the mTLS port. The port answers
//! "serving or not" and nothing else; it shares the service's health reporter, so a
//! draining service reports NOT_SERVING here too.

use tokio::net::TcpListener;
use tonic_health::pb::health_server::{Health, HealthServer};

/// Serves `health` on `listener` until `shutdown` resolves.
pub async fn serve_health<H: Health>(
    listener: TcpListener,
    health: HealthServer<H>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let served = tonic::transport::Server::builder()
        .add_service(health)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await;
    if let Err(error) = served {
        tracing::warn!(%error, "health probe port stopped");
    }
}
