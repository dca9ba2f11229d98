use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use keyroute_router::cache::leases::LeaseCache;
use keyroute_router::in_process::InProcessRouter;
use keyroute_router::server::{PreparedRouter, RouterSettings};
use keyroute_router::upstream::Timeouts;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::TestVault;

/// A real router in this process on a loopback port, leasing from `vault`, with its
/// metrics and plaintext health-probe ports; stoppable gracefully.
pub struct TestRouter {
    pub addr: SocketAddr,
    pub metrics: SocketAddr,
    pub health: SocketAddr,
    pub leases: Arc<LeaseCache>,
    /// Its services as an edge in this process calls them (no port, no TLS).
    pub in_process: InProcessRouter,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// Where a test's catalog file is, kept until the router is dropped.
    _catalog_dir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for TestRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestRouter")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl TestRouter {
    /// Starts a router whose providers are at `base_urls` (provider id -> base URL), with
    /// loopback allowed for the keys' own destinations (as `keyroute dev` has it).
    pub async fn start(vault: &TestVault, base_urls: HashMap<String, String>) -> Self {
        let loopback = keyroute_egress::EgressPolicy::allowing_loopback();
        Self::start_with(vault, base_urls, loopback, Timeouts::default()).await
    }

    /// Starts a router with this egress policy and these upstream timeouts.
    pub async fn start_with(
        vault: &TestVault,
        base_urls: HashMap<String, String>,
        egress: keyroute_egress::EgressPolicy,
        timeouts: Timeouts,
    ) -> Self {
        Self::start_full(vault, base_urls, egress, timeouts, None, Default::default()).await
    }

    /// Starts a router (as [`TestRouter::start`]) counting rate limits as `rate_limits` says:
    /// in a Redis the test started, shared with other routers, over a short window.
    pub async fn start_with_rate_limits(
        vault: &TestVault,
        base_urls: HashMap<String, String>,
        rate_limits: keyroute_ratelimit::Settings,
    ) -> Self {
        let loopback = keyroute_egress::EgressPolicy::allowing_loopback();
        Self::start_full(
            vault,
            base_urls,
            loopback,
            Timeouts::default(),
            None,
            rate_limits,
        )
        .await
    }

    /// Starts a router (as [`TestRouter::start`]) with `catalog_json` as its catalog file,
    /// replacing or extending the built-in models: prices a test chose, so that its charges
    /// are exact. The file lives as long as the router.
    pub async fn start_with_catalog(
        vault: &TestVault,
        base_urls: HashMap<String, String>,
        catalog_json: &str,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.json");
        std::fs::write(&path, catalog_json).unwrap();
        let loopback = keyroute_egress::EgressPolicy::allowing_loopback();
        let mut router = Self::start_full(
            vault,
            base_urls,
            loopback,
            Timeouts::default(),
            Some(path),
            Default::default(),
        )
        .await;
        router._catalog_dir = Some(dir);
        router
    }

    async fn start_full(
        vault: &TestVault,
        base_urls: HashMap<String, String>,
        egress: keyroute_egress::EgressPolicy,
        timeouts: Timeouts,
        catalog: Option<std::path::PathBuf>,
        rate_limits: keyroute_ratelimit::Settings,
    ) -> Self {
        let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let settings = RouterSettings {
            listen: loopback,
            vault: vault.addr.to_string(),
            tls: vault.pki.paths("router"),
            base_urls,
            egress,
            catalog,
            token_cache_ttl: Duration::from_secs(10),
            timeouts,
            tls_reload_interval: Duration::from_secs(3600),
            shutdown_grace: Duration::from_secs(5),
            connection_threads: None,
            metrics_listen: Some(loopback),
            health_listen: Some(loopback),
            rate_limits,
        };
        let prepared = PreparedRouter::prepare(settings).await.unwrap();
        let addr = prepared.local_addr().unwrap();
        let metrics = prepared.metrics_addr().unwrap();
        let health = prepared.health_addr().unwrap();
        let leases = prepared.router().leases.clone();
        let in_process = prepared.in_process().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            prepared
                .serve(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self {
            addr,
            metrics,
            health,
            leases,
            in_process,
            stop: Some(stop),
            task: Some(task),
            _catalog_dir: None,
        }
    }

    /// Stops the router gracefully (streams drain, usage is flushed) and waits until it has.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }

    /// Its Prometheus text.
    pub async fn metrics_text(&self) -> String {
        let mut http = tokio::net::TcpStream::connect(self.metrics).await.unwrap();
        http.write_all(b"GET /metrics HTTP/1.1\r\nhost: router\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut text = String::new();
        http.read_to_string(&mut text).await.unwrap();
        text
    }

    /// How many requests it served successfully, from its metrics.
    pub async fn served(&self) -> u64 {
        self.metrics_text()
            .await
            .lines()
            .filter(|line| {
                line.starts_with("keyroute_router_requests_total{")
                    && line.contains("outcome=\"ok\"")
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }
}

impl Drop for TestRouter {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
