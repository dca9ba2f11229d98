//! The access middleware on its own, in this process: one JSON line per request when its
//! answer ends (a stream's when the client goes away too), with what the handler noted about
//! the model call; none for probes; the caller's trace id in the line and in the
//! `traceparent` answered.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt;
use http::{Request, StatusCode};
use keyroute_edge::access::{CallFacts, CallNote, TARGET, observe};
use serde_json::Value;
use tower::ServiceExt;

const CALLER: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/// Where the log lines go.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    fn access(&self) -> Vec<Value> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            .filter(|line| line["target"] == TARGET)
            .collect()
    }
}

async fn served() -> Response {
    let mut response = (StatusCode::OK, "{}").into_response();
    CallNote::new(CallFacts {
        model: Some("gpt-4o-mini".into()),
        served_model: Some("gpt-4o-mini-2024-07-18".into()),
        provider: Some("openai".into()),
        key_source: Some("byok"),
        principal: Some("usr_1".into()),
        attempts: Some(1),
        input_tokens: Some(12),
        output_tokens: Some(5),
        cached_tokens: Some(0),
        cost_micros: Some(42),
        ..CallFacts::default()
    })
    .attach(&mut response);
    response
}

async fn streamed() -> Response {
    let chunks = futures::stream::iter(["data: 1\n\n", "data: 2\n\n"])
        .map(Ok::<_, std::convert::Infallible>)
        .chain(futures::stream::pending());
    let mut response = Response::new(Body::from_stream(chunks));
    CallNote::new(CallFacts {
        model: Some("claude-sonnet-4-5".into()),
        stream: true,
        ..CallFacts::default()
    })
    .attach(&mut response);
    response
}

fn app() -> axum::Router {
    axum::Router::new()
        .route("/v1/chat/completions", post(served))
        .route("/v1/messages", post(streamed))
        .route("/healthz", get(|| async { "ok" }))
        .layer(axum::middleware::from_fn(
            |request: Request<Body>, next: axum::middleware::Next| async move {
                observe(request, async |request| next.run(request).await).await
            },
        ))
}

fn request(method: &str, path: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("traceparent", CALLER)
        .header("x-request-id", format!("req{}", path.replace('/', "-")))
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn one_line_per_request_with_the_calls_facts() {
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_writer(move || writer.clone())
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);

    let response = app()
        .oneshot(request("POST", "/v1/chat/completions"))
        .await
        .unwrap();
    let traceparent = response.headers()["traceparent"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        traceparent.starts_with("00-0af7651916cd43dd8448eb211c80319c-"),
        "{traceparent}"
    );
    assert!(lines.access().is_empty(), "written when the body is sent");
    axum::body::to_bytes(response.into_body(), 1024)
        .await
        .unwrap();
    let access = lines.access();
    assert_eq!(access.len(), 1, "{access:?}");
    let line = &access[0];
    assert_eq!(line["request_id"], "req-v1-chat-completions");
    assert_eq!(line["trace_id"], "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(line["endpoint"], "/v1/chat/completions");
    assert_eq!(line["dialect"], "openai");
    assert_eq!(line["status"], 200);
    assert_eq!(line["model"], "gpt-4o-mini");
    assert_eq!(line["served_model"], "gpt-4o-mini-2024-07-18");
    assert_eq!(line["key_source"], "byok");
    assert_eq!(line["principal_id"], "usr_1");
    assert_eq!(line["input_tokens"], 12);
    assert_eq!(line["cost_micros"], 42);
    assert_eq!(line["client_gone"], false);
    assert!(line["ttfb_ms"].as_f64().is_some(), "{line}");

    // A stream whose client leaves after its first event: the line comes when it is dropped.
    let response = app()
        .oneshot(request("POST", "/v1/messages"))
        .await
        .unwrap();
    let mut body = response.into_body().into_data_stream();
    body.next().await.unwrap().unwrap();
    drop(body);
    let access = lines.access();
    assert_eq!(access.len(), 2, "{access:?}");
    let line = &access[1];
    assert_eq!(line["dialect"], "anthropic");
    assert_eq!(line["stream"], true);
    assert_eq!(line["client_gone"], true);
    assert!(
        line["ttfb_ms"].as_f64().unwrap() <= line["latency_ms"].as_f64().unwrap(),
        "{line}"
    );

    // Probes: answered, not logged.
    let response = app().oneshot(request("GET", "/healthz")).await.unwrap();
    assert!(!response.headers().contains_key("traceparent"));
    axum::body::to_bytes(response.into_body(), 1024)
        .await
        .unwrap();
    // Unknown paths: logged by path, without a route.
    let response = app().oneshot(request("GET", "/nowhere")).await.unwrap();
    assert_eq!(response.status(), 404);
    axum::body::to_bytes(response.into_body(), 1024)
        .await
        .unwrap();
    let access = lines.access();
    assert_eq!(access.len(), 3, "{access:?}");
    assert_eq!(access[2]["path"], "/nowhere");
    assert!(access[2].get("endpoint").is_none());
    assert_eq!(access[2]["error_origin"], "client");
}
