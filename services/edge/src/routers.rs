//! The routers behind this edge: one lazily connected HTTP/2 channel per router address,
//! calls spread round-robin over the routers that are up, and the set kept current by
//! re-resolving the configured names, so that routers scale out and in (a Kubernetes
//! headless Service lists every router pod) without an edge restart.
//!
//! Or, when edge and router share a process (`keyroute dev`), the one router there, called
//! directly: no TCP, TLS or HTTP/2 on a hop that never leaves the process, and for model
//! calls no gRPC at all (its `RouterService`, typed; see [`RouterClient`]).

mod client;

pub use client::{DirectRouter, RouterClient, RouterEvents};

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use arc_swap::ArcSwap;
use futures::future::BoxFuture;
use keyroute_proto::contract::{header, size};
use keyroute_proto::router::v1::router_service_client::RouterServiceClient;
use keyroute_serve::PerThread;
use keyroute_telemetry::TraceContextService;
use keyroute_tls::{ClientTls, H2Channel, Identity, NotSent};
use tonic::body::Body;
use tonic::codegen::StdError;
use tower::util::BoxCloneSyncService;

/// A router's gRPC services called in this process (what the router's
/// `PreparedRouter::in_process` returns, boxed): its health check, for readiness.
pub type InProcessService =
    BoxCloneSyncService<http::Request<Body>, http::Response<Body>, Infallible>;

/// How calls reach one router.
#[derive(Debug, Clone)]
pub enum RouterTransport {
    /// An mTLS HTTP/2 channel to its address.
    Network(H2Channel),
    /// Its services, called directly: it runs in this process.
    InProcess(InProcessService),
}

/// A router transport that sends the current trace context: what router clients use.
pub type RouterChannel = TraceContextService<RouterTransport>;

impl tower::Service<http::Request<Body>> for RouterTransport {
    type Response = http::Response<Body>;
    // The channel's own error: failed calls read the same whichever transport, and
    // `never_reached` finds what it looks for in it.
    type Error = StdError;
    type Future = RouterFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match self {
            Self::Network(channel) => channel.poll_ready(cx),
            Self::InProcess(service) => service.poll_ready(cx).map_err(|never| match never {}),
        }
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        match self {
            Self::Network(channel) => RouterFuture::Network(channel.call(request)),
            Self::InProcess(service) => RouterFuture::InProcess(service.call(request)),
        }
    }
}

/// A router's answer, from either transport.
pub enum RouterFuture {
    Network(BoxFuture<'static, Result<http::Response<Body>, StdError>>),
    InProcess(BoxFuture<'static, Result<http::Response<Body>, Infallible>>),
}

impl fmt::Debug for RouterFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Network(_) => f.write_str("RouterFuture::Network"),
            Self::InProcess(_) => f.write_str("RouterFuture::InProcess"),
        }
    }
}

impl Future for RouterFuture {
    type Output = Result<http::Response<Body>, StdError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Both futures are boxed, so `Unpin`.
        match self.get_mut() {
            Self::Network(answer) => Pin::new(answer).poll(cx),
            Self::InProcess(answer) => Pin::new(answer).poll(cx).map_err(|never| match never {}),
        }
    }
}

/// Where a router is: an address, or this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouterAddr {
    Network(SocketAddr),
    InProcess,
}

impl fmt::Display for RouterAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Network(addr) => addr.fmt(f),
            Self::InProcess => f.write_str("in-process"),
        }
    }
}

/// How calls reach one router.
#[derive(Debug)]
enum Reach {
    /// Its channel: one per connection thread (a channel's connection is driven by a task on
    /// the runtime that made it, so a call on another thread's would wake that thread), and
    /// one shared elsewhere. Each thread's goes with the router when it leaves the set.
    Network(PerThread<H2Channel>),
    /// It runs in this process: its `RouterService` itself for calls, and its gRPC services
    /// for health checks.
    InProcess {
        router: DirectRouter,
        service: InProcessService,
    },
}

/// One router and how to reach it.
#[derive(Debug)]
pub struct RouterConn {
    pub addr: RouterAddr,
    reach: Reach,
    /// The largest message sent or received on it.
    message_limit: usize,
    /// Set when a call could not reach it; cleared by the next successful call or health
    /// check, and by re-resolution.
    down: AtomicBool,
}

impl RouterConn {
    /// A client for one call (a channel handle and a thin wrapper, or the router in this
    /// process: cheap); over gRPC, it sends the current trace context.
    pub fn client(&self) -> RouterClient {
        let channels = match &self.reach {
            Reach::InProcess { router, .. } => return RouterClient::Direct(router.clone()),
            Reach::Network(channels) => channels,
        };
        let transport = RouterTransport::Network(channels.get());
        let client = RouterServiceClient::new(keyroute_telemetry::traced(transport))
            .max_encoding_message_size(self.message_limit)
            .max_decoding_message_size(self.message_limit);
        RouterClient::Grpc(client)
    }

