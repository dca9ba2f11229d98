//! What every request handler shares: the routers, the vault channel, the limits and the
//! metrics ([`Edge`]), how it is made from its settings, and the readiness check. The route
//! table (`app`) and the server (`serve`) build on it; it knows neither.

use std::sync::Arc;
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use keyroute_proto::contract::size;
use keyroute_proto::router::v1::router_service_server::RouterService;
use keyroute_proto::vault::v1::vault_service_client::VaultServiceClient;
use keyroute_telemetry::TracedChannel;
use keyroute_tls::{ClientTls, Identity};
use tonic::body::Body;
use tonic::client::GrpcService;
use tonic::codegen::{Body as HttpBody, Bytes, StdError};
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::auth_failures::{AuthFailures, AuthLimit};
use crate::limits::HttpLimits;
use crate::metrics::EdgeMetrics;
use crate::routers::{DirectRouter, PoolError, RouterEvents, RouterPool};

/// What every request handler shares. One `Arc`: the edge is cloned and dropped several
/// times per request (each layer's and handler's state), and one counter to move costs less
/// than one per field.
#[derive(Debug, Clone)]
pub struct Edge(Arc<Shared>);

impl std::ops::Deref for Edge {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The edge's state behind its handle ([`Edge`]).
#[derive(Debug)]
pub struct Shared {
    pub routers: Arc<RouterPool>,
    /// The vault, for the management API (the caller's token travels with each call) and
    /// readiness.
    vault_channel: Channel,
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
    /// The longest a model call may take, streams included (sent as the gRPC deadline).
    pub request_timeout: Duration,
    /// Connection and request limits of the HTTP server.
    pub limits: HttpLimits,
    /// Failed token checks: the negative cache and the per-address limit.
    pub auth_failures: Arc<AuthFailures>,
    pub metrics: Arc<EdgeMetrics>,
    /// How console sessions are made.
    pub session: SessionSettings,
}

/// The console's sessions: how long one lasts, and whether its cookies are always `Secure`
/// (they are whenever the request came over TLS, which the edge learns from its proxy's
/// `X-Forwarded-Proto` or `Forwarded` header, since TLS ends before the edge).
#[derive(Debug, Clone, Copy)]
pub struct SessionSettings {
    pub ttl: Duration,
    pub always_secure: bool,
}

impl Default for SessionSettings {
    /// Twelve-hour sessions, `Secure` when the request came over TLS.
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(12 * 3600),
            always_secure: false,
        }
    }
}

/// Where the edge finds its peers and how it treats requests.
#[derive(Debug, Clone)]
pub struct EdgeSettings {
    /// Router addresses (`host:port`); a name may resolve to many routers.
    pub routers: Vec<String>,
    /// How often router names are resolved again.
    pub router_refresh: Duration,
    /// The vault's address (`host:port`).
    pub vault: String,
    pub body_limit: usize,
    /// The longest a model call may take, streams included.
    pub request_timeout: Duration,
    pub limits: HttpLimits,
    pub auth_limit: AuthLimit,
    pub session: SessionSettings,
}

impl Default for EdgeSettings {
    /// One router and the vault on their default loopback ports, and default limits.
    fn default() -> Self {
        Self {
            routers: vec!["127.0.0.1:7444".into()],
            router_refresh: Duration::from_secs(5),
            vault: "127.0.0.1:7443".into(),
            body_limit: size::DEFAULT_BODY_LIMIT,
            request_timeout: Duration::from_secs(600),
            limits: HttpLimits::default(),
            auth_limit: AuthLimit::default(),
            session: SessionSettings::default(),
        }
    }
}

/// Why the edge could not start.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Routers(#[from] PoolError),
    #[error("vault channel: {0}")]
    Vault(String),
    #[error("http server: {0}")]
    Serve(String),
}

/// Whether the service on `channel` (a channel, or a router in this process) answers its
/// gRPC health check as serving, within a second.
async fn serving<T>(channel: T) -> bool
where
    T: GrpcService<Body>,
    T::Error: Into<StdError>,
    T::ResponseBody: HttpBody<Data = Bytes> + Send + 'static,
    <T::ResponseBody as HttpBody>::Error: Into<StdError> + Send,
{
    let mut client = HealthClient::new(channel);
    let check = client.check(HealthCheckRequest {
        service: String::new(),
    });
    matches!(
        tokio::time::timeout(Duration::from_secs(1), check).await,
        Ok(Ok(reply)) if reply.get_ref().status() == ServingStatus::Serving
    )
}

