//! The environment's proxies: a trusted https destination is reached through a CONNECT
//! tunnel (TLS and ALPN end to end), a trusted plain-http one is forwarded with the proxy's
//! credentials, and a user-supplied destination never goes through the proxy.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hyper_util::client::proxy::matcher::Matcher;
use keyroute_egress::EgressPolicy;
use keyroute_mock_providers::{Mock, MockServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::super::egress::Resolver;
use super::super::proxy::Proxies;
use super::super::{Timeouts, Upstreams, client};
use super::{complete, custom_key, https_server, openai_key, pki, text};

/// What the proxy received: each connection's request head.
type Heads = Arc<Mutex<Vec<String>>>;

/// A proxy that tunnels CONNECT and answers every forwarded request with a 404 of its own.
async fn proxy() -> (u16, Heads) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let heads: Heads = Arc::default();
    let seen = heads.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(serve(socket, seen.clone()));
        }
    });
    (port, heads)
}

async fn serve(mut socket: TcpStream, heads: Heads) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if socket.read(&mut byte).await.unwrap_or(0) == 0 {
            return;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    heads.lock().unwrap().push(head.clone());
    if let Some(target) = head.strip_prefix("CONNECT ") {
        let target = target.split_whitespace().next().unwrap_or_default();
        let Ok(mut upstream) = TcpStream::connect(target).await else {
            return;
        };
        let _ = socket
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await;
        let _ = tokio::io::copy_bidirectional(&mut socket, &mut upstream).await;
        return;
    }
    let body = r#"{"error":{"message":"answered by the proxy","type":"not_found"}}"#;
    let answer = format!(
        "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = socket.write_all(answer.as_bytes()).await;
}

fn proxies(port: u16, tls: &rustls::ClientConfig) -> Arc<Proxies> {
    let url = format!("http://user:pw@127.0.0.1:{port}");
    let matcher = Matcher::builder().http(url.clone()).https(url).build();
    let tcp = client::tcp(Resolver { policy: None }, Timeouts::default().connect);
    Arc::new(Proxies::new(matcher, tcp, tls))
}

/// `user:pw`, as a proxy sees it.
const BASIC: &str = "proxy-authorization: Basic dXNlcjpwdw==";

#[tokio::test]
async fn an_https_destination_is_tunnelled_end_to_end() {
    let pki = pki();
    let server = https_server(pki.server.clone(), &[b"h2", b"http/1.1"]).await;
    let (port, heads) = proxy().await;
    let client = client::build(
        &pki.client,
        Resolver { policy: None },
        Some(proxies(port, &pki.client)),
        Timeouts::default().connect,
    );
    let uri = format!("https://localhost:{}/v1", server.port());
    let request = http::Request::get(uri)
        .body(http_body_util::Full::default())
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(text(response).await, "HTTP/2.0", "ALPN through the tunnel");
    let heads = heads.lock().unwrap().clone();
    assert_eq!(heads.len(), 1);
    assert!(
        heads[0].starts_with(&format!("CONNECT localhost:{} HTTP/1.1", server.port())),
        "{heads:?}"
    );
    assert!(
        heads[0]
            .to_ascii_lowercase()
            .contains(&BASIC.to_ascii_lowercase())
    );
}

#[tokio::test]
async fn a_plain_http_destination_is_forwarded_with_the_proxys_credentials() {
    let pki = pki();
    let (port, heads) = proxy().await;
    let operator = HashMap::from([("openai".to_owned(), "http://upstream.invalid/v1".to_owned())]);
    let upstreams = Upstreams::from_parts(
        operator,
        Timeouts::default(),
        EgressPolicy::strict(),
        &pki.client,
        Some(proxies(port, &pki.client)),
    );
    let error = complete(&upstreams, &openai_key("k1")).await.unwrap_err();
    assert_eq!(error.status, 404, "{error}");
    assert!(error.message.contains("answered by the proxy"), "{error}");
    let heads = heads.lock().unwrap().clone();
    assert!(
        heads[0].starts_with("POST http://upstream.invalid/v1/chat/completions HTTP/1.1"),
        "{heads:?}"
    );
    assert!(
        heads[0]
            .to_ascii_lowercase()
            .contains(&BASIC.to_ascii_lowercase())
    );
}

#[tokio::test]
async fn a_user_supplied_destination_never_uses_the_proxy() {
    let pki = pki();
    let (port, heads) = proxy().await;
    let mock = Mock::new();
    mock.add_key("openai", "sk-a");
    let server = MockServer::start(mock).await.unwrap();
    let upstreams = Upstreams::from_parts(
        HashMap::new(),
        Timeouts::default(),
        EgressPolicy::allowing_loopback(),
        &pki.client,
        Some(proxies(port, &pki.client)),
    );
    complete(&upstreams, &custom_key("k2", &server.base_url("openai")))
        .await
        .unwrap();
    assert_eq!(server.mock.requests_for("openai").len(), 1);
    assert!(
        heads.lock().unwrap().is_empty(),
        "straight to the destination"
    );
}
