//! `keyroute dev --mock` as a real process exporting to a real OTLP/gRPC receiver (built from
//! the published OTLP protos): each request sent with a W3C `traceparent` comes back as one
//! trace under the caller's trace id, edge server span -> router server span -> the router's
//! upstream attempt spans (a fallback's attempts as siblings) and the vault's spans, with the
//! OpenTelemetry GenAI attributes; no span carries a secret, the gateway token or prompt
//! text. The same run checks the access log: one JSON line per request at the default level,
//! with the fields operators read, and none for health probes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod otlp;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::trace::v1::Span;
use otlp::{CALLER_SPAN, Receiver, Trace, attr, hex, int, strings, text};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

/// A key the mock refuses (it takes `sk-mock-...` only): the BYOK attempt that fails over.
const CANARY_KEY: &str = "sk-canary-secret-4d9f1b7e2a6c";
/// Text in every prompt; no span may carry it.
const CANARY_PROMPT: &str = "canary prompt 5e1d77";

struct Dev {
    child: Child,
    url: String,
    token: String,
}

async fn start(state: &Path, otlp: &str) -> Dev {
    let mut child = Command::new(common::BINARY)
        .args(["dev", "--mock", "--http-addr", "127.0.0.1:0", "--state-dir"])
        .arg(state)
        .args(["--log-format", "json"])
        .env("KEYROUTE_OTLP_ENDPOINT", otlp)
        // The default log level and every trace kept, whatever the runner's environment says.
        .env_remove("RUST_LOG")
        .env_remove("KEYROUTE_TRACE_SAMPLE_RATIO")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut url, mut token) = (String::new(), String::new());
    while url.is_empty() || token.is_empty() {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("keyroute dev exited early");
        if let Some(value) = line.strip_prefix("KEYROUTE_URL=") {
            url = value.to_owned();
        } else if let Some(value) = line.strip_prefix("KEYROUTE_TOKEN=") {
            token = value.to_owned();
        }
    }
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Dev { child, url, token }
}

impl Dev {
    /// SIGTERM, then everything logged; the exit flushes the spans still batched.
    async fn stop(mut self) -> (std::process::ExitStatus, String) {
        let pid = self.child.id().unwrap().to_string();
        let killed = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .unwrap();
        assert!(killed.success());
        let mut logs = String::new();
        let mut stderr = self.child.stderr.take().unwrap();
        let read = stderr.read_to_string(&mut logs);
        tokio::time::timeout(Duration::from_secs(60), read)
            .await
            .expect("keyroute dev did not stop within a minute")
            .unwrap();
        (self.child.wait().await.unwrap(), logs)
    }
}

/// One request's ids: what it sends and what it should come back under.
struct Sent {
    trace_id: String,
    request_id: String,
}

impl Sent {
    fn new(n: u32) -> Self {
        Self {
            trace_id: format!("4bf92f3577b34da6a3ce929d0e0e{n:04x}"),
            request_id: format!("req-otlp-test-{n}"),
        }
    }

    fn traceparent(&self, sampled: bool) -> String {
        let flags = if sampled { "01" } else { "00" };
        format!("00-{}-{CALLER_SPAN}-{flags}", self.trace_id)
    }

    fn request(&self, builder: reqwest::RequestBuilder, sampled: bool) -> reqwest::RequestBuilder {
        builder
            .header("traceparent", self.traceparent(sampled))
            .header("tracestate", "keyroute-test=1")
            .header("x-request-id", &self.request_id)
    }
}

/// Sends a request and reads its whole answer; checks the `traceparent` it answered with.
async fn send(sent: &Sent, builder: reqwest::RequestBuilder, sampled: bool) -> (u16, String) {
    let response = sent.request(builder, sampled).send().await.unwrap();
    let status = response.status().as_u16();
    let traceparent = response.headers()["traceparent"]
        .to_str()
        .unwrap()
        .to_owned();
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    assert_eq!(parts[1], sent.trace_id, "the caller's trace continues");
    assert_ne!(parts[2], CALLER_SPAN, "answered with the edge's own span");
    assert_eq!(parts[3], if sampled { "01" } else { "00" });
    (status, response.text().await.unwrap())
}

fn chat(model: &str, stream: bool) -> String {
    json!({
        "model": model, "stream": stream, "max_tokens": 64,
        "messages": [{ "role": "user", "content": CANARY_PROMPT }],
    })
    .to_string()
}

