//! The Anthropic Messages API, direct or published on Vertex (model in the URL,
//! `anthropic_version` in the body). Thinking signatures sent back must be ones it issued.

use axum::response::Response;
use keyroute_wire::anthropic::{self, AnthropicStreamRenderer};
use keyroute_wire::canonical::pb::complete_stream_response::Event;
use keyroute_wire::canonical::pb::content_part::Part;
use keyroute_wire::canonical::{StreamRenderer, event};
use serde_json::{Value, json};

use crate::answer::{Answer, SIGNATURE_PREFIX, echo_features, from_canonical};
use crate::{Call, respond};

fn error(status: u16, kind: &str, message: &str) -> Response {
    respond::json(status, json!({ "type": "error", "error": { "type": kind, "message": message }, "request_id": "req_mock" }).to_string().into_bytes())
}

/// Serves a Messages request; `vertex_model` is set when Vertex already authenticated it.
pub async fn messages(call: Call, vertex_model: Option<String>) -> Response {
    let key = match &vertex_model {
        Some(_) => call.bearer().unwrap_or_default().to_owned(),
        None => {
            let Some(key) = call.header("x-api-key") else {
                return error(401, "authentication_error", "x-api-key header is required");
            };
            if !call.mock.has_key("anthropic", key) {
                return error(401, "authentication_error", "invalid x-api-key");
            }
            if call.header("anthropic-version").is_none() {
                return error(
                    400,
                    "invalid_request_error",
                    "anthropic-version: header is required",
                );
            }
            key.to_owned()
        }
    };
    let fault = match call.fault(&key) {
        Ok(fault) => fault,
        Err(message) => return error(400, "invalid_request_error", &message),
    };
    tokio::time::sleep(fault.first_byte_delay).await;
    if let Some(status) = fault.status {
        let response = error(status, anthropic::error_type(status), "injected fault");
        return match fault.retry_after {
            Some(seconds) => respond::with_header(response, "retry-after", &seconds.to_string()),
            None => response,
        };
    }
    let mut body: Value = serde_json::from_slice(&call.body).unwrap_or(Value::Null);
    if let Some(model) = &vertex_model {
        if body.get("anthropic_version").and_then(Value::as_str) != Some("vertex-2023-10-16") {
            return error(
                400,
                "invalid_request_error",
                "anthropic_version: vertex-2023-10-16 is required on Vertex",
            );
        }
        if let Some(object) = body.as_object_mut() {
            object.remove("anthropic_version");
            object.insert("model".into(), json!(model));
        }
    }
    let parsed = match anthropic::parse_request(body.to_string().as_bytes()) {
        Ok(parsed) => parsed,
        Err(invalid) => return error(400, "invalid_request_error", &invalid.to_string()),
    };
    let forged = parsed.request.messages.iter().flat_map(|m| &m.content).any(|part| {
        matches!(&part.part, Some(Part::Reasoning(r)) if !r.signature.is_empty() && !r.signature.starts_with(SIGNATURE_PREFIX))
    });
    if forged {
        return error(
            400,
            "invalid_request_error",
            "Invalid `signature` in `thinking` block",
        );
    }
    let mut input = from_canonical(&parsed.request, parsed.stream, true);
    echo_features(&mut input, &body);
    let answer = Answer::for_input(&input, call.mock.next_id());
    if !parsed.stream {
        return respond::json(200, anthropic::render_response(&answer.response()));
    }
    let mut renderer = AnthropicStreamRenderer::new();
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    let mut events = answer.events();
    // Anthropic's `message_start` carries the input side of the usage; `message_delta`
    // repeats it with the output, cumulatively.
    events.insert(1, event(Event::Usage(answer.opening_usage())));
    for event in events {
        let mut out = Vec::new();
        renderer.render(&event, &mut out);
        if !out.is_empty() {
            chunks.push(out);
        }
    }
    // Anthropic interleaves pings; clients must skip them.
    chunks.insert(1, b"event: ping\ndata: {\"type\": \"ping\"}\n\n".to_vec());
    respond::stream("text/event-stream", chunks, &fault)
}

/// `POST /v1/messages/count_tokens`: one token per whitespace-separated word of every text,
/// plus one per message — deterministic, and unlike keyroute's own estimate, so a test can
/// tell an exact count from an estimate.
pub async fn count_tokens(call: Call) -> Response {
    let Some(key) = call.header("x-api-key") else {
        return error(401, "authentication_error", "x-api-key header is required");
    };
    if !call.mock.has_key("anthropic", key) {
        return error(401, "authentication_error", "invalid x-api-key");
    }
    let Ok(body) = serde_json::from_slice::<Value>(&call.body) else {
        return error(400, "invalid_request_error", "the body is not JSON");
    };
    if body.get("max_tokens").is_some() {
        return error(
            400,
            "invalid_request_error",
            "max_tokens: Extra inputs are not permitted",
        );
    }
    let Some(messages) = body.get("messages").and_then(Value::as_array) else {
        return error(400, "invalid_request_error", "messages: Field required");
    };
    fn words(value: &Value) -> u64 {
        match value {
            Value::String(text) => text.split_whitespace().count() as u64,
            Value::Array(items) => items.iter().map(words).sum(),
            Value::Object(object) => object
                .iter()
                .filter(|(key, _)| matches!(key.as_str(), "text" | "content" | "thinking"))
                .map(|(_, v)| words(v))
                .sum(),
            _ => 0,
        }
    }
    let mut tokens = messages.len() as u64 + messages.iter().map(words).sum::<u64>();
    if let Some(system) = body.get("system") {
        tokens += match system {
            Value::String(text) => text.split_whitespace().count() as u64,
            other => words(other),
        };
    }
    respond::json(
        200,
        json!({ "input_tokens": tokens }).to_string().into_bytes(),
    )
}
