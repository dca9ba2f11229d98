//! The router serves its gRPC connections on connection threads, one per core, each a
//! single-threaded runtime with a tonic server of its own; connections are dealt out in
//! turn, and the threads end when the router stops, after its calls. (A test binary of its
//! own: it counts this process's threads.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use support::{ask, stack, text};

fn connection_threads() -> usize {
    keyroute_test_support::threads_named("router-conn-")
}

#[tokio::test]
async fn calls_are_served_on_connection_threads_that_end_with_the_router() {
    let mut stack = stack().await;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(connection_threads(), cores);

    // A connection per call (each `complete` makes its own channel): every thread serves.
    for n in 0..2 * cores {
        let answer = stack
            .complete(ask("gpt-4o-mini", &format!("call {n}")))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(text(&answer.response.unwrap()), format!("echo: call {n}"));
    }
    let text = stack.router.metrics_text().await;
    let accepted =
        keyroute_test_support::metric_value(&text, "keyroute_router_connections_total").unwrap();
    assert_eq!(accepted, (2 * cores) as f64);

    stack.router.stop().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while connection_threads() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "connection threads outlived the router"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
