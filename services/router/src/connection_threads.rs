//! The router's gRPC port on connection threads (see `keyroute_serve`): each thread serves
//! the same services over HTTP/2 ([`keyroute_tls::serve_h2`]). A connection (its TLS handshake, its calls,
//! the upstream connections they open, see [`keyroute_serve::PerThread`]) stays
//! on one thread; stopping stops every server gracefully and waits for all of them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt;
use keyroute_serve::HandedConnections;
use keyroute_tls::{AnswerBody, GrpcServices, ServerTls};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::server::StartError;

/// The running threads; [`ConnectionThreads::stop`] ends them gracefully.
#[derive(Debug)]
pub struct ConnectionThreads {
    threads: keyroute_serve::ConnectionThreads<()>,
    stop: watch::Sender<bool>,
}

impl ConnectionThreads {
    /// `count` threads (one per core by default), serving `services` over mutual TLS;
    /// counts each authenticated connection in `connections`.
    pub fn start<S, B>(
        services: &S,
        tls: &Arc<ServerTls>,
        connections: &Arc<AtomicU64>,
        count: Option<std::num::NonZeroUsize>,
    ) -> Result<Self, StartError>
    where
        S: GrpcServices<B>,
        B: AnswerBody,
    {
        let (stop, stopping) = watch::channel(false);
        let threads = keyroute_serve::ConnectionThreads::start("router-conn", count, |handed| {
            serve(
                services.clone(),
                handed,
                tls.clone(),
                connections.clone(),
                stopping.clone(),
            )
        })
        .map_err(|error| {
            StartError::Runtime(format!("cannot start connection threads: {error}"))
        })?;
        Ok(Self { threads, stop })
    }

    /// Gives an accepted connection to the next thread.
    pub fn hand_over(&mut self, tcp: TcpStream, remote: SocketAddr) {
        self.threads.hand_over(tcp, remote);
    }

    /// Stops taking connections, shuts every server down gracefully (streams finish), and
    /// waits for all of them.
    pub async fn stop(self) -> Result<(), String> {
        let _ = self.stop.send(true);
        let panicked = self.threads.join().await.iter().any(Option::is_none);
        if panicked {
            return Err("a connection thread panicked".to_owned());
        }
        Ok(())
    }
}

/// One thread's server, until told to stop. Runs on the thread's runtime, so that the
/// handed sockets register with its reactor: registered with the work-stealing runtime's,
/// every read would wake one of its workers, which would then wake this thread.
async fn serve<S, B>(
    services: S,
    handed: HandedConnections,
    tls: Arc<ServerTls>,
    connections: Arc<AtomicU64>,
    mut stopping: watch::Receiver<bool>,
) where
    S: GrpcServices<B>,
    B: AnswerBody,
{
    let incoming = keyroute_tls::handed_over(handed, tls).inspect(move |accepted| {
        if accepted.is_ok() {
            connections.fetch_add(1, Ordering::Relaxed);
        }
    });
    keyroute_tls::serve_h2(incoming, services, async move {
        let _ = stopping.wait_for(|stop| *stop).await;
    })
    .await;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::Duration;

    use keyroute_tls::{ClientTls, Identity, TestPki};
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    use super::*;

    /// A handed connection is served by its thread alone: the runtime that started the
    /// threads and accepted the connection is never driven again, yet the call on it is
    /// answered. (Registered with that runtime's reactor, the socket would never be read.)
    #[test]
    fn a_handed_connection_needs_nothing_but_its_thread() {
        let pki = TestPki::new();
        let starter = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (mut threads, listener) = starter.block_on(async {
            let (_reporter, health) = tonic_health::server::health_reporter();
            let tls = ServerTls::from_files(pki.paths("router")).unwrap();
            let connections = Arc::new(AtomicU64::new(0));
            let threads = ConnectionThreads::start(&health, &tls, &connections, None);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            (threads.unwrap(), listener)
        });
        let address = listener.local_addr().unwrap().to_string();
        let client_tls = ClientTls::from_files(pki.paths("edge")).unwrap();
        let client = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let router = Identity::parse("spiffe://keyroute/router").unwrap();
                let channel = keyroute_tls::channel(&address, client_tls, router).unwrap();
                let mut health = HealthClient::new(channel);
                let call = health.check(HealthCheckRequest::default());
                tokio::time::timeout(Duration::from_secs(10), call).await
            })
        });
        let (tcp, remote) = starter.block_on(listener.accept()).unwrap();
        threads.hand_over(tcp, remote);

        let answer = client.join().unwrap();
        let answer = answer.expect("no answer without the starting runtime");
        assert_eq!(answer.unwrap().into_inner().status, 1, "serving");
        starter.block_on(threads.stop()).unwrap();
    }
}