    /// The shared transport, for health checks.
    pub fn transport(&self) -> RouterTransport {
        match &self.reach {
            Reach::Network(channels) => RouterTransport::Network(channels.shared().clone()),
            Reach::InProcess { service, .. } => RouterTransport::InProcess(service.clone()),
        }
    }

    /// Records whether the last call reached this router.
    pub fn reached(&self, reached: bool) {
        self.down.store(!reached, Ordering::Relaxed);
    }

    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }
}

/// A lazily connecting channel to the router at `addr`, which must present the router's
/// identity, made with the edge's certificate `tls`.
fn network_channel(addr: impl fmt::Display, tls: &Arc<ClientTls>) -> Result<H2Channel, PoolError> {
    let identity = Identity::parse("router").map_err(|e| PoolError::Channel(e.to_string()))?;
    H2Channel::new(&addr.to_string(), tls.clone(), identity)
        .map_err(|e| PoolError::Channel(e.to_string()))
}

/// Why no router could be used.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("router address {0:?} is not host:port")]
    Address(String),
    #[error("router channel: {0}")]
    Channel(String),
}

/// Where a pool's routers come from.
#[derive(Debug)]
enum Source {
    /// `host:port` names as configured, each of which may resolve to several addresses,
    /// reached with the edge's certificate.
    Names {
        targets: Vec<String>,
        tls: Arc<ClientTls>,
    },
    /// The one router in this process; never re-resolved.
    InProcess,
}

/// The routers this edge spreads calls over.
#[derive(Debug)]
pub struct RouterPool {
    source: Source,
    /// The largest gRPC message to or from a router.
    message_limit: usize,
    conns: ArcSwap<Vec<Arc<RouterConn>>>,
    next: AtomicUsize,
}