/// A successful chat attempt's GenAI attributes.
fn served_attempt(attempt: &Span, provider: &str, key_source: &str) {
    assert!(attempt.name.starts_with("chat "), "{}", attempt.name);
    assert_eq!(text(attempt, "gen_ai.operation.name"), "chat");
    assert_eq!(text(attempt, "gen_ai.provider.name"), provider);
    let requested = text(attempt, "gen_ai.request.model");
    assert_eq!(attempt.name, format!("chat {requested}"));
    assert!(!text(attempt, "gen_ai.response.model").is_empty());
    assert!(int(attempt, "gen_ai.usage.input_tokens") > 0);
    assert!(int(attempt, "gen_ai.usage.output_tokens") > 0);
    assert!(attr(attempt, "gen_ai.usage.cache_read.input_tokens").is_some());
    match attr(attempt, "gen_ai.response.finish_reasons") {
        Some(any_value::Value::ArrayValue(reasons)) => assert!(!reasons.values.is_empty()),
        other => panic!("finish reasons: {other:?}"),
    }
    assert_eq!(text(attempt, "keyroute.key_source"), key_source);
    let fingerprint = text(attempt, "keyroute.credential.fingerprint");
    assert!(fingerprint.starts_with(&format!("{}:", text(attempt, "keyroute.provider"))));
}

/// The access lines of the JSON log, by request id.
fn access_lines(logs: &str) -> HashMap<String, Vec<Value>> {
    let mut lines: HashMap<String, Vec<Value>> = HashMap::new();
    for line in logs.lines() {
        let Ok(value) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if value["target"] == "keyroute::access" {
            let id = value["request_id"].as_str().unwrap_or_default().to_owned();
            lines.entry(id).or_default().push(value);
        }
    }
    lines
}

