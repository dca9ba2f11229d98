//! The edge's HTTP server: serves the route table on a listener until told to stop, then
//! lets running requests and streams finish.
//!
//! Each connection is served by hyper (HTTP/1 or HTTP/2, by what the client speaks) with
//! the edge's [`HttpLimits`]: a connection whose first request head has not arrived within
//! the header timeout is dropped, and one on which no new request starts for the idle
//! timeout is closed gracefully. Requests carry the client's address
//! (`ConnectInfo<SocketAddr>`) for the limit on failed token checks.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;
use tower::ServiceExt;

use crate::app;
use crate::limits::HttpLimits;
use crate::state::{Edge, EdgeError};

/// hyper's connection builder, with the edge's limits.
fn builder(limits: &HttpLimits) -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_headers(limits.max_headers)
        // The read buffer holds the whole head: a larger head is answered 431.
        .max_buf_size(limits.max_header_bytes);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.http2_max_streams)
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .keep_alive_interval(limits.http2_keep_alive_interval)
        .keep_alive_timeout(limits.http2_keep_alive_timeout);
    builder
}

/// Whether an accept error concerns one connection only (the listener is fine).
fn connection_error(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// What every connection task shares.
#[derive(Clone)]
struct Shared {
    app: axum::Router,
    builder: Arc<Builder<TokioExecutor>>,
    limits: HttpLimits,
    /// Turns true when the server stops: connections shut down gracefully.
    stopping: watch::Receiver<bool>,
    /// Held by every connection task; the server waits until none is left.
    _running: watch::Receiver<()>,
}

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
        let limits = self.limits;
        let (stop, stopping) = watch::channel(false);
        let (running_tx, running) = watch::channel(());
        let shared = Shared {
            app: app::routes(self),
            builder: Arc::new(builder(&limits)),
            limits,
            stopping,
            _running: running,
        };
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = &mut shutdown => break,
            };
            match accepted {
                Ok((tcp, remote)) => {
                    tokio::spawn(connection(shared.clone(), tcp, remote));
                }
                Err(error) if connection_error(&error) => {}
                Err(error) => {
                    // Out of file descriptors, most likely: give the running connections a
                    // moment to close some.
                    tracing::error!(%error, "cannot accept connections");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        drop(listener);
        let _ = stop.send(true);
        drop(shared);
        running_tx.closed().await;
        Ok(())
    }
}

/// Serves one connection until it ends, the client is too slow or idle, or the server
/// stops.
async fn connection(shared: Shared, tcp: TcpStream, remote: SocketAddr) {
    // Small writes (an SSE event, a response's last bytes) must leave at once: without
    // TCP_NODELAY, Nagle's algorithm and the client's delayed ACK hold them ~40 ms.
    if let Err(error) = tcp.set_nodelay(true) {
        tracing::debug!(%error, "cannot set TCP_NODELAY");
    }
    let Shared {
        app,
        builder,
        limits,
        mut stopping,
        _running,
    } = shared;
    let started = Arc::new(AtomicU64::new(0));
    let service = {
        let started = started.clone();
        tower::service_fn(move |mut request: http::Request<Incoming>| {
            started.fetch_add(1, Ordering::Relaxed);
            request.extensions_mut().insert(ConnectInfo(remote));
            app.clone().oneshot(request.map(axum::body::Body::new))
        })
    };
    let conn = builder
        .serve_connection_with_upgrades(TokioIo::new(tcp), TowerToHyperService::new(service));
    tokio::pin!(conn);
    // The first request head is due within the header timeout; after that, a new request
    // within each idle timeout.
    let mut due = Instant::now() + limits.header_timeout;
    let mut seen = 0;
    let mut closing = *stopping.borrow();
    if closing {
        return;
    }
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(client = %remote, %error, "connection ended with an error");
                }
                return;
            }
            changed = stopping.changed(), if !closing => {
                if changed.is_err() || *stopping.borrow() {
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
            () = tokio::time::sleep_until(due), if !closing => {
                let now_seen = started.load(Ordering::Relaxed);
                if now_seen == 0 {
                    tracing::debug!(client = %remote, "no request head within the header timeout; disconnecting");
                    return;
                }
                if now_seen == seen {
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                } else {
                    seen = now_seen;
                    due = Instant::now() + limits.idle_timeout;
                }
            }
        }
    }
}
