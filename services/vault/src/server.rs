//! Starting and stopping the vault: everything that can be wrong with the configuration is
//! found before a port is bound; then mTLS gRPC with health, authorization and tracing.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use keyroute_telemetry::probes::SidePorts;
use keyroute_tls::{ServerTls, TlsPaths};
use tokio::net::TcpListener;

use crate::convert::now_ms;
use crate::crypto::Keyring;
use crate::service::Vault;
use crate::storage::{Database, Store};

/// Why the vault could not start. `Config` problems exit with code 64.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Runtime(String),
}

/// What the vault needs to start.
#[derive(Debug, Clone)]
pub struct VaultSettings {
    pub listen: SocketAddr,
    /// Where the destinations keys carry may lead; others are refused when a key is added.
    pub egress: keyroute_egress::EgressPolicy,
    pub db: Database,
    pub kek_file: PathBuf,
    pub tls: TlsPaths,
    pub lease_ttl: Duration,
    pub tls_reload_interval: Duration,
    pub shutdown_grace: Duration,
    /// A plaintext `grpc.health.v1` port for Kubernetes probes; `None` for none.
    pub health_listen: Option<SocketAddr>,
    /// Where `/metrics` is served; `None` for nowhere.
    pub metrics_listen: Option<SocketAddr>,
}

/// A vault whose configuration checked out and whose port is bound, ready to serve.
#[derive(Debug)]
pub struct PreparedVault {
    listener: TcpListener,
    side_ports: SidePorts,
    tls: Arc<ServerTls>,
    vault: Vault,
    stopping: tokio::sync::watch::Sender<bool>,
    settings: VaultSettings,
    usage_retention: Duration,
}

impl PreparedVault {
    /// Loads TLS material and the keyring, opens and migrates the database, checks that the
    /// keyring can open every stored data key, and only then binds the port.
    pub async fn prepare(settings: VaultSettings) -> Result<Self, StartError> {
        let tls = ServerTls::from_files(settings.tls.clone())
            .map_err(|error| StartError::Config(format!("tls: {error}")))?;
        let keyring = Keyring::load(&settings.kek_file)
            .map_err(|error| StartError::Config(error.to_string()))?;
        warn_if_readable_by_others(&settings.kek_file);
        let store = Store::open(&settings.db, now_ms()).await.map_err(|error| {
            StartError::Runtime(format!("database {}: {error}", settings.db.describe()))
        })?;
        let (stopping, stop_signal) = tokio::sync::watch::channel(false);
        let vault = Vault::new(
            store,
            keyring,
            settings.kek_file.clone(),
            settings.lease_ttl,
            settings.egress.clone(),
            stop_signal,
        )
        .await
        .map_err(|error| StartError::Runtime(format!("listening for changes: {error}")))?;
        // Fails closed when the keyring lacks a version that stored credentials use.
        vault
            .reload_keyring()
            .await
            .map_err(|error| StartError::Config(error.to_string()))?;
        // Rows sealed before the routing config was in the AAD are re-sealed with it now,
        // before anything is served; a row that does not open is left as it is (and logged).
        vault
            .reseal_legacy_rows()
            .await
            .map_err(|error| StartError::Runtime(format!("re-sealing credentials: {error}")))?;
        let listener = TcpListener::bind(settings.listen).await.map_err(|error| {
            StartError::Runtime(format!("cannot listen on {}: {error}", settings.listen))
        })?;
        let side_ports = SidePorts::bind(settings.metrics_listen, settings.health_listen)
            .await
            .map_err(StartError::Runtime)?;
        Ok(Self {
            listener,
            side_ports,
            tls,
            vault,
            stopping,
            settings,
            usage_retention: crate::retention::DEFAULT_USAGE_RETENTION,
        })
    }

    /// Keeps raw usage rows this long instead of the default (checked by
    /// [`crate::retention::check_retention`]); totals are kept whatever it is.
    #[must_use]
    pub fn with_usage_retention(mut self, retention: Duration) -> Self {
        self.usage_retention = retention;
        self
    }

