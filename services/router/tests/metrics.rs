//! The router's `/metrics` as Prometheus scrapes it, over HTTP after real calls: requests,
//! tokens and cost by provider, catalog model, key source and outcome; latency histograms;
//! a stream's time to first byte; the vault client's series; and, in OpenMetrics, exemplars
//! carrying the trace id the caller sent. Its own test binary: it installs a global
//! subscriber with an OpenTelemetry layer (an in-process tracer provider, nothing exported).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use futures::StreamExt;
use keyroute_proto::router::v1::*;
use keyroute_test_support::{metric_value, tracing_on, with_token};
use support::{ask, stack};

/// The trace the "caller" continues: its W3C `traceparent`, sampled.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn traced<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = with_token(message, token);
    request
        .metadata_mut()
        .insert("traceparent", TRACEPARENT.parse().unwrap());
    request
}

async fn scrape(addr: std::net::SocketAddr, accept: Option<&str>) -> (String, String) {
    let mut request = reqwest::Client::new().get(format!("http://{addr}/metrics"));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let kind = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    (kind, response.text().await.unwrap())
}

/// The value of the series that is exactly `series` (name and labels as written).
#[tokio::test]
async fn calls_show_up_in_metrics_with_their_trace_as_exemplar() {
    tracing_on("router-test");
    let stack = stack().await;
    let mut edge = stack.client("edge");
    for _ in 0..3 {
        edge.complete(traced(
            CompleteRequest {
                request: Some(ask("gpt-4o-mini", "hello")),
            },
            &stack.token,
        ))
        .await
        .unwrap();
    }
    let mut events = edge
        .complete_stream(traced(
            CompleteStreamRequest {
                request: Some(ask("gpt-4o-mini", "stream it")),
            },
            &stack.token,
        ))
        .await
        .unwrap()
        .into_inner();
    while let Some(event) = events.next().await {
        event.unwrap();
    }
    // A model the catalog lacks, and one no key of the caller's serves: counted, with no
    // provider or key source, the unknown name as `other`.
    for model in ["no-such-model-anywhere", "gemini-2.5-flash"] {
        edge.complete(with_token(
            CompleteRequest {
                request: Some(ask(model, "hello")),
            },
            &stack.token,
        ))
        .await
        .unwrap_err();
    }

    let (kind, text) = scrape(stack.metrics, None).await;
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    let served = r#"provider="openai",model="gpt-4o-mini",key_source="byok""#;
    let at = |name: &str, extra: &str| {
        let series = if extra.is_empty() {
            format!("{name}{{{served}}}")
        } else {
            format!("{name}{{{served},{extra}}}")
        };
        metric_value(&text, &series).unwrap_or_else(|| panic!("{series} missing in\n{text}"))
    };
    assert_eq!(at("keyroute_router_requests_total", r#"outcome="ok""#), 4.0);
    for series in [
        r#"keyroute_router_requests_total{provider="none",model="other",key_source="none",outcome="not_found"}"#,
        r#"keyroute_router_requests_total{provider="none",model="gemini-2.5-flash",key_source="none",outcome="no_route"}"#,
    ] {
        assert_eq!(
            metric_value(&text, series),
            Some(1.0),
            "{series} in\n{text}"
        );
    }
    assert!(!text.contains("no-such-model"), "{text}");
    assert!(at("keyroute_router_tokens_total", r#"kind="input""#) > 0.0);
    assert!(at("keyroute_router_tokens_total", r#"kind="output""#) > 0.0);
    assert_eq!(
        at("keyroute_router_tokens_total", r#"kind="reasoning""#),
        0.0
    );
    assert!(at("keyroute_router_cost_micros_total", "") > 0.0);
    assert_eq!(at("keyroute_router_upstream_seconds_count", ""), 3.0);
    assert_eq!(
        at("keyroute_router_stream_first_byte_seconds_count", ""),
        1.0
    );
    assert_eq!(
        metric_value(&text, "keyroute_router_added_seconds_count"),
        Some(3.0)
    );
    assert_eq!(metric_value(&text, "keyroute_router_vault_up"), Some(1.0));
    assert_eq!(
        metric_value(&text, "keyroute_router_lease_refresh_failures_total"),
        Some(0.0)
    );
    assert!(
        metric_value(
            &text,
            r#"keyroute_router_vault_calls_total{method="LeaseCredentials",code="0"}"#
        )
        .is_some_and(|calls| calls >= 1.0),
        "{text}"
    );
    assert!(metric_value(&text, "keyroute_router_usage_records_queued").is_some());
    assert!(
        !text.contains("trace_id"),
        "no exemplars in the text format:\n{text}"
    );

    // Prometheus's own Accept header: OpenMetrics, exemplars included.
    let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let (kind, open) = scrape(stack.metrics, Some(prometheus)).await;
    assert!(
        kind.starts_with("application/openmetrics-text; version=1.0.0"),
        "{kind}"
    );
    assert!(open.ends_with("# EOF\n"), "{open}");
    let exemplar = format!("# {{trace_id=\"{TRACE_ID}\"}}");
    for series in [
        "keyroute_router_added_seconds_bucket",
        "keyroute_router_upstream_seconds_bucket",
        "keyroute_router_stream_first_byte_seconds_bucket",
    ] {
        assert!(
            open.lines()
                .any(|line| line.starts_with(series) && line.contains(&exemplar)),
            "{series} has no exemplar of trace {TRACE_ID}:\n{open}"
        );
    }
}
