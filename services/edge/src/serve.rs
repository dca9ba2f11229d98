//! The edge's HTTP server: serves the route table on a listener until told to stop, then
//! lets running requests and streams finish.

use std::future::Future;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;

use crate::app;
use crate::state::{Edge, EdgeError};

impl Edge {
    /// Serves on `listener` until `shutdown`, then waits for running requests and streams.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), EdgeError> {
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(listen = %addr, "edge serving");
        }
        // Small writes (an SSE event, a response's last bytes) must leave at once: without
        // TCP_NODELAY, Nagle's algorithm and the client's delayed ACK hold them ~40 ms.
        let listener = listener.tap_io(|tcp| {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!(%error, "cannot set TCP_NODELAY");
            }
        });
        axum::serve(listener, app::routes(self))
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|e| EdgeError::Serve(e.to_string()))
    }
}
