//! `keyroute dev`'s edge (its router in the process) serves each connection on one of its
//! connection threads, one per core, each a single-threaded runtime; they end with the
//! server. An edge in front of network routers serves on the main runtime.
//! (A test binary of its own: it counts this process's threads.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use keyroute_edge::state::{Edge, EdgeSettings};
use keyroute_tls::ClientTls;
use serde_json::json;

/// This process's threads whose name starts with `edge-conn-`.
fn connection_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("edge-conn-"))
        .count()
}

#[tokio::test]
async fn an_in_process_edge_serves_on_connection_threads_that_end_with_it() {
    let gateway = support::gateway().await;
    assert_eq!(connection_threads(), 0, "network routers: the main runtime");

    let settings = EdgeSettings {
        routers: vec![gateway.routers[0].addr.to_string()],
        vault: gateway.vault.addr.to_string(),
        ..EdgeSettings::default()
    };
    let tls = ClientTls::from_files(gateway.vault.pki.paths("edge")).unwrap();
    let edge =
        Edge::connect_in_process(&settings, tls, gateway.routers[0].in_process.clone()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/v1/chat/completions",
        listener.local_addr().unwrap()
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(edge.serve(listener, async {
        let _ = stopped.await;
    }));

    // Each client its own connection: they are dealt out over the threads.
    for n in 0..4 {
        let answer = reqwest::Client::new()
            .post(&url)
            .bearer_auth(&gateway.token)
            .header("content-type", "application/json")
            .body(
                json!({
                    "model": "gpt-4o-mini",
                    "stream": n % 2 == 1,
                    "messages": [{ "role": "user", "content": format!("call {n}") }],
                })
                .to_string(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        let body = answer.text().await.unwrap();
        assert!(body.contains(&format!("echo: call {n}")), "{body}");
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(connection_threads(), cores);

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while connection_threads() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "connection threads outlived the server"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
