//! Starting and stopping the router: configuration checked before a port is bound; then
//! mTLS gRPC with health, reflection and tracing; streams get a bounded grace on shutdown.
//! An edge in the same process may call it without the port ([`PreparedRouter::in_process`]).

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use keyroute_proto::router::v1::router_service_server::RouterServiceServer;
use keyroute_telemetry::probes::SidePorts;
use keyroute_tls::{ClientTls, Identity, ServerTls, TlsPaths};
use tokio::net::TcpListener;
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::{HealthReporter, HealthService};
use tower::util::BoxCloneService;

use crate::cache::accounts::Accounts;
use crate::cache::leases::LeaseCache;
use crate::cache::reservations::Reservations;
use crate::cache::revocations::watch;
use crate::cache::tokens::TokenCache;
use crate::cache::usage::{UsageReporter, UsageTask};
use crate::catalog::LiveCatalog;
use crate::connection_threads::ConnectionThreads;
use crate::in_process::InProcessRouter;
use crate::metrics::Metrics;
use crate::platform::VaultPassThrough;
use crate::policy::cooldowns::Cooldowns;
use crate::port::PortServices;
use crate::service::Router;
use crate::upstream::{Timeouts, Upstreams};

/// How long a balance or budget read from the vault is trusted. This router's own calls
/// count against it at once; other routers' calls show within this long.
const ACCOUNT_CACHE_TTL: Duration = Duration::from_secs(2);
/// Longest a usage record waits before its batch goes to the vault.
const USAGE_FLUSH_INTERVAL: Duration = Duration::from_millis(500);
/// How often the operator's catalog file is looked at for changes (its size and time; the
/// contents only when those moved).
const CATALOG_POLL_INTERVAL: Duration = Duration::from_secs(5);
/// How long shutdown waits for the last usage records to reach the vault.
const USAGE_FLUSH_LIMIT: Duration = Duration::from_secs(10);

/// Why the router could not start. `Config` problems exit with code 64.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Runtime(String),
}

/// What the router needs to start.
#[derive(Debug, Clone)]
pub struct RouterSettings {
    pub listen: SocketAddr,
    pub vault: String,
    pub tls: TlsPaths,
    pub base_urls: HashMap<String, String>,
    /// Where destinations users supply may lead.
    pub egress: keyroute_egress::EgressPolicy,
    pub catalog: Option<PathBuf>,
    pub token_cache_ttl: Duration,
    pub timeouts: Timeouts,
    pub tls_reload_interval: Duration,
    pub shutdown_grace: Duration,
    /// How many connection threads serve the port; `None`: one per core.
    pub connection_threads: Option<std::num::NonZeroUsize>,
    /// Where `/metrics` is served; `None` turns it off.
    pub metrics_listen: Option<SocketAddr>,
    /// A plaintext `grpc.health.v1` port for Kubernetes probes; `None` for none.
    pub health_listen: Option<SocketAddr>,
    /// Where rate limits are counted (a shared Redis, or this process alone) and how.
    pub rate_limits: keyroute_ratelimit::Settings,
}

/// A router whose configuration checked out and whose port is bound.
#[derive(Debug)]
pub struct PreparedRouter {
    listener: TcpListener,
    side_ports: SidePorts,
    server_tls: Arc<ServerTls>,
    client_tls: Arc<ClientTls>,
    router: Router,
    /// Platforms' key management calls, passed to the vault.
    pass_through: VaultPassThrough,
    settings: RouterSettings,
    usage_task: UsageTask,
    /// The health statuses the port, the probe port and in-process callers read.
    health: HealthReporter,
    /// Set when shutdown begins: in-process callers are refused from then on.
    stopping: Arc<AtomicBool>,
}

