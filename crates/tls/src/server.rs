//! The server side: a TLS config that reloads from disk, and a stream of authenticated
//! connections for `tonic::transport::Server::serve_with_incoming`. Handshakes run off the
//! accept loop, so one slow client cannot hold up the others.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;

use crate::crypto::provider;
use crate::error::TlsError;
use crate::identity::{Identity, identity_of_der};
use crate::material::{Material, RawFiles, TlsPaths};
use crate::verify::SpiffeClientVerifier;

/// How long a client may take to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A server TLS config that requires client certificates and reloads from its files.
#[derive(Debug)]
pub struct ServerTls {
    paths: TlsPaths,
    config: ArcSwap<ServerConfig>,
    identity: ArcSwap<Identity>,
    loaded: Mutex<RawFilesDigest>,
    /// Counts successful reloads, so callers can await one.
    generation: tokio::sync::watch::Sender<u64>,
}

/// What was loaded last; only compared, never printed.
struct RawFilesDigest(RawFiles);

impl std::fmt::Debug for RawFilesDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RawFilesDigest")
    }
}

impl ServerTls {
    /// Loads the files; fails if any is missing, malformed, or the certificate has no identity.
    pub fn from_files(paths: TlsPaths) -> Result<Arc<Self>, TlsError> {
        let raw = RawFiles::read(&paths)?;
        let material = Material::parse(&paths, &raw)?;
        let config = build_config(&material)?;
        Ok(Arc::new(Self {
            paths,
            config: ArcSwap::from_pointee(config),
            identity: ArcSwap::from_pointee(material.identity),
            loaded: Mutex::new(RawFilesDigest(raw)),
            generation: tokio::sync::watch::Sender::new(0),
        }))
    }

    /// This server's own identity, from its certificate.
    pub fn identity(&self) -> Identity {
        Identity::clone(&self.identity.load())
    }

    /// The current config; new connections use whatever is current when they arrive.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.config.load_full()
    }

    /// Rereads the files and swaps the config in if they changed and parse. Returns whether
    /// a new config was installed; on error the old one stays.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let raw = RawFiles::read(&self.paths)?;
        let mut loaded = self
            .loaded
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if loaded.0 == raw {
            return Ok(false);
        }
        let material = Material::parse(&self.paths, &raw)?;
        let config = build_config(&material)?;
        self.config.store(Arc::new(config));
        self.identity.store(Arc::new(material.identity));
        loaded.0 = raw;
        self.generation.send_modify(|generation| *generation += 1);
        Ok(true)
    }

    /// Changes each time a new config is installed.
    pub fn reloads(&self) -> tokio::sync::watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// Polls the files every `interval` and reloads on change, for as long as `self` lives.
    pub fn spawn_reloader(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        crate::reload::spawn(Arc::downgrade(self), interval, "server", |tls| {
            (tls.reload(), tls.paths.cert.clone())
        })
    }
}

fn build_config(material: &Material) -> Result<ServerConfig, TlsError> {
    let provider = provider();
    let inner =
        WebPkiClientVerifier::builder_with_provider(material.roots.clone(), provider.clone())
            .build()?;
    let verifier = Arc::new(SpiffeClientVerifier { inner });
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(material.chain.clone(), material.key.clone_key())?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// Who is on the other end of a connection, available to every request as an extension.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    pub identity: Identity,
    pub remote_addr: Option<SocketAddr>,
}

/// An established mTLS connection whose peer identity was verified in the handshake.
#[derive(Debug)]
pub struct TlsConnection {
    stream: TlsStream<TcpStream>,
    peer: PeerInfo,
}

impl TlsConnection {
    /// Who is on the other end, as the handshake verified.
    pub fn peer(&self) -> &PeerInfo {
        &self.peer
    }
}

impl Connected for TlsConnection {
    type ConnectInfo = PeerInfo;

    fn connect_info(&self) -> PeerInfo {
        self.peer.clone()
    }
}

impl AsyncRead for TlsConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Accepts TCP connections, completes each TLS handshake on its own task, and yields the
/// authenticated connections. Stops accepting when the returned stream is dropped.
pub fn incoming(
    listener: TcpListener,
    tls: Arc<ServerTls>,
) -> ReceiverStream<Result<TlsConnection, io::Error>> {
    let (hand, handed) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        keyroute_serve::accept_until(&listener, hand.closed(), |tcp, remote_addr| {
            match tcp.into_std() {
                Ok(tcp) => {
                    let _ = hand.send((tcp, remote_addr));
                }
                Err(error) => tracing::debug!(%remote_addr, %error, "cannot take a connection"),
            }
        })
        .await;
    });
    handed_over(handed, tls)
}

/// [`incoming`] for connections accepted elsewhere and handed over (as std sockets, so that
/// they register with this thread's runtime): each TLS handshake on its own task here.
/// Ends when the sender of `handed` is dropped.
pub fn handed_over(
    mut handed: keyroute_serve::HandedConnections,
    tls: Arc<ServerTls>,
) -> ReceiverStream<Result<TlsConnection, io::Error>> {
    let (sender, receiver) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let (tcp, remote_addr) = tokio::select! {
                () = sender.closed() => return,
                handed = handed.recv() => match handed {
                    Some(handed) => handed,
                    None => return,
                },
            };
            match TcpStream::from_std(tcp) {
                Ok(tcp) => {
                    tokio::spawn(handshake(tcp, remote_addr, tls.clone(), sender.clone()));
                }
                Err(error) => tracing::info!(%remote_addr, %error, "cannot take a connection"),
            }
        }
    });
    ReceiverStream::new(receiver)
}

/// Completes one TLS handshake within [`HANDSHAKE_TIMEOUT`] and sends the authenticated
/// connection on.
async fn handshake(
    tcp: TcpStream,
    remote_addr: SocketAddr,
    tls: Arc<ServerTls>,
    sender: tokio::sync::mpsc::Sender<Result<TlsConnection, io::Error>>,
) {
    let _ = tcp.set_nodelay(true);
    let acceptor = TlsAcceptor::from(tls.config());
    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await;
    let stream = match handshake {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            tracing::info!(%remote_addr, %error, "tls handshake failed");
            return;
        }
        Err(_) => {
            tracing::info!(%remote_addr, "tls handshake timed out");
            return;
        }
    };
    let identity = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|leaf| identity_of_der(leaf));
    let Some(Ok(identity)) = identity else {
        // The verifier already requires an identity; this is a second lock.
        tracing::info!(%remote_addr, "peer without identity after handshake");
        return;
    };
    let peer = PeerInfo {
        identity,
        remote_addr: Some(remote_addr),
    };
    let _ = sender.send(Ok(TlsConnection { stream, peer })).await;
}
