//! An edge whose router runs in its process, as in `keyroute dev`: answers and streams come
//! from the router without a connection to its port, readiness asks the router itself, the
//! edge's request timeout still cuts a slow call, and a stopped router is reported as such.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use keyroute_test_support::metric_value;
use reqwest::Method;
use serde_json::{Value, json};
use support::{Gateway, gateway_in_process, sse_events};

fn chat(stream: bool) -> String {
    json!({
        "model": "gpt-4o-mini",
        "stream": stream,
        "messages": [{ "role": "user", "content": "in one process" }],
    })
    .to_string()
}

async fn post_chat(gateway: &Gateway, stream: bool) -> (u16, Value) {
    let (status, _, body) = gateway
        .send(
            Method::POST,
            "/v1/chat/completions",
            Some(&gateway.token),
            &[],
            Some(chat(stream)),
        )
        .await;
    (status, body)
}

/// How many connections the router's port accepted, from its metrics.
async fn connections(gateway: &Gateway) -> f64 {
    let text = gateway.routers[0].metrics_text().await;
    metric_value(&text, "keyroute_router_connections_total").unwrap()
}

#[tokio::test]
async fn served_in_process_with_readiness_from_the_router() {
    let mut gateway = gateway_in_process(|_| {}).await;
    let (status, body) = post_chat(&gateway, false).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "echo: in one process"
    );
    let (status, body) = post_chat(&gateway, true).await;
    assert_eq!(status, 200, "{body}");
    let events = sse_events(body.as_str().unwrap());
    assert_eq!(events.last().unwrap().1, "[DONE]", "{events:?}");
    assert_eq!(gateway.routers[0].served().await, 2);
    assert_eq!(
        connections(&gateway).await,
        0.0,
        "nothing came over the port"
    );

    let (status, _, ready) = gateway.send(Method::GET, "/readyz", None, &[], None).await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["routers"], json!({ "serving": 1, "known": 1 }));

    gateway.routers[0].stop().await;
    let (status, _, ready) = gateway.send(Method::GET, "/readyz", None, &[], None).await;
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["routers"], json!({ "serving": 0, "known": 1 }));
    let (status, body) = post_chat(&gateway, false).await;
    assert_eq!(status, 503, "{body}");
}

#[tokio::test]
async fn a_call_past_the_request_timeout_is_cut_with_504() {
    let gateway = gateway_in_process(|settings| {
        settings.request_timeout = Duration::from_millis(300);
    })
    .await;
    let slow = keyroute_mock_providers::Fault {
        first_byte_delay: Duration::from_secs(30),
        ..Default::default()
    };
    gateway.mock.set_fault(support::USER_OPENAI_KEY, slow);
    let started = Instant::now();
    let (status, body) = post_chat(&gateway, false).await;
    assert_eq!(status, 504, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the edge's deadline, not the provider's delay, ends the call"
    );
}
