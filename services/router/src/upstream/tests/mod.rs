//! The upstream client's own tests, against local servers: base URLs parsed once per text
//! (a key's changed base URL is never served from the old entry), TLS with ALPN (HTTP/2 or
//! HTTP/1.1), the platform's trust roots, the connect timeout over TLS, an HTTP/2 refusal
//! sent again, and the environment's proxies for trusted destinations only.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bases;
mod pools;
mod proxy;
mod tls;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use keyroute_proto::vault::v1::PrincipalKind;
use keyroute_tls::dev_pki::DevCa;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use keyroute_wire::canonical::pb::{self, content_part::Part};
use keyroute_wire::contract::Contract;
use keyroute_wire::registry;

use super::egress::Resolver;
use super::{LeasedKey, Target, Timeouts, Upstreams, client};

fn ring() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A test CA, a server certificate it issued (for `localhost` and 127.0.0.1), and a client
/// TLS configuration that trusts it (and nothing else).
struct Pki {
    client: rustls::ClientConfig,
    server: rustls::ServerConfig,
}

fn pki() -> Pki {
    let ca = DevCa::new("upstream test CA").unwrap();
    let leaf = ca.issue("upstream").unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.cert_pem().as_bytes()).unwrap())
        .unwrap();
    let client = rustls::ClientConfig::builder_with_provider(ring())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let chain = CertificateDer::pem_slice_iter(leaf.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap();
    let server = rustls::ServerConfig::builder_with_provider(ring())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    Pki { client, server }
}

/// An HTTPS server offering `alpn` that answers every request with its HTTP version.
async fn https_server(config: rustls::ServerConfig, alpn: &[&[u8]]) -> SocketAddr {
    counting_https_server(config, alpn, Arc::default()).await
}

/// [`https_server`], counting the connections it accepts in `accepted`.
async fn counting_https_server(
    mut config: rustls::ServerConfig,
    alpn: &[&[u8]],
    accepted: Arc<std::sync::atomic::AtomicUsize>,
) -> SocketAddr {
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let answer = hyper::service::service_fn(|request: http::Request<Incoming>| {
                    let version = format!("{:?}", request.version());
                    async move {
                        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from(version))))
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), answer)
                    .await;
            });
        }
    });
    addr
}

/// A trusted client (no policy, no proxy) with these TLS settings.
fn plain_client(tls: &rustls::ClientConfig, timeouts: Timeouts) -> client::HttpClient {
    client::build(tls, Resolver { policy: None }, None, timeouts.connect)
}

/// The body of an answer, whole.
async fn text(response: super::body::Response) -> String {
    let body = super::body::read_capped(response, 1 << 20, "test")
        .await
        .unwrap();
    String::from_utf8(body).unwrap()
}

/// A custom endpoint's key (its token `sk-a`) at `base_url`.
fn custom_key(id: &str, base_url: &str) -> LeasedKey {
    LeasedKey {
        id: id.into(),
        owner_id: "usr_1".into(),
        owner_kind: PrincipalKind::User,
        provider: "custom".into(),
        label: "mine".into(),
        config: HashMap::from([("base_url".to_owned(), base_url.to_owned())]),
        fingerprint: format!("custom:…{id}"),
        secret: SecretString::from(r#"{"apiKey":"sk-a"}"#.to_owned()),
    }
}

/// An OpenAI key, `sk-a`.
fn openai_key(id: &str) -> LeasedKey {
    LeasedKey {
        provider: "openai".into(),
        label: String::new(),
        config: HashMap::new(),
        fingerprint: format!("openai:…{id}"),
        secret: SecretString::from("sk-a".to_owned()),
        ..custom_key(id, "")
    }
}

fn loopback_upstreams() -> Upstreams {
    Upstreams::with_egress(
        HashMap::new(),
        Timeouts::default(),
        keyroute_egress::EgressPolicy::allowing_loopback(),
    )
    .unwrap()
}

fn question() -> pb::ChatRequest {
    pb::ChatRequest {
        model: "m".into(),
        messages: vec![pb::Message {
            role: pb::Role::User as i32,
            content: vec![pb::ContentPart {
                part: Some(Part::Text("hello".into())),
                ..Default::default()
            }],
            name: String::new(),
        }],
        ..Default::default()
    }
}

pub async fn complete(
    upstreams: &Upstreams,
    key: &LeasedKey,
) -> Result<pb::ChatResponse, keyroute_wire::error::WireError> {
    let provider = registry::provider(&key.provider).unwrap();
    let contract = Contract::new(provider, None, "m", &key.config);
    let target = Target {
        key,
        contract: &contract,
        model: "m",
    };
    upstreams.complete(target, &question()).await
}
