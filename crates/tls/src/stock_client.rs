//! A gRPC channel as a stock client makes it (grpcio, grpc-go, tonic's own TLS): the server's
//! chain checked against the CA and its DNS name against the host it was dialled by, with
//! rustls' standard WebPKI verifier and no SPIFFE check, presenting a client certificate. For
//! tests that prove an internal platform's ordinary client accepts keyroute's certificates
//! (keyroute's own clients check the SPIFFE id instead, see `channel`).

use std::sync::Arc;

use http::Uri;
use hyper_util::rt::TokioIo;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tonic::transport::{Channel, Endpoint};

use crate::crypto::provider;
use crate::material::TlsPaths;

/// A lazily connecting channel to `address` (`host:port`) whose server must present a
/// certificate from `paths.ca` valid for `host`; ours is `paths.cert` and `paths.key`.
///
/// # Panics
/// When a file is missing or not PEM: this is test scaffolding.
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub fn stock_channel(address: &str, paths: &TlsPaths) -> Channel {
    let read = |path: &std::path::Path| {
        std::fs::read(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
    };
    let mut roots = RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(&read(&paths.ca)) {
        roots.add(ca.unwrap()).unwrap();
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(&paths.cert))
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(&read(&paths.key)).unwrap();
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let config = Arc::new(config);
    let connector = tower::service_fn(move |uri: Uri| {
        let config = config.clone();
        async move {
            let host = uri.host().unwrap_or_default().to_owned();
            let port = uri.port_u16().unwrap_or(443);
            let tcp = TcpStream::connect((host.as_str(), port)).await?;
            let name = ServerName::try_from(host).map_err(std::io::Error::other)?;
            let stream = TlsConnector::from(config).connect(name, tcp).await?;
            Ok::<_, std::io::Error>(TokioIo::new(stream))
        }
    });
    Endpoint::from_shared(format!("http://{address}"))
        .expect("a host:port address")
        .connect_with_connector_lazy(connector)
}
