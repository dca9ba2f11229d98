//! The client side: a TLS config that reloads from disk, and tonic channels whose connections
//! present our certificate and verify the server's SPIFFE identity.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use http::Uri;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tonic::transport::{Channel, Endpoint};

use crate::coalesce::Coalesced;
use crate::crypto::provider;
use crate::error::TlsError;
use crate::identity::Identity;
use crate::material::{Material, RawFiles, TlsPaths};
use crate::verify::SpiffeServerVerifier;

/// Client TLS material that reloads from its files; each new connection uses the current one.
pub struct ClientTls {
    paths: TlsPaths,
    material: ArcSwap<Material>,
    loaded: Mutex<RawFiles>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("paths", &self.paths)
            .field("identity", &self.material.load().identity)
            .finish_non_exhaustive()
    }
}

impl ClientTls {
    /// Loads the files; fails if any is missing, malformed, or the certificate has no identity.
    pub fn from_files(paths: TlsPaths) -> Result<Arc<Self>, TlsError> {
        let raw = RawFiles::read(&paths)?;
        let material = Material::parse(&paths, &raw)?;
        Ok(Arc::new(Self {
            paths,
            material: ArcSwap::from_pointee(material),
            loaded: Mutex::new(raw),
        }))
    }

    /// Our own identity, from our certificate.
    pub fn identity(&self) -> Identity {
        self.material.load().identity.clone()
    }

    /// Rereads the files and swaps in new material if they changed and parse.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let raw = RawFiles::read(&self.paths)?;
        let mut loaded = self
            .loaded
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if *loaded == raw {
            return Ok(false);
        }
        let material = Material::parse(&self.paths, &raw)?;
        self.material.store(Arc::new(material));
        *loaded = raw;
        Ok(true)
    }

    /// Polls the files every `interval` and reloads on change, for as long as `self` lives.
    pub fn spawn_reloader(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        crate::reload::spawn(Arc::downgrade(self), interval, "client", |tls| {
            (tls.reload(), tls.paths.cert.clone())
        })
    }

    /// A rustls config for one connection to a server that must prove `expected`.
    pub fn config_for(&self, expected: Option<&Identity>) -> Result<Arc<ClientConfig>, TlsError> {
        let material = self.material.load();
        let provider = provider();
        let verifier = Arc::new(SpiffeServerVerifier {
            roots: material.roots.clone(),
            provider: provider.clone(),
            expected: expected.cloned(),
        });
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_auth_cert(material.chain.clone(), material.key.clone_key())?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Arc::new(config))
    }
}

/// A TLS connection to `host:port` (brackets around an IPv6 host are allowed) whose server
/// proves `expected`, presenting our certificate; HTTP/2 negotiated, writes coalesced.
pub(crate) async fn connect(
    host: &str,
    port: u16,
    tls: &ClientTls,
    expected: &Identity,
) -> std::io::Result<Coalesced<TlsStream<TcpStream>>> {
    let host = host.trim_matches(['[', ']']).to_owned();
    let tcp = TcpStream::connect((host.as_str(), port)).await?;
    tcp.set_nodelay(true)?;
    let config = tls
        .config_for(Some(expected))
        .map_err(std::io::Error::other)?;
    // The verifier checks the SPIFFE identity; the name only fills in SNI.
    let name = ServerName::try_from(host)
        .map_err(std::io::Error::other)?
        .to_owned();
    let stream = TlsConnector::from(config).connect(name, tcp).await?;
    Ok(Coalesced::new(stream))
}

/// A lazily connecting HTTP/2 channel to `address` (`host:port`, with or without a scheme)
/// that must be served by `expected`.
pub fn channel(
    address: &str,
    tls: Arc<ClientTls>,
    expected: Identity,
) -> Result<Channel, TlsError> {
    let authority = address
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let endpoint_error = |reason: String| TlsError::Endpoint {
        endpoint: address.to_owned(),
        reason,
    };
    let endpoint = Endpoint::from_shared(format!("http://{authority}"))
        .map_err(|error| endpoint_error(error.to_string()))?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(20))
        .keep_alive_timeout(Duration::from_secs(10))
        .keep_alive_while_idle(true);
    let connector = tower::service_fn(move |uri: Uri| {
        let tls = tls.clone();
        let expected = expected.clone();
        async move {
            let host = uri.host().unwrap_or("localhost").to_owned();
            let port = uri.port_u16().unwrap_or(443);
            let stream = connect(&host, port, &tls, &expected).await?;
            Ok::<_, std::io::Error>(TokioIo::new(stream))
        }
    });
    Ok(endpoint.connect_with_connector_lazy(connector))
}
