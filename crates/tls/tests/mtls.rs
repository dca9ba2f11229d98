//! mTLS end to end over loopback with real certificates: who gets in, who does not, what
//! identity the server sees, and certificate reload without a restart.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;

use keyroute_tls::{ClientTls, Identity, TestPki, TlsPaths, channel};
use support::serve;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

async fn check(
    addr: std::net::SocketAddr,
    client: TlsPaths,
    expected: &str,
) -> Result<(), tonic::Status> {
    let tls = ClientTls::from_files(client).map_err(|e| tonic::Status::unknown(e.to_string()))?;
    let channel = channel(&addr.to_string(), tls, Identity::parse(expected).unwrap()).unwrap();
    HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .map(|_| ())
}

#[tokio::test]
async fn valid_peers_connect_and_identity_reaches_the_server() {
    let pki = TestPki::new();
    let server = serve(pki.paths("vault")).await;
    check(server.addr, pki.paths("router"), "vault")
        .await
        .unwrap();
    let platform = pki.issue("platform/billing");
    check(server.addr, platform, "vault").await.unwrap();
    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![
            Identity::parse("router").unwrap(),
            Identity::parse("platform/billing").unwrap()
        ]
    );
    assert_eq!(server.tls.identity(), Identity::parse("vault").unwrap());
}

#[tokio::test]
async fn client_rejects_a_server_with_the_wrong_identity() {
    let pki = TestPki::new();
    let server = serve(pki.paths("edge")).await;
    let error = check(server.addr, pki.paths("router"), "vault")
        .await
        .unwrap_err();
    assert_eq!(error.code(), tonic::Code::Unavailable, "{error}");
    assert!(server.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn certificates_from_another_ca_are_rejected() {
    let pki = TestPki::new();
    let other = TestPki::new();
    let server = serve(pki.paths("vault")).await;
    // Client cert from another CA, trusting our CA: the server refuses it.
    let mut foreign = other.paths("router");
    foreign.ca = pki.paths("router").ca;
    assert!(check(server.addr, foreign, "vault").await.is_err());
    // A client that trusts only the other CA refuses our server.
    assert!(
        check(server.addr, other.paths("router"), "vault")
            .await
            .is_err()
    );
    assert!(server.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn certificates_without_exactly_one_keyroute_identity_are_rejected() {
    let pki = TestPki::new();
    let server = serve(pki.paths("vault")).await;
    let none = pki.issue_with_uris("none", &[]);
    let several = pki.issue_with_uris(
        "several",
        &[
            "spiffe://keyroute/router".into(),
            "spiffe://keyroute/edge".into(),
        ],
    );
    let foreign = pki.issue_with_uris("foreign", &["spiffe://elsewhere/router".into()]);
    // The client refuses to load material without an identity of its own...
    for paths in [none.clone(), several.clone(), foreign.clone()] {
        assert!(ClientTls::from_files(paths).is_err());
    }
    // ...and the server refuses such a certificate in the handshake, whoever presents it.
    for paths in [none, several, foreign] {
        assert!(!handshake_and_talk(server.addr, &paths, true).await);
    }
    assert!(server.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_client_without_a_certificate_is_rejected() {
    let pki = TestPki::new();
    let server = serve(pki.paths("vault")).await;
    assert!(!handshake_and_talk(server.addr, &pki.paths("router"), false).await);
    // The same raw client with its certificate gets an HTTP/2 answer.
    assert!(handshake_and_talk(server.addr, &pki.paths("router"), true).await);
}

#[tokio::test]
async fn reloaded_certificates_take_effect_for_new_connections() {
    let pki = TestPki::new();
    let server = serve(pki.paths("vault")).await;
    check(server.addr, pki.paths("router"), "vault")
        .await
        .unwrap();
    assert!(!server.tls.reload().unwrap(), "nothing changed yet");

    // Rotate the server onto a new CA by rewriting its files in place.
    let next = TestPki::new();
    for file in ["vault.crt", "vault.key", "ca.crt"] {
        let target = if file == "ca.crt" {
            pki.paths("vault").ca
        } else {
            pki.dir().join(file)
        };
        std::fs::copy(next.dir().join(file), target).unwrap();
    }
    assert!(server.tls.reload().unwrap());
    check(server.addr, next.paths("router"), "vault")
        .await
        .unwrap();
    let mut stale = pki.paths("router");
    stale.ca = next.paths("router").ca;
    assert!(
        check(server.addr, stale, "vault").await.is_err(),
        "old-CA client still accepted"
    );

    // A broken file on disk keeps the last good config.
    std::fs::write(pki.dir().join("vault.crt"), b"garbage").unwrap();
    assert!(server.tls.reload().is_err());
    check(server.addr, next.paths("router"), "vault")
        .await
        .unwrap();
}

/// A raw rustls client, with or without a client certificate, that verifies the server by
/// DNS name: returns whether the server answered an HTTP/2 preface with bytes.
async fn handshake_and_talk(addr: std::net::SocketAddr, paths: &TlsPaths, with_cert: bool) -> bool {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(&paths.ca).unwrap() {
        roots.add(ca.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = if with_cert {
        let chain = CertificateDer::pem_file_iter(&paths.cert)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let key = PrivateKeyDer::from_pem_file(&paths.key).unwrap();
        builder.with_client_auth_cert(chain, key).unwrap()
    } else {
        builder.with_no_client_auth()
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let Ok(mut stream) = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
    else {
        return false;
    };
    if stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(stream.read(&mut buf).await, Ok(n) if n > 0)
}

#[tokio::test]
async fn the_background_reloader_picks_up_rotated_files() {
    let pki = TestPki::new();
    let server = serve(pki.paths("vault")).await;
    let mut reloads = server.tls.reloads();
    let _reloader = server
        .tls
        .spawn_reloader(std::time::Duration::from_millis(20));
    let next = TestPki::new();
    for file in ["vault.crt", "vault.key", "ca.crt"] {
        std::fs::copy(next.dir().join(file), pki.dir().join(file)).unwrap();
    }
    tokio::time::timeout(std::time::Duration::from_secs(5), reloads.changed())
        .await
        .expect("no reload")
        .unwrap();
    check(server.addr, next.paths("router"), "vault")
        .await
        .unwrap();
}
