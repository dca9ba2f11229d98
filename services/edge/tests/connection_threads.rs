//! The edge serves each connection on one of its connection threads, one per core, each a
//! single-threaded runtime; they end with the server. Each thread calls a network router
//! over a channel of its own. (A test binary of its own: it counts this process's threads.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use keyroute_edge::state::{Edge, EdgeSettings};
use keyroute_tls::ClientTls;
use serde_json::json;

fn connection_threads() -> usize {
    keyroute_test_support::threads_named("edge-conn-")
}

/// The router's count of mTLS connections accepted.
async fn router_connections(gateway: &support::Gateway) -> f64 {
    let text = gateway.routers[0].metrics_text().await;
    keyroute_test_support::metric_value(&text, "keyroute_router_connections_total").unwrap()
}

/// Chat call `n` to `url` on a connection of its own (a new client); checks its answer.
async fn call_on_a_new_connection(url: &str, token: &str, n: usize) {
    let body = json!({
        "model": "gpt-4o-mini",
        "stream": n % 2 == 1,
        "messages": [{ "role": "user", "content": format!("call {n}") }],
    });
    let answer = reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let text = answer.text().await.unwrap();
    assert!(text.contains(&format!("echo: call {n}")), "{text}");
}

#[tokio::test]
async fn connection_threads_serve_and_end_with_the_server_and_each_has_its_own_router_channel() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let gateway = support::gateway().await;

    // Each client its own connection, dealt out over the threads; each thread reaches the
    // network router over a connection of its own.
    let url = format!("{}/v1/chat/completions", gateway.url);
    for n in 0..2 * cores {
        call_on_a_new_connection(&url, &gateway.token, n).await;
    }
    assert_eq!(connection_threads(), cores);
    assert_eq!(router_connections(&gateway).await, cores as f64);

    let settings = EdgeSettings {
        routers: vec![gateway.routers[0].addr.to_string()],
        vault: gateway.vault.addr.to_string(),
        ..EdgeSettings::default()
    };
    let tls = ClientTls::from_files(gateway.vault.pki.paths("edge")).unwrap();
    let edge =
        Edge::connect_in_process(&settings, tls, gateway.routers[0].in_process.clone()).unwrap();
    let support::Stoppable { url, stop, server } = support::serve_until_stopped(edge).await;

    // A second edge, its router in the process (as `keyroute dev`'s), stopped below.
    for n in 0..4 {
        call_on_a_new_connection(&url, &gateway.token, n).await;
    }
    assert_eq!(connection_threads(), 2 * cores);

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while connection_threads() > cores {
        assert!(
            tokio::time::Instant::now() < deadline,
            "connection threads outlived the server"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