/// The largest gRPC message to or from a router for `settings`, once the settings check out.
fn message_limit(settings: &EdgeSettings) -> Result<usize, EdgeError> {
    if settings.body_limit > size::MAX_BODY_LIMIT {
        return Err(EdgeError::Config(format!(
            "--body-limit may be at most {} bytes (what routers accept)",
            size::MAX_BODY_LIMIT
        )));
    }
    settings.limits.check().map_err(EdgeError::Config)?;
    Ok(size::grpc_message_limit(settings.body_limit))
}

impl Edge {
    /// An edge whose router and vault calls present `tls` (the edge's certificate). Router
    /// names are resolved now and then every `router_refresh` (the returned edge keeps that
    /// task); channels connect lazily.
    pub async fn connect(settings: &EdgeSettings, tls: Arc<ClientTls>) -> Result<Self, EdgeError> {
        let message_limit = message_limit(settings)?;
        let routers =
            RouterPool::with_message_limit(&settings.routers, tls.clone(), message_limit).await?;
        routers.spawn_refresh(settings.router_refresh);
        Self::with_routers(settings, tls, routers)
    }

    /// An edge whose one router runs in this process (`keyroute dev`): its calls go to
    /// `router` (the router's `PreparedRouter::in_process`) directly, not over the network,
    /// so `settings.routers` and `router_refresh` are not read: model calls to its
    /// `RouterService`, typed, and health checks to its gRPC services. The vault is still
    /// called over mTLS with `tls`.
    pub fn connect_in_process<S>(
        settings: &EdgeSettings,
        tls: Arc<ClientTls>,
        router: S,
    ) -> Result<Self, EdgeError>
    where
        S: tower::Service<
                http::Request<Body>,
                Response = http::Response<Body>,
                Error = std::convert::Infallible,
            > + RouterService<CompleteStreamStream = RouterEvents>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        let message_limit = message_limit(settings)?;
        let direct = DirectRouter::new(router.clone());
        let service = tower::util::BoxCloneSyncService::new(router);
        let routers = RouterPool::in_process(service, direct, message_limit);
        Self::with_routers(settings, tls, routers)
    }

    /// The rest of an edge, around its `routers`.
    fn with_routers(
        settings: &EdgeSettings,
        tls: Arc<ClientTls>,
        routers: Arc<RouterPool>,
    ) -> Result<Self, EdgeError> {
        let identity = Identity::parse("vault").map_err(|e| EdgeError::Vault(e.to_string()))?;
        let vault_channel = keyroute_tls::channel(&settings.vault, tls, identity)
            .map_err(|e| EdgeError::Vault(e.to_string()))?;
        Ok(Self(Arc::new(Shared {
            routers,
            vault_channel,
            body_limit: settings.body_limit,
            request_timeout: settings.request_timeout,
            limits: settings.limits,
            auth_failures: Arc::new(AuthFailures::new(settings.auth_limit)),
            metrics: EdgeMetrics::new(),
            session: settings.session,
        })))
    }

    /// A vault client (a channel handle and a thin wrapper: cheap), sending the current
    /// trace context.
    pub fn vault(&self) -> VaultServiceClient<TracedChannel> {
        VaultServiceClient::new(keyroute_telemetry::traced(Channel::clone(
            &self.vault_channel,
        )))
    }

    /// Ready when the vault and at least one router answer their health checks; the body
    /// says which is missing.
    pub async fn ready(&self) -> Response {
        let vault = serving(Channel::clone(&self.vault_channel));
        let conns = self.routers.conns();
        let routers = futures::future::join_all(conns.iter().map(|c| serving(c.transport())));
        let (vault, routers) = tokio::join!(vault, routers);
        for (conn, up) in conns.iter().zip(&routers) {
            conn.reached(*up);
        }
        let routers_up = routers.iter().filter(|up| **up).count();
        let body = serde_json::json!({
            "vault": if vault { "serving" } else { "unreachable" },
            "routers": { "serving": routers_up, "known": conns.len() },
        });
        let status = if vault && routers_up > 0 {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    }
}
