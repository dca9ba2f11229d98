//! The edge's `/metrics` as Prometheus scrapes it, over HTTP after real calls: requests by
//! route, status, provider and key source; latency by route, status and dialect; a stream's
//! time to first byte; errors by origin; and, in OpenMetrics, exemplars carrying the trace id
//! of the caller's `traceparent`. Its own test binary: it installs a global subscriber with
//! an OpenTelemetry layer (an in-process tracer provider, nothing exported).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use keyroute_test_support::{metric_value, tracing_on};
use reqwest::Method;
use serde_json::json;
use support::gateway;

const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

#[tokio::test]
async fn calls_show_up_in_metrics_with_their_trace_as_exemplar() {
    tracing_on("edge-test");
    let gateway = gateway().await;
    let traced = [("traceparent", TRACEPARENT)];
    let chat = |model: &str, stream: bool| {
        json!({ "model": model, "stream": stream, "messages": [{ "role": "user", "content": "hi" }] })
            .to_string()
    };
    for stream in [false, false, true] {
        let (status, _, body) = gateway
            .send(
                Method::POST,
                "/v1/chat/completions",
                Some(&gateway.token),
                &traced,
                Some(chat("gpt-4o-mini", stream)),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, _, body) = gateway
        .send(
            Method::POST,
            "/v1/chat/completions",
            Some(&gateway.token),
            &[],
            Some(chat("no-such-model-anywhere", false)),
        )
        .await;
    assert_eq!(status, 404, "{body}");

    let (status, headers, text) = gateway.send(Method::GET, "/metrics", None, &[], None).await;
    assert_eq!(status, 200);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = text.as_str().unwrap().to_owned();
    for (series, expected) in [
        (
            r#"keyroute_edge_requests_total{route="chat_completions",status="200",provider="openai",key_source="byok"}"#,
            3.0,
        ),
        (
            r#"keyroute_edge_requests_total{route="chat_completions",status="404",provider="none",key_source="none"}"#,
            1.0,
        ),
        (
            r#"keyroute_edge_request_seconds_count{route="chat_completions",status="200",dialect="openai"}"#,
            3.0,
        ),
        (
            r#"keyroute_edge_stream_first_byte_seconds_count{route="chat_completions",provider="openai"}"#,
            1.0,
        ),
        (
            r#"keyroute_edge_errors_total{route="chat_completions",origin="client",provider="none"}"#,
            1.0,
        ),
    ] {
        assert_eq!(
            metric_value(&text, series),
            Some(expected),
            "{series} in\n{text}"
        );
    }
    assert!(!text.contains("no-such-model"), "{text}");
    assert!(!text.contains("trace_id"), "{text}");

    let (_, headers, open) = gateway
        .send(
            Method::GET,
            "/metrics",
            None,
            &[("accept", "application/openmetrics-text; version=1.0.0")],
            None,
        )
        .await;
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text; version=1.0.0")
    );
    let open = open.as_str().unwrap().to_owned();
    assert!(open.ends_with("# EOF\n"), "{open}");
    let exemplar = format!("# {{trace_id=\"{TRACE_ID}\"}}");
    for series in [
        "keyroute_edge_request_seconds_bucket",
        "keyroute_edge_stream_first_byte_seconds_bucket",
    ] {
        assert!(
            open.lines()
                .any(|line| line.starts_with(series) && line.contains(&exemplar)),
            "{series} has no exemplar of trace {TRACE_ID}:\n{open}"
        );
    }
}