#[tokio::test]
async fn one_trace_per_request_through_a_real_receiver() {
    // reqwest is built without a crypto provider of its own in this workspace.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let receiver = Receiver::default();
    let endpoint = receiver.start();
    let state = tempfile::tempdir().unwrap();
    let dev = start(state.path(), &endpoint).await;
    let http = reqwest::Client::new();
    let url = &dev.url;
    let bearer = format!("Bearer {}", dev.token);

    // Before any chat (nothing cached in the router): openai may fall back from the caller's
    // key to managed keys, and the caller adds a key the mock refuses.
    let setting = Sent::new(1);
    let builder = http
        .put(format!("{url}/api/v1/provider-settings"))
        .header("authorization", &bearer)
        .header("content-type", "application/json")
        .body(
            json!({ "provider": "openai", "mode": "custom_key", "fallback_policy": "when_key_fails" })
                .to_string(),
        );
    let (status, body) = send(&setting, builder, true).await;
    assert_eq!(status, 200, "{body}");
    let key = Sent::new(2);
    let builder = http
        .post(format!("{url}/api/v1/keys"))
        .header("authorization", &bearer)
        .header("content-type", "application/json")
        .body(json!({ "provider": "openai", "secret": CANARY_KEY }).to_string());
    let (status, body) = send(&key, builder, true).await;
    assert_eq!(status, 201, "{body}");

    let post = |path: &str, body: String| {
        http.post(format!("{url}{path}"))
            .header("authorization", &bearer)
            .header("content-type", "application/json")
            .header("anthropic-version", "2023-06-01")
            .body(body)
    };
    let fallback = Sent::new(3);
    let (status, body) = send(
        &fallback,
        post("/v1/chat/completions", chat("gpt-4o-mini", false)),
        true,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let plain = Sent::new(4);
    let (status, body) = send(
        &plain,
        post("/v1/chat/completions", chat("gpt-4o-mini", false)),
        true,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let stream = Sent::new(5);
    let (status, body) = send(
        &stream,
        post("/v1/messages", chat("claude-sonnet-4-5", true)),
        true,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("event: message_stop"), "{body}");
    let error = Sent::new(6);
    let (status, body) = send(
        &error,
        post("/v1/chat/completions", chat("no-such-model", false)),
        true,
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let embed = Sent::new(9);
    let body = json!({ "model": "text-embedding-3-small", "input": [CANARY_PROMPT] });
    let (status, body) = send(&embed, post("/v1/embeddings", body.to_string()), true).await;
    assert_eq!(status, 200, "{body}");
    let unsampled = Sent::new(7);
    let (status, _) = send(
        &unsampled,
        post("/v1/chat/completions", chat("gpt-4o-mini", false)),
        false,
    )
    .await;
    assert_eq!(status, 200);
    let probe = Sent::new(8);
    let response = probe
        .request(http.get(format!("{url}/healthz")), true)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let token = dev.token.clone();
    let (exit, logs) = dev.stop().await;
    assert!(exit.success(), "SIGTERM stops it cleanly: {exit:?}\n{logs}");
    let expected: HashSet<String> = [&fallback, &plain, &stream, &error, &embed]
        .iter()
        .map(|s| s.trace_id.clone())
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let spans = loop {
        // Flushed before the process exited; a moment more for the receiver's side.
        let spans = receiver.spans();
        let seen: HashSet<String> = spans.iter().map(|s| hex(&s.trace_id)).collect();
        if expected.is_subset(&seen) || tokio::time::Instant::now() > deadline {
            break spans;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // A fallback: the caller's key refused (401), then a managed key: sibling attempts.
    let trace = Trace::of(&spans, &fallback.trace_id);
    let (edge, router) = trace.edge_and_router("POST /v1/chat/completions", "Complete", 0);
    assert_eq!(int(edge, "http.response.status_code"), 200);
    assert_eq!(text(edge, "http.request.method"), "POST");
    assert!(!text(edge, "keyroute.principal.id").is_empty());
    let attempts = trace.attempts(router);
    assert_eq!(attempts.len(), 2, "{:?}", trace.names());
    assert_eq!(text(attempts[0], "keyroute.key_source"), "byok");
    assert_eq!(int(attempts[0], "keyroute.attempt"), 1);
    assert_eq!(int(attempts[0], "http.response.status_code"), 401);
    assert_eq!(text(attempts[0], "error.type"), "authentication");
    assert_eq!(int(attempts[1], "keyroute.attempt"), 2);
    served_attempt(attempts[1], "openai", "managed");
    // Nothing was cached in the router yet: the token check and the leases asked the vault,
    // within this trace.
    assert!(
        !trace.vault_spans().is_empty(),
        "vault spans: {:?}",
        trace.names()
    );

    // A plain chat: the refused key is benched, so a managed key serves at once.
    let trace = Trace::of(&spans, &plain.trace_id);
    let (_, router) = trace.edge_and_router("POST /v1/chat/completions", "Complete", 0);
    let attempts = trace.attempts(router);
    let served = attempts.last().unwrap();
    served_attempt(served, "openai", "managed");
    let plain_tokens = (
        int(served, "gen_ai.usage.input_tokens"),
        int(served, "gen_ai.usage.output_tokens"),
    );
    trace.vault_spans();

    // A stream: the attempt's span lasts to the stream's end and carries its usage.
    let trace = Trace::of(&spans, &stream.trace_id);
    let (_, router) = trace.edge_and_router("POST /v1/messages", "CompleteStream", 0);
    let attempts = trace.attempts(router);
    assert_eq!(attempts.len(), 1, "{:?}", trace.names());
    served_attempt(attempts[0], "anthropic", "managed");
    assert!(attempts[0].end_time_unix_nano <= router.end_time_unix_nano);
    trace.vault_spans();

    // An error: an unknown model is the caller's 404, NOT_FOUND at the router, no attempt.
    let trace = Trace::of(&spans, &error.trace_id);
    let (edge, router) = trace.edge_and_router("POST /v1/chat/completions", "Complete", 5);
    assert_eq!(int(edge, "http.response.status_code"), 404);
    assert!(trace.attempts(router).is_empty());

    // Embeddings: an attempt span of their own operation.
    let trace = Trace::of(&spans, &embed.trace_id);
    let (_, router) = trace.edge_and_router("POST /v1/embeddings", "Embed", 0);
    let attempts = trace.attempts(router);
    let served = attempts.last().unwrap();
    assert_eq!(served.name, "embeddings text-embedding-3-small");
    assert_eq!(text(served, "gen_ai.operation.name"), "embeddings");
    assert!(int(served, "gen_ai.usage.input_tokens") > 0);
    assert_eq!(text(served, "keyroute.key_source"), "managed");

    // Key management: the edge calls the vault directly, in the caller's trace.
    let trace = Trace::of(&spans, &key.trace_id);
    let edge = trace.one("POST /api/v1/keys");
    let create = trace.one("keyroute.vault.v1.VaultService/CreateCredential");
    assert_eq!(create.parent_span_id, edge.span_id);

    // The caller said not to sample: nothing of that trace is exported.
    assert!(Trace::of(&spans, &unsampled.trace_id).spans.is_empty());
    assert!(
        Trace::of(&spans, &probe.trace_id).spans.is_empty(),
        "no probe spans"
    );

    // No secret, token or prompt anywhere in any span exported.
    for span in &spans {
        for value in strings(span) {
            for canary in [CANARY_KEY, CANARY_PROMPT, token.as_str(), "sk-mock-"] {
                assert!(!value.contains(canary), "{} carries {canary}", span.name);
            }
        }
    }

    check_access_log(&logs, &[&setting, &key, &fallback, &plain, &stream, &error]);
    let lines = access_lines(&logs);
    assert!(!lines.contains_key(&probe.request_id), "no line for probes");
    let plain_line = &lines[&plain.request_id][0];
    assert_eq!(
        (
            plain_line["input_tokens"].as_i64(),
            plain_line["output_tokens"].as_i64()
        ),
        (Some(plain_tokens.0), Some(plain_tokens.1)),
        "the line and the span count alike: {plain_line}"
    );
    let embed_line = &lines[&embed.request_id][0];
    assert_eq!(
        embed_line["model"], "text-embedding-3-small",
        "{embed_line}"
    );
    assert_eq!(embed_line["provider"], "openai", "{embed_line}");
    assert!(
        embed_line["input_tokens"].as_u64().unwrap() > 0,
        "{embed_line}"
    );
    assert!(
        embed_line["principal_id"].as_str().is_some(),
        "{embed_line}"
    );
    let unsampled_line = &lines[&unsampled.request_id][0];
    assert_eq!(unsampled_line["trace_id"], unsampled.trace_id.as_str());
    for canary in [CANARY_KEY, CANARY_PROMPT, token.as_str()] {
        assert!(!logs.contains(canary), "the logs carry {canary}");
    }
}

/// Exactly one access line per request, with its fields; between the first and the last
/// request's line, no other line at info or above (the router and the vault add none).
fn check_access_log(logs: &str, sent: &[&Sent]) {
    let lines = access_lines(logs);
    for one in sent {
        let found = lines.get(&one.request_id).map_or(0, Vec::len);
        assert_eq!(found, 1, "{} has one line:\n{logs}", one.request_id);
        let line = &lines[&one.request_id][0];
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["trace_id"], one.trace_id.as_str(), "{line}");
        assert!(line["latency_ms"].as_f64().unwrap() > 0.0, "{line}");
        assert_eq!(line["client_gone"], false, "{line}");
    }
    let line = |sent: &Sent| lines[&sent.request_id][0].clone();

    let key = line(sent[1]);
    assert_eq!(key["method"], "POST");
    assert_eq!(key["endpoint"], "/api/v1/keys");
    assert_eq!(key["status"], 201);
    assert!(key.get("model").is_none(), "{key}");

    let fallback = line(sent[2]);
    assert_eq!(fallback["dialect"], "openai");
    assert_eq!(fallback["endpoint"], "/v1/chat/completions");
    assert_eq!(fallback["status"], 200);
    assert_eq!(fallback["model"], "gpt-4o-mini");
    assert!(fallback["served_model"].as_str().is_some(), "{fallback}");
    assert_eq!(fallback["provider"], "openai");
    assert_eq!(fallback["key_source"], "managed");
    assert_eq!(fallback["attempts"], 2);
    assert!(fallback["input_tokens"].as_u64().unwrap() > 0, "{fallback}");
    assert!(
        fallback["output_tokens"].as_u64().unwrap() > 0,
        "{fallback}"
    );
    assert_eq!(fallback["cached_tokens"], 0);
    assert!(fallback["cost_micros"].as_i64().unwrap() > 0, "{fallback}");
    assert!(fallback["principal_id"].as_str().is_some(), "{fallback}");
    assert_eq!(fallback["stream"], false);
    assert!(fallback.get("error_origin").is_none(), "{fallback}");

    let stream = line(sent[4]);
    assert_eq!(stream["dialect"], "anthropic");
    assert_eq!(stream["stream"], true);
    assert_eq!(stream["provider"], "anthropic");
    assert!(stream["output_tokens"].as_u64().unwrap() > 0, "{stream}");
    assert!(stream["cost_micros"].as_i64().unwrap() > 0, "{stream}");
    let (ttfb, latency) = (stream["ttfb_ms"].as_f64(), stream["latency_ms"].as_f64());
    assert!(ttfb.unwrap() <= latency.unwrap(), "{stream}");

    let error = line(sent[5]);
    assert_eq!(error["status"], 404);
    assert_eq!(error["error_origin"], "client");
    assert_eq!(error["model"], "no-such-model");
    assert!(error["principal_id"].as_str().is_some(), "{error}");

    // The requests ran one after another: between the first line and the last, every line
    // at info or above is an access line.
    let all: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect();
    let position = |id: &str| {
        all.iter()
            .position(|v| v["target"] == "keyroute::access" && v["request_id"] == id)
            .unwrap()
    };
    let (first, last) = (
        position(&sent[0].request_id),
        position(&sent[sent.len() - 1].request_id),
    );
    for value in &all[first..=last] {
        if value["level"] != "DEBUG" && value["level"] != "TRACE" {
            assert_eq!(value["target"], "keyroute::access", "{value}");
        }
    }
}
