//! The threads the router's gRPC connections are served on: one single-threaded runtime per
//! core, each with a tonic server of its own over the same routes. A connection (its TLS
//! handshake, its calls, the upstream connections they open, see
//! [`crate::upstream::client::ThreadPooled`]) stays on one thread. On tokio's work-stealing
//! runtime each call woke other worker threads several times, and on a virtual machine each
//! such wake-up costs tens of microseconds. Accepted connections are dealt out in turn.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt;
use keyroute_tls::ServerTls;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tonic::service::Routes;

use crate::server::StartError;

type Handed = (std::net::TcpStream, SocketAddr);

/// The running threads; [`ConnectionThreads::stop`] ends them gracefully.
#[derive(Debug)]
pub struct ConnectionThreads {
    hands: Vec<mpsc::UnboundedSender<Handed>>,
    next: usize,
    stop: watch::Sender<bool>,
    finished: Vec<oneshot::Receiver<Result<(), String>>>,
}

impl ConnectionThreads {
    /// One thread per core the process may use, serving `routes` over mutual TLS; counts
    /// each authenticated connection in `connections`.
    pub fn start(
        routes: &Routes,
        tls: &Arc<ServerTls>,
        connections: &Arc<AtomicU64>,
    ) -> Result<Self, StartError> {
        let count = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (stop, stopping) = watch::channel(false);
        let mut threads = Self {
            hands: Vec::with_capacity(count),
            next: 0,
            stop,
            finished: Vec::with_capacity(count),
        };
        for index in 0..count {
            let (hand, handed) = mpsc::unbounded_channel();
            let (done, finished) = oneshot::channel();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|error| StartError::Runtime(format!("cannot start a runtime: {error}")))?;
            let serving = serve(
                routes.clone(),
                keyroute_tls::handed_over(handed, tls.clone()),
                connections.clone(),
                stopping.clone(),
            );
            std::thread::Builder::new()
                .name(format!("router-conn-{index}"))
                .spawn(move || {
                    let _ = done.send(runtime.block_on(serving));
                })
                .map_err(|error| StartError::Runtime(format!("cannot start a thread: {error}")))?;
            threads.hands.push(hand);
            threads.finished.push(finished);
        }
        Ok(threads)
    }

    /// Gives an accepted connection to the next thread.
    pub fn hand_over(&mut self, tcp: TcpStream, remote: SocketAddr) {
        let tcp = match tcp.into_std() {
            Ok(tcp) => tcp,
            Err(error) => {
                tracing::info!(%remote, %error, "cannot hand over a connection");
                return;
            }
        };
        self.next = (self.next + 1) % self.hands.len();
        if self.hands[self.next].send((tcp, remote)).is_err() {
            tracing::error!("a connection thread stopped; connection dropped");
        }
    }

    /// Stops taking connections, shuts every server down gracefully (streams finish), and
    /// waits for all of them.
    pub async fn stop(self) -> Result<(), String> {
        let Self {
            hands,
            stop,
            finished,
            ..
        } = self;
        drop(hands);
        let _ = stop.send(true);
        let mut result = Ok(());
        for thread in finished {
            let outcome = thread
                .await
                .unwrap_or_else(|_| Err("a connection thread ended without a word".to_owned()));
            if result.is_ok() {
                result = outcome;
            }
        }
        result
    }
}

/// One thread's tonic server, until told to stop.
async fn serve(
    routes: Routes,
    incoming: impl futures::Stream<Item = Result<keyroute_tls::TlsConnection, std::io::Error>>
    + Send
    + 'static,
    connections: Arc<AtomicU64>,
    mut stopping: watch::Receiver<bool>,
) -> Result<(), String> {
    let incoming = incoming.inspect(move |accepted| {
        if accepted.is_ok() {
            connections.fetch_add(1, Ordering::Relaxed);
        }
    });
    tonic::transport::Server::builder()
        .layer(keyroute_telemetry::GrpcTraceLayer)
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        })
        .await
        .map_err(|error| format!("server failed: {error}"))
}
