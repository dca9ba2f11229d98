//! The edge's HTTP server: routes, shared state, and a graceful stop that lets running
//! streams finish.

use std::future::Future;
use std::sync::Arc;

use axum::routing::{get, post};
use keyroute_proto::router::v1::router_service_client::RouterServiceClient;
use keyroute_tls::{ClientTls, Identity};
use tokio::net::TcpListener;
use tonic::transport::Channel;

/// What every request handler shares; cheap to clone.
#[derive(Debug, Clone)]
pub struct Edge {
    pub router: RouterServiceClient<Channel>,
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
}

/// Why the edge could not start.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    #[error("router channel: {0}")]
    Router(String),
    #[error("http server: {0}")]
    Serve(String),
}

impl Edge {
    /// An edge whose router calls present `tls` (the edge's certificate) and expect the
    /// `router` identity. The channel connects lazily.
    pub fn connect(
        router: &str,
        tls: Arc<ClientTls>,
        body_limit: usize,
    ) -> Result<Self, EdgeError> {
        let identity = Identity::parse("router").map_err(|e| EdgeError::Router(e.to_string()))?;
        let channel = keyroute_tls::channel(router, tls, identity)
            .map_err(|e| EdgeError::Router(e.to_string()))?;
        Ok(Self {
            router: RouterServiceClient::new(channel),
            body_limit,
        })
    }

    /// The HTTP routes.
    pub fn app(self) -> axum::Router {
        axum::Router::new()
            .route(
                "/v1/chat/completions",
                post(crate::openai::chat_completions),
            )
            .route("/v1/models", get(crate::models::list))
            .route("/healthz", get(|| async { "ok" }))
            .with_state(self)
    }

    /// Serves on `listener` until `shutdown`, then waits for running requests and streams.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), EdgeError> {
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(listen = %addr, "edge serving");
        }
        axum::serve(listener, self.app())
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|e| EdgeError::Serve(e.to_string()))
    }
}
