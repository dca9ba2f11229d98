//! A test server shared by this crate's integration tests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use keyroute_tls::{Identity, PeerInfo, ServerTls, TlsPaths, incoming};
use tokio::net::TcpListener;

/// A health server behind mTLS that records the identity and address of every caller.
pub struct TestServer {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Identity>>>,
    /// Each call's remote address: one per client connection.
    pub remotes: Arc<Mutex<Vec<SocketAddr>>>,
    pub tls: Arc<ServerTls>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    /// Stops serving (GOAWAY to every connection) and waits until the server has ended.
    pub async fn stop(mut self) {
        drop(self.shutdown.take());
        self.task.take().unwrap().await.unwrap();
    }
}

pub async fn serve(paths: TlsPaths) -> TestServer {
    serve_on(paths, "127.0.0.1:0".parse().unwrap()).await
}

/// A server on `addr` (port 0 for any).
pub async fn serve_on(paths: TlsPaths, addr: SocketAddr) -> TestServer {
    let tls = ServerTls::from_files(paths).unwrap();
    let listener = TcpListener::bind(addr).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let remotes = Arc::new(Mutex::new(Vec::new()));
    let (identities, addresses) = (seen.clone(), remotes.clone());
    let (_reporter, health) = tonic_health::server::health_reporter();
    let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
    let connections = incoming(listener, tls.clone());
    let task = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .layer(tonic::service::InterceptorLayer::new(
                move |request: tonic::Request<()>| {
                    let peer = request.extensions().get::<PeerInfo>().unwrap();
                    identities.lock().unwrap().push(peer.identity.clone());
                    addresses.lock().unwrap().extend(peer.remote_addr);
                    Ok(request)
                },
            ))
            .add_service(health)
            .serve_with_incoming_shutdown(connections, async {
                let _ = stop.await;
            })
            .await
            .unwrap();
    });
    TestServer {
        addr,
        seen,
        remotes,
        tls,
        shutdown: Some(shutdown),
        task: Some(task),
    }
}
