//! `keyroute dev` as a real process: its edge calls the router in-process. Chats are served
//! and readiness counts the router while the router's gRPC port accepts no connection at
//! all; the port still serves a platform's client (which the same counter then sees).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Stdio;

use keyroute_proto::router::v1::ListModelsRequest;
use keyroute_proto::router::v1::router_service_client::RouterServiceClient;
use keyroute_test_support::metric_value;
use keyroute_tls::{ClientTls, Identity, TlsPaths};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

struct Dev {
    _child: Child,
    url: String,
    token: String,
    /// The router's gRPC port, as dev.env names it for platforms.
    router: String,
}

/// A loopback port free a moment ago, for the router's metrics (dev prints no address it
/// picked itself for them).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

async fn start(state: &Path, router_metrics: &str) -> Dev {
    let mut child = Command::new(common::BINARY)
        .args(["dev", "--mock", "--http-addr", "127.0.0.1:0", "--state-dir"])
        .arg(state)
        .args(["--router-metrics-addr", router_metrics])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut url, mut token, mut router) = (String::new(), String::new(), String::new());
    while url.is_empty() || token.is_empty() || router.is_empty() {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("keyroute dev exited early");
        if let Some(value) = line.strip_prefix("KEYROUTE_URL=") {
            url = value.to_owned();
        } else if let Some(value) = line.strip_prefix("KEYROUTE_TOKEN=") {
            token = value.to_owned();
        } else if let Some(value) = line.strip_prefix("KEYROUTE_ROUTER_ADDR=") {
            router = value.to_owned();
        }
    }
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Dev {
        _child: child,
        url,
        token,
        router,
    }
}

/// The router's `/metrics`: (successful routed requests, connections its port accepted).
async fn router_counts(http: &reqwest::Client, metrics: &str) -> (f64, f64) {
    let text = http
        .get(format!("http://{metrics}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let served = text
        .lines()
        .filter(|line| {
            line.starts_with("keyroute_router_requests_total{") && line.contains("outcome=\"ok\"")
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    let connections = metric_value(&text, "keyroute_router_connections_total").unwrap();
    (served, connections)
}

#[tokio::test]
async fn dev_serves_chat_in_process_without_the_routers_port() {
    // reqwest is built without a crypto provider of its own in this workspace.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let state = tempfile::tempdir().unwrap();
    let metrics = format!("127.0.0.1:{}", free_port());
    let dev = start(state.path(), &metrics).await;
    let http = reqwest::Client::new();

    for stream in [false, true, false] {
        let body = json!({
            "model": "gpt-4o-mini",
            "stream": stream,
            "messages": [{ "role": "user", "content": "hello" }],
        });
        let response = http
            .post(format!("{}/v1/chat/completions", dev.url))
            .bearer_auth(&dev.token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, 200, "{text}");
        assert!(text.contains("echo: hello"), "{text}");
    }
    let ready = http
        .get(format!("{}/readyz", dev.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let ready: Value = serde_json::from_str(&ready).unwrap();
    assert_eq!(
        ready["routers"],
        json!({ "serving": 1, "known": 1 }),
        "{ready}"
    );
    assert_eq!(
        router_counts(&http, &metrics).await,
        (3.0, 0.0),
        "the router served every chat, and its port accepted no connection"
    );

    // The port is still there for platforms' gRPC clients, and counted.
    let certs = state.path().join("pki");
    let tls = ClientTls::from_files(TlsPaths::in_dir(&certs, "edge")).unwrap();
    let channel =
        keyroute_tls::channel(&dev.router, tls, Identity::parse("router").unwrap()).unwrap();
    let mut platform = RouterServiceClient::new(channel);
    let mut request = tonic::Request::new(ListModelsRequest::default());
    let bearer = format!("Bearer {}", dev.token).parse().unwrap();
    request.metadata_mut().insert("authorization", bearer);
    platform.list_models(request).await.unwrap();
    assert_eq!(router_counts(&http, &metrics).await.1, 1.0);
}
