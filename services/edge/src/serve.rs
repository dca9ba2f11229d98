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
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use axum::extract::ConnectInfo;
use bytes::Bytes;
use futures::TryFutureExt;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use keyroute_serve::{ConnectionThreads, HandedConnections};
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

/// What every connection task shares.
#[derive(Clone)]
struct Shared {
    app: axum::Router,
    builder: Arc<Builder<TokioExecutor>>,
    limits: HttpLimits,
    /// Turns true when the server stops: connections shut down gracefully.
    stopping: watch::Receiver<bool>,
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
        let shared = Shared {
            app: app::routes(self),
            builder: Arc::new(builder(&limits)),
            limits,
            stopping,
        };
        // Connections are served on connection threads (see `keyroute_serve`): a
        // connection's requests and what they call (the router in this process, its
        // upstream connections, or this thread's own channel to a network router; see
        // `RouterConn::client`) stay on one thread.
        let mut threads =
            ConnectionThreads::start("edge-conn", limits.connection_threads, |handed| {
                serve_handed(shared.clone(), handed)
            })
            .map_err(|error| {
                EdgeError::Serve(format!("cannot start connection threads: {error}"))
            })?;
        keyroute_serve::accept_until(&listener, shutdown, |tcp, remote| {
            threads.hand_over(tcp, remote);
        })
        .await;
        drop(listener);
        let _ = stop.send(true);
        // Each thread ends once its connections have.
        threads.join().await;
        Ok(())
    }
}

/// One connection thread: serves what it is handed until the server stops, then waits
/// for its connections to end.
async fn serve_handed(shared: Shared, mut handed: HandedConnections) {
    let (running_here, running) = watch::channel(());
    while let Some((tcp, remote)) = handed.recv().await {
        match TcpStream::from_std(tcp) {
            Ok(tcp) => {
                let (shared, running) = (shared.clone(), running.clone());
                tokio::spawn(async move {
                    connection(shared, tcp, remote).await;
                    drop(running);
                });
            }
            Err(error) => tracing::debug!(client = %remote, %error, "cannot take a connection"),
        }
    }
    drop((shared, running));
    running_here.closed().await;
}

/// What a connection has served: requests started, and requests whose answer is not done
/// yet (from the moment the request arrives until its response body ends or is dropped).
#[derive(Debug, Default)]
struct Activity {
    started: AtomicU64,
    in_flight: AtomicUsize,
}

/// One request in flight; dropped with its response body.
#[derive(Debug)]
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: &Arc<Activity>) -> Self {
        activity.started.fetch_add(1, Ordering::Relaxed);
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        Self(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body that keeps its request counted in flight until it ends.
struct Tracked {
    body: axum::body::Body,
    _in_flight: InFlight,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Serves one connection until it ends, the client is too slow or idle, or the server
/// stops.
///
/// The first request head is due within the header timeout of the connect, or the
/// connection is dropped. After that, the connection is checked every idle timeout: when no
/// request started since the last check and none is in flight, it is closed gracefully
/// (HTTP/2: GOAWAY); still idle one period later (a client that ignores the GOAWAY), it is
/// dropped.
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
    } = shared;
    if *stopping.borrow() {
        return;
    }
    let activity = Arc::new(Activity::default());
    let service = {
        let activity = activity.clone();
        tower::service_fn(move |mut request: http::Request<Incoming>| {
            let in_flight = InFlight::start(&activity);
            request.extensions_mut().insert(ConnectInfo(remote));
            app.clone()
                .oneshot(request.map(axum::body::Body::new))
                .map_ok(move |response| {
                    response.map(|body| Tracked {
                        body,
                        _in_flight: in_flight,
                    })
                })
        })
    };
    let conn = builder
        .serve_connection_with_upgrades(TokioIo::new(tcp), TowerToHyperService::new(service));
    tokio::pin!(conn);
    let mut due = Instant::now() + limits.header_timeout;
    let mut seen = 0;
    let mut closing = false;
    let mut idle_closing = false;
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
            () = tokio::time::sleep_until(due) => {
                let started = activity.started.load(Ordering::Relaxed);
                if started == 0 {
                    tracing::debug!(client = %remote, "no request head within the header timeout; disconnecting");
                    return;
                }
                let idle = started == seen && activity.in_flight.load(Ordering::Relaxed) == 0;
                if !idle {
                    idle_closing = false;
                } else if idle_closing {
                    tracing::debug!(client = %remote, "idle connection did not close; dropping it");
                    return;
                } else {
                    if !closing {
                        conn.as_mut().graceful_shutdown();
                        closing = true;
                    }
                    idle_closing = true;
                }
                seen = started;
                due = Instant::now() + limits.idle_timeout;
            }
        }
    }
}