impl PreparedRouter {
    pub async fn prepare(settings: RouterSettings) -> Result<Self, StartError> {
        let config = |error: String| StartError::Config(error);
        let server_tls =
            ServerTls::from_files(settings.tls.clone()).map_err(|e| config(format!("tls: {e}")))?;
        let client_tls =
            ClientTls::from_files(settings.tls.clone()).map_err(|e| config(format!("tls: {e}")))?;
        let catalog =
            LiveCatalog::open(settings.catalog.as_deref()).map_err(|e| config(e.to_string()))?;
        let vault_channel = crate::vault::channel(&settings.vault, client_tls.clone())
            .map_err(|e| config(e.to_string()))?;
        let pass_through = VaultPassThrough::new(vault_channel.clone());
        let metrics = Metrics::new();
        let vault = crate::vault::counted(vault_channel, metrics.vault.clone());
        let upstreams = Upstreams::with_egress(
            settings.base_urls.clone(),
            settings.timeouts,
            settings.egress.clone(),
        )
        .map_err(config)?;
        let limiter = keyroute_ratelimit::Limiter::new(settings.rate_limits.clone())
            .map_err(|e| config(format!("rate limits: {e}")))?;
        let (usage, usage_task) = UsageReporter::start(vault.clone(), USAGE_FLUSH_INTERVAL);
        let router = Router {
            accounts: Arc::new(Accounts::new(vault.clone(), ACCOUNT_CACHE_TTL)),
            reservations: Reservations::new(vault.clone()),
            usage: Arc::new(usage),
            vault: vault.clone(),
            tokens: Arc::new(TokenCache::new(vault.clone(), settings.token_cache_ttl)),
            leases: LeaseCache::new(vault),
            catalog: Arc::new(catalog),
            upstreams: Arc::new(upstreams),
            cooldowns: Arc::new(Cooldowns::new()),
            limiter,
            metrics,
        };
        let listener = TcpListener::bind(settings.listen).await.map_err(|e| {
            StartError::Runtime(format!("cannot listen on {}: {e}", settings.listen))
        })?;
        let side_ports = SidePorts::bind(settings.metrics_listen, settings.health_listen)
            .await
            .map_err(StartError::Runtime)?;
        let health = HealthReporter::new();
        // Serving once `serve` runs (an in-process caller may ask before).
        health
            .set_service_status("", ServingStatus::NotServing)
            .await;
        Ok(Self {
            listener,
            side_ports,
            server_tls,
            client_tls,
            router,
            pass_through,
            settings,
            usage_task,
            health,
            stopping: Arc::new(AtomicBool::new(false)),
        })
    }

    /// This router's services for the edge in this process, called without TCP, TLS or
    /// HTTP/2 (`keyroute dev`), as gRPC services or typed (its `RouterService`, with no
    /// encoding at all): each call is the edge's, as if it came with the edge's
    /// certificate. Its health check reports this router's status; once shutdown begins,
    /// calls are refused. The port keeps serving everyone else.
    pub fn in_process(&self) -> Result<InProcessRouter, StartError> {
        let edge = Identity::parse("edge").map_err(|e| StartError::Runtime(e.to_string()))?;
        Ok(InProcessRouter::new(
            self.router.clone(),
            self.health.clone(),
            edge,
            self.stopping.clone(),
        ))
    }

    pub fn local_addr(&self) -> Result<SocketAddr, StartError> {
        self.listener
            .local_addr()
            .map_err(|e| StartError::Runtime(e.to_string()))
    }

