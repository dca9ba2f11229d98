//! The edge spreads calls over every router and keeps serving when one goes away: calls
//! that could not reach a stopped router are retried on another, readiness says how many
//! routers serve, and `/metrics` counts what was served.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use reqwest::Method;
use serde_json::json;
use support::gateway_with_routers;

fn chat() -> String {
    json!({ "model": "gpt-4o-mini", "messages": [{ "role": "user", "content": "spread" }] })
        .to_string()
}

#[tokio::test]
async fn calls_spread_over_routers_and_survive_one_stopping() {
    let mut gateway = gateway_with_routers(2).await;
    for _ in 0..10 {
        let (status, _, body) = gateway
            .send(
                Method::POST,
                "/v1/chat/completions",
                Some(&gateway.token),
                &[],
                Some(chat()),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let first = gateway.routers[0].served().await;
    let second = gateway.routers[1].served().await;
    assert_eq!(first + second, 10);
    assert!(
        first >= 3 && second >= 3,
        "round-robin: {first} and {second}"
    );

    let (status, _, ready) = gateway.send(Method::GET, "/readyz", None, &[], None).await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["routers"], json!({ "serving": 2, "known": 2 }));

    gateway.routers[0].stop().await;
    for _ in 0..10 {
        let (status, _, body) = gateway
            .send(
                Method::POST,
                "/v1/chat/completions",
                Some(&gateway.token),
                &[],
                Some(chat()),
            )
            .await;
        assert_eq!(status, 200, "no call is lost to the stopped router: {body}");
        let (status, _, body) = gateway
            .send(Method::GET, "/v1/models", Some(&gateway.token), &[], None)
            .await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(gateway.routers[1].served().await, second + 10);
    let (status, _, ready) = gateway.send(Method::GET, "/readyz", None, &[], None).await;
    assert_eq!(status, 200);
    assert_eq!(ready["routers"], json!({ "serving": 1, "known": 2 }));

    gateway.routers[1].stop().await;
    let (status, _, body) = gateway
        .send(
            Method::POST,
            "/v1/chat/completions",
            Some(&gateway.token),
            &[],
            Some(chat()),
        )
        .await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no router is reachable"),
        "{body}"
    );
    let (status, _, ready) = gateway.send(Method::GET, "/readyz", None, &[], None).await;
    assert_eq!(status, 503, "{ready}");

    let (_, headers, metrics) = gateway.send(Method::GET, "/metrics", None, &[], None).await;
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let metrics = metrics.as_str().unwrap().to_owned();
    assert!(
        metrics.contains("keyroute_edge_requests_total{route=\"chat_completions\",status=\"200\",provider=\"openai\",key_source=\"byok\"} 20"),
        "{metrics}"
    );
    assert!(
        metrics.contains("keyroute_edge_request_seconds_count{route=\"chat_completions\",status=\"200\",dialect=\"openai\"} 20"),
        "{metrics}"
    );
    assert!(
        metrics.contains("keyroute_edge_request_seconds_count{route=\"chat_completions\",status=\"503\",dialect=\"openai\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("keyroute_edge_errors_total{route=\"chat_completions\",origin=\"keyroute\",provider=\"none\"} 1"), "{metrics}");
}

#[tokio::test]
async fn router_names_are_resolved_to_every_address_and_refreshed() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let pki = keyroute_test_support::TestPki::new();
    let tls = keyroute_tls::ClientTls::from_files(pki.paths("edge")).unwrap();
    let pool = keyroute_edge::routers::RouterPool::new(
        &["localhost:7999".to_owned(), "127.0.0.1:7998".to_owned()],
        tls.clone(),
    )
    .await
    .unwrap();
    let addrs = pool.addrs();
    assert!(
        addrs.iter().any(|a| a.to_string() == "127.0.0.1:7999"),
        "{addrs:?}"
    );
    assert!(
        addrs.iter().any(|a| a.to_string() == "127.0.0.1:7998"),
        "{addrs:?}"
    );
    pool.refresh().await.unwrap();
    assert_eq!(
        pool.addrs(),
        addrs,
        "the same answer keeps the same routers"
    );

    let bad = keyroute_edge::routers::RouterPool::new(&["no-port".to_owned()], tls.clone()).await;
    assert!(bad.is_err());
    let unresolved =
        keyroute_edge::routers::RouterPool::new(&["router.invalid:7444".to_owned()], tls)
            .await
            .unwrap();
    assert!(
        unresolved.is_empty(),
        "a name that does not resolve yet is not fatal"
    );
    assert!(unresolved.pick().is_none());
}
