//! TLS and HTTP/2 on the pooled clients: ALPN picks HTTP/2 or HTTP/1.1, the production
//! settings trust the platform's roots only, the connect timeout bounds the TLS handshake,
//! a stream an HTTP/2 server refused unprocessed is sent again (other resets are not), and
//! a failure says why without quoting the URL.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::super::send::Outgoing;
use super::super::{Timeouts, client};
use super::{https_server, pki, plain_client, text};

fn get(uri: &str) -> Outgoing<'static> {
    Outgoing {
        method: Method::GET,
        uri: uri.parse().unwrap(),
        headers: &[],
        body: Bytes::new(),
        proxy_auth: None,
    }
}

fn soon() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(10)
}

#[tokio::test]
async fn alpn_picks_http2_or_http1() {
    let pki = pki();
    let client = plain_client(&pki.client, Timeouts::default());
    for (alpn, version) in [
        (&[b"h2".as_slice(), b"http/1.1"][..], "HTTP/2.0"),
        (&[b"http/1.1".as_slice()][..], "HTTP/1.1"),
        (&[][..], "HTTP/1.1"),
    ] {
        let addr = https_server(pki.server.clone(), alpn).await;
        let uri = format!("https://localhost:{}/v1/x", addr.port());
        let response = get(&uri)
            .send(&client, "test", soon())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(text(response).await, version, "{alpn:?}");
    }
}

#[tokio::test]
async fn production_tls_trusts_the_platforms_roots_only() {
    let pki = pki();
    let addr = https_server(pki.server.clone(), &[b"h2"]).await;
    let production = client::tls_config().unwrap();
    let client = plain_client(&production, Timeouts::default());
    let uri = format!("https://localhost:{}/", addr.port());
    let error = get(&uri)
        .send(&client, "test", soon())
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(error.status, 502, "{error}");
    assert_eq!(error.error_type, "unreachable");
    assert!(error.message.contains("certificate"), "{error}");
}

#[tokio::test]
async fn the_connect_timeout_bounds_the_tls_handshake() {
    // Accepts TCP, never speaks TLS.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let timeouts = Timeouts {
        connect: Duration::from_millis(200),
        ..Timeouts::default()
    };
    let client = plain_client(&pki().client, timeouts);
    let started = tokio::time::Instant::now();
    let error = get(&format!("https://localhost:{port}/"))
        .send(&client, "test", soon())
        .await
        .unwrap()
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(error.status, 504, "{error}");
    assert_eq!(error.error_type, "unreachable");
}

#[tokio::test]
async fn a_failure_says_why_without_the_url() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let client = plain_client(&pki().client, Timeouts::default());
    let error = get(&format!(
        "http://127.0.0.1:{port}/v1/secret-path?key=s3cr3t"
    ))
    .send(&client, "test", soon())
    .await
    .unwrap()
    .unwrap_err();
    assert_eq!(error.status, 502, "{error}");
    assert!(error.message.starts_with("cannot reach test: "), "{error}");
    assert!(error.message.contains("refused"), "{error}");
    assert!(!error.message.contains("s3cr3t") && !error.message.contains("secret-path"));
}

/// An HTTP/2 server that resets its first `refusals` streams with `reason`, then answers
/// 200; counts the requests it received.
async fn h2_server(
    mut config: rustls::ServerConfig,
    reason: h2::Reason,
    refusals: usize,
) -> (u16, Arc<AtomicUsize>) {
    config.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(AtomicUsize::new(0));
    let counted = received.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, counted) = (acceptor.clone(), counted.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut connection) = h2::server::handshake(tls).await else {
                    return;
                };
                while let Some(Ok((_, mut respond))) = connection.accept().await {
                    if counted.fetch_add(1, Ordering::SeqCst) < refusals {
                        respond.send_reset(reason);
                    } else {
                        let _ = respond.send_response(http::Response::new(()), true);
                    }
                }
            });
        }
    });
    (port, received)
}

#[tokio::test]
async fn a_stream_refused_unprocessed_is_sent_again() {
    let pki = pki();
    let client = plain_client(&pki.client, Timeouts::default());
    let (port, received) = h2_server(pki.server.clone(), h2::Reason::REFUSED_STREAM, 2).await;
    let uri = format!("https://localhost:{port}/");
    let response = get(&uri)
        .send(&client, "test", soon())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        received.load(Ordering::SeqCst),
        3,
        "twice refused, then answered"
    );

    // Past two resends, the refusal is the answer.
    let (port, received) = h2_server(pki.server, h2::Reason::REFUSED_STREAM, 5).await;
    let uri = format!("https://localhost:{port}/");
    let error = get(&uri)
        .send(&client, "test", soon())
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(error.status, 502, "{error}");
    assert_eq!(received.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn other_resets_are_not_sent_again() {
    let pki = pki();
    let client = plain_client(&pki.client, Timeouts::default());
    let (port, received) = h2_server(pki.server, h2::Reason::INTERNAL_ERROR, 1).await;
    let uri = format!("https://localhost:{port}/");
    let error = get(&uri)
        .send(&client, "test", soon())
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(error.status, 502, "{error}");
    assert_eq!(
        received.load(Ordering::SeqCst),
        1,
        "the request may have been acted on"
    );
}
