//! Messages API responses and errors: parsing a provider's (egress), and the error body for a
//! client (ingress; the answer for a client is written in `answer.rs`).

use serde_json::{Value, json};

use super::shapes::Answer;
use super::{PROVIDER, error_type, finish_reason, status_of};
use crate::canonical::pb::{self, content_part::Part};
use crate::error::{ErrorKind, WireError};
use crate::json::str_of;
use crate::lenient;

/// Parses a provider's non-streaming response (any status).
pub fn parse_response(status: u16, body: &[u8]) -> Result<pb::ChatResponse, WireError> {
    if !(200..300).contains(&status) {
        return Err(parse_error(status, body));
    }
    let answer = lenient::parse::<Answer<'_>>(body).map_err(|error| {
        WireError::malformed(PROVIDER, format!("response is not JSON: {error}"))
    })?;
    let blocks = answer
        .content
        .0
        .as_deref()
        .ok_or_else(|| WireError::malformed(PROVIDER, "response has no content"))?;
    let mut content = Vec::with_capacity(blocks.len());
    for block in blocks {
        let part = match block.kind.as_str() {
            "text" => Part::Text(block.text.as_str().to_owned()),
            "tool_use" => Part::ToolCall(pb::ToolCall {
                id: block.id.as_str().to_owned(),
                name: block.name.as_str().to_owned(),
                arguments_json: block
                    .input
                    .0
                    .as_ref()
                    .map(Value::to_string)
                    .unwrap_or_else(|| "{}".into()),
            }),
            "thinking" => Part::Reasoning(pb::Reasoning {
                text: block.thinking.as_str().to_owned(),
                signature: block.signature.as_str().to_owned(),
                redacted: String::new(),
                ..Default::default()
            }),
            "redacted_thinking" => Part::Reasoning(pb::Reasoning {
                redacted: block.data.as_str().to_owned(),
                ..Default::default()
            }),
            _ => continue,
        };
        content.push(pb::ContentPart {
            part: Some(part),
            ..Default::default()
        });
    }
    let native = answer.stop_reason.as_str();
    if native == "refusal" {
        // What the model said when it refused is its refusal.
        for part in &mut content {
            part.refusal = matches!(part.part, Some(Part::Text(_)));
        }
    }
    Ok(pb::ChatResponse {
        id: answer.id.as_str().to_owned(),
        model: answer.model.as_str().to_owned(),
        choices: vec![pb::Choice {
            index: 0,
            message: Some(pb::Message {
                role: pb::Role::Assistant as i32,
                content,
                name: String::new(),
            }),
            finish_reason: finish_reason(native) as i32,
            stop_sequence: answer.stop_sequence.as_str().to_owned(),
            native_finish_reason: native.to_owned(),
        }],
        usage: Some(answer.usage.canonical()),
        served_by: None,
        provider_extras_json: String::new(),
        created: 0,
    })
}

/// An Anthropic error body: `{"type":"error","error":{"type","message"}}`.
pub fn parse_error(status: u16, body: &[u8]) -> WireError {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let error = value.get("error").unwrap_or(&Value::Null);
    let kind = match str_of(error, "type") {
        "" => error_type(status),
        kind => kind,
    };
    let message = match str_of(error, "message") {
        "" => format!("upstream answered {status}"),
        message => message.to_owned(),
    };
    let status = if status == 0 { status_of(kind) } else { status };
    let mut classified = WireError::from_status(PROVIDER, status, kind, message);
    if kind == "billing_error" {
        classified.kind = ErrorKind::Billing;
    }
    // A spend cap the account set itself: another try with this key will not pass.
    if value
        .pointer("/error/details/error_code")
        .and_then(Value::as_str)
        == Some("enforced_spend_limit_reached")
    {
        classified.kind = ErrorKind::Billing;
    }
    classified
}

/// The error body Anthropic clients expect.
pub fn render_error(status: u16, message: &str) -> Vec<u8> {
    json!({ "type": "error", "error": { "type": error_type(status), "message": message } })
        .to_string()
        .into_bytes()
}