    /// Where `/metrics` is served, if it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.side_ports.metrics_addr()
    }

    pub fn health_addr(&self) -> Option<SocketAddr> {
        self.side_ports.health_addr()
    }

    pub fn router(&self) -> &Router {
        &self.router
    }

    /// Serves until `shutdown`, then reports NOT_SERVING and lets streams finish within the
    /// grace period.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let Self {
            listener,
            side_ports,
            server_tls,
            client_tls,
            router,
            pass_through,
            settings,
            usage_task,
            health,
            stopping,
        } = self;
        let reloaders = (
            server_tls.spawn_reloader(settings.tls_reload_interval),
            client_tls.spawn_reloader(settings.tls_reload_interval),
        );
        let catalog_watcher = router.catalog.spawn_watcher(CATALOG_POLL_INTERVAL);
        let vault = crate::vault::channel(&settings.vault, client_tls)
            .map(|channel| crate::vault::counted(channel, router.metrics.vault.clone()))
            .map_err(|e| StartError::Runtime(e.to_string()))?;
        let revocations = watch(vault, router.leases.clone(), router.tokens.clone());
        let health_service = HealthServer::new(HealthService::from_health_reporter(health.clone()));
        health.set_serving::<RouterServiceServer<Router>>().await;
        health.set_service_status("", ServingStatus::Serving).await;
        let side_tasks = side_ports.spawn(health_service.clone(), metrics_text(router.clone()));
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(keyroute_proto::FILE_DESCRIPTOR_SET)
            .build_v1()
            .map_err(|e| StartError::Runtime(format!("reflection: {e}")))?;
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(listen = %addr, vault = %settings.vault, "router serving");
        }
        let (drained_tx, drained_rx) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            shutdown.await;
            tracing::info!("router shutting down");
            stopping.store(true, Ordering::Relaxed);
            health
                .set_not_serving::<RouterServiceServer<Router>>()
                .await;
            // The overall status too: probes and edges ask for "" and stop sending here.
            health
                .set_service_status("", tonic_health::ServingStatus::NotServing)
                .await;
            let _ = drained_tx.send(());
        };
        let connections = router.metrics.connections.clone();
        let services = PortServices::traced(
            router,
            // Platforms manage their principals' keys here, never at the vault itself.
            pass_through,
            health_service,
            BoxCloneService::new(reflection),
        );
        let mut threads = ConnectionThreads::start(
            &services,
            &server_tls,
            &connections,
            settings.connection_threads,
        )?;
        let server = async move {
            keyroute_serve::accept_until(&listener, signal, |tcp, remote| {
                threads.hand_over(tcp, remote);
            })
            .await;
            drop(listener);
            threads.stop().await
        };
        tokio::pin!(server);
        let grace = settings.shutdown_grace;
        let result = tokio::select! {
            result = &mut server => result,
            () = async {
                let _ = drained_rx.await;
                tokio::time::sleep(grace).await;
            } => {
                tracing::warn!(grace = ?grace, "streams still running after the grace period; stopping anyway");
                Ok(())
            }
        };
        drop(revocations);
        drop(side_tasks);
        // Every served call has been metered by now: send what the vault has not seen.
        usage_task.finish(USAGE_FLUSH_LIMIT).await;
        reloaders.0.abort();
        reloaders.1.abort();
        if let Some(watcher) = catalog_watcher {
            watcher.abort();
        }
        result.map_err(StartError::Runtime)
    }
}

/// The router's `/metrics` text: its own series, the caches' (leases, balances, catalog
/// reloads) and the usage reporter's, read at each scrape.
fn metrics_text(
    router: Router,
) -> impl Fn(keyroute_telemetry::metrics::Format) -> String + Clone + Send + Sync + 'static {
    use keyroute_telemetry::metrics::sampled_counter;
    router.metrics.register(|registry| {
        router.usage.register(registry);
        let leases = router.leases.clone();
        registry.register(
            "keyroute_router_lease_cache_hits",
            "Leases served from memory",
            sampled_counter(move || leases.hits()),
        );
        let leases = router.leases.clone();
        registry.register(
            "keyroute_router_vault_lease_calls",
            "Leases fetched from the vault",
            sampled_counter(move || leases.vault_calls()),
        );
        let leases = router.leases.clone();
        registry.register(
            "keyroute_router_lease_refresh_failures",
            "Lease fetches the vault did not answer (the cached lease serves until it expires)",
            sampled_counter(move || leases.refresh_failures()),
        );
        let accounts = router.accounts.clone();
        registry.register(
            "keyroute_router_vault_balance_calls",
            "Balances fetched from the vault",
            sampled_counter(move || accounts.vault_calls()),
        );
        crate::metrics::register_rate_limits(registry, &router.limiter);
        let catalog = router.catalog.clone();
        registry.register(
            "keyroute_router_catalog_reloads",
            "Changed catalog files put in use",
            sampled_counter(move || catalog.reloads().loaded),
        );
        let catalog = router.catalog.clone();
        registry.register(
            "keyroute_router_catalog_reload_failures",
            "Changed catalog files refused (the catalog in use stayed)",
            sampled_counter(move || catalog.reloads().failed),
        );
    });
    move |format| router.metrics.render(format)
}
