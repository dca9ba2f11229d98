//! The edge's limits on real servers: a request as large as the body limit allows (a 20 MiB
//! image) goes through edge -> router -> provider over mTLS gRPC, and clients too slow
//! with their headers or body, or idle, are cut off within the timeouts: raw TCP clients,
//! each waiting for the edge's answer or for the connection to close.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::extract::DefaultBodyLimit;
use axum::routing::post;
use bytes::Bytes;
use keyroute_edge::state::{Edge, EdgeSettings};
use keyroute_proto::vault::v1::CreateCredentialRequest;
use keyroute_test_support::{TestRouter, TestVault, with_token};
use keyroute_tls::ClientTls;
use serde_json::{Value, json};
use support::gateway_configured;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a test waits for the edge before it calls the edge stuck.
const BOUND: Duration = Duration::from_secs(10);

/// An OpenAI-compatible upstream without a body limit: it answers how many bytes of image
/// data URLs the request carried.
async fn large_upstream() -> String {
    async fn complete(body: Bytes) -> ([(http::HeaderName, &'static str); 1], String) {
        let request: Value = serde_json::from_slice(&body).unwrap();
        let mut image_bytes = 0;
        for message in request["messages"].as_array().unwrap() {
            for part in message["content"].as_array().into_iter().flatten() {
                if let Some(url) = part["image_url"]["url"].as_str() {
                    image_bytes += url.len();
                }
            }
        }
        let answer = json!({
            "id": "chatcmpl-large", "object": "chat.completion", "created": 0,
            "model": request["model"],
            "choices": [{
                "index": 0, "finish_reason": "stop",
                "message": { "role": "assistant", "content": format!("image bytes: {image_bytes}") },
            }],
            "usage": { "prompt_tokens": 1000, "completion_tokens": 4, "total_tokens": 1004 },
        });
        (
            [(http::header::CONTENT_TYPE, "application/json")],
            answer.to_string(),
        )
    }
    let app = axum::Router::new()
        .route("/v1/chat/completions", post(complete))
        .layer(DefaultBodyLimit::disable());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test]
async fn a_20_mib_image_goes_through_edge_router_and_provider() {
    let vault = TestVault::start().await;
    let (user, token) = vault.user_with_token("large").await;
    vault
        .client("edge")
        .create_credential(with_token(
            CreateCredentialRequest {
                owner_id: user,
                provider: "openai".into(),
                secret: "sk-large-0123456789".into(),
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap();
    let upstream = large_upstream().await;
    let router = TestRouter::start(&vault, HashMap::from([("openai".into(), upstream)])).await;
    // The edge's defaults: the 32 MiB body limit.
    let settings = EdgeSettings {
        routers: vec![router.addr.to_string()],
        vault: vault.addr.to_string(),
        ..EdgeSettings::default()
    };
    let tls = ClientTls::from_files(vault.pki.paths("edge")).unwrap();
    let edge = Edge::connect(&settings, tls).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(edge.serve(listener, std::future::pending()));
    let _ = rustls::crypto::ring::default_provider().install_default();

    let image = format!("data:image/png;base64,{}", "A".repeat(20 * 1024 * 1024));
    let body = json!({
        "model": "gpt-4o-mini",
        "messages": [{ "role": "user", "content": [
            { "type": "text", "text": "what is in this picture?" },
            { "type": "image_url", "image_url": { "url": image } },
        ]}],
    })
    .to_string();
    assert!(body.len() > 20 * 1024 * 1024);
    let response = reqwest::Client::new()
        .post(format!("{url}/v1/chat/completions"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let answer: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        format!("image bytes: {}", image.len()),
        "the provider got the whole image"
    );
}

/// Reads until the edge closes the connection; `None` when it is still open after [`BOUND`].
async fn read_until_closed(stream: &mut TcpStream) -> Option<String> {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(BOUND, stream.read_to_end(&mut answer)).await;
    read.ok().map(|result| {
        // A reset counts as closed too.
        let _ = result;
        String::from_utf8_lossy(&answer).into_owned()
    })
}

#[tokio::test]
async fn a_client_too_slow_with_its_headers_is_disconnected() {
    let timeout = Duration::from_millis(400);
    let gateway = gateway_configured(1, |s| s.limits.header_timeout = timeout).await;
    let addr = gateway.url.trim_start_matches("http://").to_owned();

    // Half a request head, then nothing.
    let started = Instant::now();
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: edge\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut slow)
        .await
        .expect("the edge closes a connection whose head does not come");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    assert!(started.elapsed() >= timeout, "not before the timeout");

    // Connected, and not a byte.
    let started = Instant::now();
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    let answer = read_until_closed(&mut silent)
        .await
        .expect("the edge closes a connection that sends nothing");
    assert!(answer.is_empty(), "{answer}");
    assert!(started.elapsed() >= timeout, "not before the timeout");

    // A whole head on time is served as usual.
    let mut prompt = TcpStream::connect(&addr).await.unwrap();
    prompt
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: edge\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut prompt).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_client_that_stalls_mid_body_is_answered_408_in_the_routes_shape() {
    let timeout = Duration::from_millis(400);
    let gateway = gateway_configured(1, |s| s.limits.body_timeout = timeout).await;
    let addr = gateway.url.trim_start_matches("http://").to_owned();
    for (path, shape) in [
        ("/v1/chat/completions", "openai"),
        ("/v1/messages", "anthropic"),
        ("/api/v1/keys", "management"),
    ] {
        let started = Instant::now();
        let mut stalled = TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: edge\r\nauthorization: Bearer {}\r\n\
             anthropic-version: 2023-06-01\r\ncontent-type: application/json\r\n\
             content-length: 1000\r\n\r\n{{\"model\":",
            gateway.token
        );
        stalled.write_all(head.as_bytes()).await.unwrap();
        let answer = read_until_closed(&mut stalled)
            .await
            .unwrap_or_else(|| panic!("{path}: the edge waits for the body forever"));
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        assert!(
            started.elapsed() >= timeout,
            "{path}: not before the timeout"
        );
        let body: Value = serde_json::from_str(answer.split_once("\r\n\r\n").unwrap().1).unwrap();
        match shape {
            "openai" => assert_eq!(body["error"]["code"], "request_timeout", "{body}"),
            "anthropic" => assert_eq!(body["type"], "error", "{body}"),
            _ => assert_eq!(body["error"]["code"], "request_timeout", "{body}"),
        }
    }
}

#[tokio::test]
async fn oversized_heads_get_431_and_idle_keep_alive_connections_close() {
    let timeout = Duration::from_millis(400);
    let gateway = gateway_configured(1, |s| {
        s.limits.header_timeout = timeout;
        s.limits.max_header_bytes = 16 * 1024;
    })
    .await;
    let addr = gateway.url.trim_start_matches("http://").to_owned();

    let mut large = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "GET /healthz HTTP/1.1\r\nhost: edge\r\nx-padding: {}\r\n\r\n",
        "p".repeat(32 * 1024)
    );
    large.write_all(head.as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut large).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");

    // One request, answered; then the connection stays open only as long as a head may take.
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nhost: edge\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut idle)
        .await
        .expect("an idle keep-alive connection is closed");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn http2_clients_are_served_and_idle_connections_are_closed() {
    let gateway = gateway_configured(1, |s| {
        s.limits.header_timeout = Duration::from_millis(400);
        s.limits.idle_timeout = Duration::from_millis(400);
    })
    .await;
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let response = h2
        .post(format!("{}/v1/chat/completions", gateway.url))
        .bearer_auth(&gateway.token)
        .header("content-type", "application/json")
        .body(
            json!({ "model": "gpt-4o-mini", "messages": [{ "role": "user", "content": "hi" }] })
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(response.status(), 200);

    // A raw HTTP/2 connection that sends its preface and one request, then nothing more:
    // the edge sends GOAWAY and closes it once it has been idle.
    let addr = gateway.url.trim_start_matches("http://").to_owned();
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    // HEADERS on stream 1 (END_STREAM | END_HEADERS): GET / over http, authority "e".
    let headers = [
        0x00, 0x00, 0x06, 0x01, 0x05, 0x00, 0x00, 0x00, 0x01, 0x82, 0x86, 0x84, 0x41, 0x01, b'e',
    ];
    idle.write_all(&headers).await.unwrap();
    let started = Instant::now();
    let answer = read_until_closed(&mut idle)
        .await
        .expect("an idle HTTP/2 connection is closed");
    // The answer to the request (a 404, HEADERS on stream 1) came before the GOAWAY.
    assert!(answer.len() > 9, "{answer:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "not before it was idle"
    );
}