/// Whether a failed call never reached a router (nothing was sent, so another router may
/// take it): the channel says so ([`NotSent`]: no connection could be made, or the one it had
/// was closed or going away), or the router's GOAWAY said it would not process the stream (a
/// router shutting down; RFC 9113 section 6.8) or refused it (REFUSED_STREAM). A router's own
/// answers carry [`header::ERROR_ORIGIN`] and are never retried here.
pub fn never_reached(status: &tonic::Status) -> bool {
    if status.metadata().contains_key(header::ERROR_ORIGIN) {
        return false;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(status);
    while let Some(error) = source {
        if error.is::<NotSent>() {
            return true;
        }
        if let Some(h2) = error.downcast_ref::<h2::Error>()
            && h2.is_remote()
            && (h2.is_go_away() || h2.reason() == Some(h2::Reason::REFUSED_STREAM))
            && matches!(
                h2.reason(),
                Some(h2::Reason::NO_ERROR | h2::Reason::REFUSED_STREAM)
            )
        {
            return true;
        }
        source = error.source();
    }
    false
}

impl RouterPool {
    /// A pool over `targets` (each `host:port`) whose messages fit the default body limit;
    /// see [`RouterPool::with_message_limit`].
    pub async fn new(targets: &[String], tls: Arc<ClientTls>) -> Result<Arc<Self>, PoolError> {
        let limit = size::grpc_message_limit(size::DEFAULT_BODY_LIMIT);
        Self::with_message_limit(targets, tls, limit).await
    }

    /// A pool over `targets` (each `host:port`) that sends and receives messages up to
    /// `message_limit` bytes; resolves them once now. A name that does not resolve yet is
    /// not an error: routers may start after the edge.
    pub async fn with_message_limit(
        targets: &[String],
        tls: Arc<ClientTls>,
        message_limit: usize,
    ) -> Result<Arc<Self>, PoolError> {
        for target in targets {
            let valid = target
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !valid {
                return Err(PoolError::Address(target.clone()));
            }
        }
        let pool = Arc::new(Self {
            source: Source::Names {
                targets: targets.to_vec(),
                tls,
            },
            message_limit,
            conns: ArcSwap::from_pointee(Vec::new()),
            next: AtomicUsize::new(0),
        });
        pool.refresh().await?;
        Ok(pool)
    }

    /// A pool of the one router in this process: calls go to `router` directly, health
    /// checks to its gRPC services, `service` (whose messages, as a network pool's, are up
    /// to `message_limit` bytes).
    pub fn in_process(
        service: InProcessService,
        router: DirectRouter,
        message_limit: usize,
    ) -> Arc<Self> {
        let conn = RouterConn {
            addr: RouterAddr::InProcess,
            reach: Reach::InProcess { router, service },
            message_limit,
            down: AtomicBool::new(false),
        };
        Arc::new(Self {
            source: Source::InProcess,
            message_limit,
            conns: ArcSwap::from_pointee(vec![Arc::new(conn)]),
            next: AtomicUsize::new(0),
        })
    }

    /// Resolves every target again and swaps in the new set, keeping the channels of
    /// addresses still present (and their connections). Nothing to do for the router in
    /// this process.
    pub async fn refresh(&self) -> Result<(), PoolError> {
        let Source::Names { targets, tls } = &self.source else {
            return Ok(());
        };
        let mut addrs = Vec::new();
        for target in targets {
            match tokio::net::lookup_host(target.as_str()).await {
                Ok(found) => addrs.extend(found),
                Err(error) => {
                    tracing::warn!(target = %target, error = %error, "router name does not resolve");
                }
            }
        }
        addrs.sort_unstable();
        addrs.dedup();
        let current = self.conns.load();
        let addrs: Vec<RouterAddr> = addrs.into_iter().map(RouterAddr::Network).collect();
        if current.iter().map(|c| c.addr).eq(addrs.iter().copied()) {
            return Ok(());
        }
        let known: HashMap<RouterAddr, &Arc<RouterConn>> =
            current.iter().map(|c| (c.addr, c)).collect();
        let mut conns = Vec::with_capacity(addrs.len());
        for addr in addrs {
            if let Some(conn) = known.get(&addr) {
                conns.push(Arc::clone(conn));
                continue;
            }
            let template = network_channel(addr, tls)?;
            conns.push(Arc::new(RouterConn {
                addr,
                reach: Reach::Network(PerThread::new(move || template.unconnected())),
                message_limit: self.message_limit,
                down: AtomicBool::new(false),
            }));
        }
        let listed: Vec<String> = conns.iter().map(|c| c.addr.to_string()).collect();
        tracing::info!(routers = ?listed, "router set changed");
        self.conns.store(Arc::new(conns));
        Ok(())
    }

    /// Re-resolves every `every` until the pool is dropped.
    pub fn spawn_refresh(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let pool = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(pool) = pool.upgrade() else { return };
                if let Err(error) = pool.refresh().await {
                    tracing::warn!(error = %error, "router refresh failed");
                }
            }
        })
    }

    /// The next router to call, round-robin over those not marked down (over all of them
    /// when every one is down, so a recovered router is found again).
    pub fn pick(&self) -> Option<Arc<RouterConn>> {
        let conns = self.conns.load();
        let count = conns.len();
        if count == 0 {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..count)
            .map(|i| &conns[(start + i) % count])
            .find(|conn| !conn.is_down())
            .or_else(|| conns.get(start % count))
            .cloned()
    }

    /// How many routers a call may try: each address once.
    pub fn len(&self) -> usize {
        self.conns.load().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every router address now in the set (none for the router in this process).
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.conns
            .load()
            .iter()
            .filter_map(|c| match c.addr {
                RouterAddr::Network(addr) => Some(addr),
                RouterAddr::InProcess => None,
            })
            .collect()
    }

    /// Calls routers in turn, each with the next request `next` makes, while calls never
    /// reach their router (see [`never_reached`]); at most once per router. Any other
    /// outcome is final: a router that got the call owns it. `Unavailable` when no router
    /// could be reached or none is known.
    pub async fn call<Q, T, Fut>(
        &self,
        mut next: impl FnMut() -> Option<tonic::Request<Q>>,
        call: impl Fn(RouterClient, tonic::Request<Q>) -> Fut,
    ) -> Result<tonic::Response<T>, tonic::Status>
    where
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let mut last = None;
        for _ in 0..self.len().max(1) {
            let Some(conn) = self.pick() else { break };
            let Some(request) = next() else { break };
            match call(conn.client(), request).await {
                Ok(reply) => {
                    conn.reached(true);
                    return Ok(reply);
                }
                Err(status) if never_reached(&status) => {
                    tracing::warn!(router = %conn.addr, error = %status.message(), "router unreachable; trying another");
                    conn.reached(false);
                    last = Some(status);
                }
                Err(status) => {
                    conn.reached(true);
                    return Err(status);
                }
            }
        }
        let reason = last.map_or_else(
            || "no router is available: none of the router addresses resolves".to_owned(),
            |status| status.message().to_owned(),
        );
        Err(tonic::Status::unavailable(format!(
            "no router is reachable: {reason}"
        )))
    }

    /// Every router in the set.
    pub fn conns(&self) -> Arc<Vec<Arc<RouterConn>>> {
        self.conns.load_full()
    }
}
