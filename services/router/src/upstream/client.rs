//! The pooled HTTP clients: hyper-util's legacy client over TCP (no Nagle, the connect
//! timeout bounding TCP, proxy and TLS together), rustls on ring with the platform's trust
//! roots, HTTP/2 or HTTP/1.1 as ALPN decides, idle connections kept 90 s. Nothing else: no
//! redirects followed, no retries but a refused HTTP/2 stream's (see `send`), no request
//! cloned, no URL parsed per call.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::Uri;
use http_body_util::Full;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_rustls::{ConfigBuilderExt, HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tower_service::Service;

use super::egress::{BoxError, Resolver};
use super::proxy::Proxies;

/// How long an idle pooled connection is kept.
const POOL_IDLE: Duration = Duration::from_secs(90);

/// A pooled client for one kind of destination.
pub type HttpClient = Client<Connector, Full<Bytes>>;

type Connecting<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

/// The TLS settings of every upstream connection: ring, TLS 1.2 and 1.3, and the platform's
/// verifier (its trust roots, as reqwest's rustls backend used).
pub fn tls_config() -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("cannot configure TLS: {error}"))?
        .try_with_platform_verifier()
        .map_err(|error| format!("cannot load the platform's TLS verifier: {error}"))?
        .with_no_client_auth())
}

/// TCP connections made the same way for every client (and proxy connection).
pub fn tcp(resolver: Resolver, connect: Duration) -> HttpConnector<Resolver> {
    let mut tcp = HttpConnector::new_with_resolver(resolver);
    // TLS is added above it, so https URIs come through here too.
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(Some(connect));
    tcp
}

/// A client whose connections resolve names with `resolver` and, when `proxies` are given,
/// go through the one the environment names for their destination.
pub fn build(
    tls: &rustls::ClientConfig,
    resolver: Resolver,
    proxies: Option<Arc<Proxies>>,
    connect: Duration,
) -> HttpClient {
    let mut tls = tls.clone();
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let transport = Transport {
        tcp: tcp(resolver, connect),
        proxies,
    };
    let connector = Connector {
        https: HttpsConnector::from((transport, tls)),
        timeout: connect,
    };
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .build(connector)
}

/// The connector of a pooled client: TLS when the scheme says so, over the transport, all
/// within the connect timeout.
#[derive(Debug, Clone)]
pub struct Connector {
    https: HttpsConnector<Transport>,
    timeout: Duration,
}

impl Service<Uri> for Connector {
    type Response = MaybeHttpsStream<Io>;
    type Error = BoxError;
    type Future = Connecting<Self::Response>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let connecting = self.https.call(dst);
        let timeout = self.timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, connecting).await {
                Ok(connected) => connected,
                Err(_) => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no connection within {} ms", timeout.as_millis()),
                )
                .into()),
            }
        })
    }
}

/// The connection under TLS: TCP to the destination, or through a proxy.
#[derive(Debug, Clone)]
pub struct Transport {
    tcp: HttpConnector<Resolver>,
    proxies: Option<Arc<Proxies>>,
}

impl Service<Uri> for Transport {
    type Response = Io;
    type Error = BoxError;
    type Future = Connecting<Io>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        if let Some(proxies) = &self.proxies
            && let Some(via) = proxies.intercept(&dst)
        {
            let proxies = proxies.clone();
            return Box::pin(async move { proxies.connect(dst, via).await });
        }
        let connecting = self.tcp.call(dst);
        Box::pin(async move {
            let tcp = connecting.await?;
            Ok(Io {
                inner: MaybeHttpsStream::Http(tcp),
                forwarded: false,
            })
        })
    }
}

/// One connection: to the destination (possibly through a proxy's tunnel), or to a proxy
/// that forwards plain-HTTP requests (sent in absolute form).
#[derive(Debug)]
pub struct Io {
    pub(super) inner: MaybeHttpsStream<TokioIo<TcpStream>>,
    pub(super) forwarded: bool,
}

impl Connection for Io {
    fn connected(&self) -> Connected {
        self.inner.connected().proxy(self.forwarded)
    }
}

impl Read for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl Write for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
}