    pub fn local_addr(&self) -> Result<SocketAddr, StartError> {
        self.listener
            .local_addr()
            .map_err(|error| StartError::Runtime(error.to_string()))
    }

    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.side_ports.metrics_addr()
    }

    pub fn health_addr(&self) -> Option<SocketAddr> {
        self.side_ports.health_addr()
    }

    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// Serves until `shutdown` resolves, then reports NOT_SERVING, ends revocation streams
    /// and lets running requests finish within the grace period.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let Self {
            listener,
            side_ports,
            tls,
            vault,
            stopping,
            settings,
            usage_retention,
        } = self;
        let reloader = tls.spawn_reloader(settings.tls_reload_interval);
        let pruner = crate::retention::spawn_pruner(vault.clone(), usage_retention);
        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_serving::<keyroute_proto::vault::v1::vault_service_server::VaultServiceServer<Vault>>()
            .await;
        health
            .set_service_status("", tonic_health::ServingStatus::Serving)
            .await;
        let metrics_addr = side_ports.metrics_addr();
        let health_addr = side_ports.health_addr();
        let mut registry = prometheus_client::registry::Registry::default();
        let metrics = keyroute_telemetry::metrics::GrpcMetrics::register(
            &mut registry,
            "keyroute_vault_calls",
            "keyroute_vault_call_seconds",
        );
        vault.register_metrics(&mut registry);
        let side_tasks = side_ports.spawn(health_service.clone(), {
            let registry = Arc::new(registry);
            move |format: keyroute_telemetry::metrics::Format| format.encode(&registry)
        });
        let addr = listener.local_addr().ok();
        if let Some(addr) = addr {
            let metrics = metrics_addr.map_or_else(|| "off".to_owned(), |a| a.to_string());
            let probes = health_addr.map_or_else(|| "off".to_owned(), |a| a.to_string());
            tracing::info!(listen = %addr, metrics = %metrics, health = %probes, schema = Store::schema_version(), "vault serving");
        }

        let (drained_tx, drained_rx) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            shutdown.await;
            tracing::info!("vault shutting down");
            health
                .set_not_serving::<keyroute_proto::vault::v1::vault_service_server::VaultServiceServer<Vault>>()
                .await;
            health
                .set_service_status("", tonic_health::ServingStatus::NotServing)
                .await;
            let _ = stopping.send(true);
            let _ = drained_tx.send(());
        };
        let server = tonic::transport::Server::builder()
            .layer(keyroute_telemetry::GrpcTraceLayer)
            .layer(keyroute_telemetry::metrics::GrpcMetricsLayer(metrics))
            .layer(crate::authz::AuthorizeLayer)
            .add_service(health_service)
            .add_service(vault.into_service())
            .serve_with_incoming_shutdown(keyroute_tls::incoming(listener, tls), signal);
        tokio::pin!(server);
        let grace = settings.shutdown_grace;
        let result = tokio::select! {
            result = &mut server => result,
            () = async {
                let _ = drained_rx.await;
                tokio::time::sleep(grace).await;
            } => {
                tracing::warn!(grace = ?grace, "requests still running after the grace period; stopping anyway");
                Ok(())
            }
        };
        reloader.abort();
        pruner.abort();
        drop(side_tasks);
        result.map_err(|error| StartError::Runtime(format!("server failed: {error}")))
    }
}

/// The KEK file should not be readable by other users. Group read is allowed: on
/// Kubernetes a Secret volume is readable by the pod's `fsGroup`, which is the vault's.
fn warn_if_readable_by_others(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(metadata) = std::fs::metadata(path)
        && metadata.permissions().mode() & 0o007 != 0
    {
        tracing::warn!(path = %path.display(), "kek file is readable by other users; use mode 0600, 0440 or 0400");
    }
}
