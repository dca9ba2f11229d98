//! A plaintext port with `grpc.health.v1` alone, for Kubernetes `grpc:` probes: the kubelet
//! cannot present a client certificate, so it cannot reach the mTLS port. The port answers
//! "serving or not" and nothing else; it shares the service's health reporter, so a
//! draining service reports NOT_SERVING here too. [`SidePorts`] binds it with `/metrics`.

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

/// A service's plaintext side ports, both optional: `/metrics` and the health probe port.
/// Bound before the service starts (a taken port is a start-up error), served once it runs,
/// stopped when the [`SidePortTasks`] are dropped.
#[derive(Debug, Default)]
pub struct SidePorts {
    metrics: Option<TcpListener>,
    health: Option<TcpListener>,
}

/// The running side ports; dropping them stops them.
#[derive(Debug)]
pub struct SidePortTasks(Vec<tokio::task::JoinHandle<()>>);

impl Drop for SidePortTasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

impl SidePorts {
    /// Binds the ports that are asked for; the error names the one that could not be bound.
    pub async fn bind(
        metrics: Option<std::net::SocketAddr>,
        health: Option<std::net::SocketAddr>,
    ) -> Result<Self, String> {
        async fn listen(
            addr: Option<std::net::SocketAddr>,
            what: &str,
        ) -> Result<Option<TcpListener>, String> {
            match addr {
                Some(addr) => TcpListener::bind(addr)
                    .await
                    .map(Some)
                    .map_err(|error| format!("cannot serve {what} on {addr}: {error}")),
                None => Ok(None),
            }
        }
        Ok(Self {
            metrics: listen(metrics, "metrics").await?,
            health: listen(health, "health probes").await?,
        })
    }

    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }

    pub fn health_addr(&self) -> Option<std::net::SocketAddr> {
        self.health.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Serves `/metrics` with `render`'s text (in the format the scraper asked for) and
    /// `health` on the probe port.
    pub fn spawn<H: Health>(
        self,
        health: HealthServer<H>,
        render: impl Fn(crate::metrics::Format) -> String + Clone + Send + Sync + 'static,
    ) -> SidePortTasks {
        let mut tasks = Vec::new();
        if let Some(listener) = self.metrics {
            tasks.push(tokio::spawn(crate::metrics::serve(listener, render)));
        }
        if let Some(listener) = self.health {
            tasks.push(tokio::spawn(serve_health(
                listener,
                health,
                std::future::pending(),
            )));
        }
        SidePortTasks(tasks)
    }
}
