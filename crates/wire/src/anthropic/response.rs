//! Messages API responses and errors: parsing a provider's (egress) and rendering one for a
//! client (ingress).

use serde_json::{Value, json};

use super::render::UsageOut;
use super::{PROVIDER, error_type, finish_reason, status_of, stop_reason};
use crate::canonical::pb::{self, content_part::Part};
use crate::error::{ErrorKind, WireError};
use crate::json::{str_of, u64_of};
use crate::responses::THOUGHT_SIGNATURE_PREFIX;

/// Parses a provider's non-streaming response (any status).
pub fn parse_response(status: u16, body: &[u8]) -> Result<pb::ChatResponse, WireError> {
    if !(200..300).contains(&status) {
        return Err(parse_error(status, body));
    }
    let value: Value = serde_json::from_slice(body).map_err(|error| {
        WireError::malformed(PROVIDER, format!("response is not JSON: {error}"))
    })?;
    let blocks = value
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| WireError::malformed(PROVIDER, "response has no content"))?;
    let mut content = Vec::with_capacity(blocks.len());
    for block in blocks {
        let part = match str_of(block, "type") {
            "text" => Part::Text(str_of(block, "text").to_owned()),
            "tool_use" => Part::ToolCall(pb::ToolCall {
                id: str_of(block, "id").to_owned(),
                name: str_of(block, "name").to_owned(),
                arguments_json: block
                    .get("input")
                    .map(Value::to_string)
                    .unwrap_or_else(|| "{}".into()),
            }),
            "thinking" => Part::Reasoning(pb::Reasoning {
                text: str_of(block, "thinking").to_owned(),
                signature: str_of(block, "signature").to_owned(),
                redacted: String::new(),
                ..Default::default()
            }),
            "redacted_thinking" => Part::Reasoning(pb::Reasoning {
                redacted: str_of(block, "data").to_owned(),
                ..Default::default()
            }),
            _ => continue,
        };
        content.push(pb::ContentPart {
            part: Some(part),
            ..Default::default()
        });
    }
    let native = str_of(&value, "stop_reason");
    if native == "refusal" {
        // What the model said when it refused is its refusal.
        for part in &mut content {
            part.refusal = matches!(part.part, Some(Part::Text(_)));
        }
    }
    Ok(pb::ChatResponse {
        id: str_of(&value, "id").to_owned(),
        model: str_of(&value, "model").to_owned(),
        choices: vec![pb::Choice {
            index: 0,
            message: Some(pb::Message {
                role: pb::Role::Assistant as i32,
                content,
                name: String::new(),
            }),
            finish_reason: finish_reason(native) as i32,
            stop_sequence: str_of(&value, "stop_sequence").to_owned(),
            native_finish_reason: native.to_owned(),
        }],
        usage: Some(usage_of(value.get("usage").unwrap_or(&Value::Null))),
        served_by: None,
        provider_extras_json: String::new(),
        created: 0,
    })
}

/// Anthropic usage to canonical. Anthropic's `input_tokens` excludes cache reads and
/// writes (its SDK: total input is the sum of the three); canonical input includes them.
/// `cache_creation` splits the writes by lifetime; without it every write lived 5 minutes.
pub(crate) fn usage_of(usage: &Value) -> pb::Usage {
    let split = |key: &str| {
        usage
            .pointer(&format!("/cache_creation/{key}"))
            .and_then(Value::as_u64)
            .unwrap_or_default()
    };
    let (five_minutes, one_hour) = (
        split("ephemeral_5m_input_tokens"),
        split("ephemeral_1h_input_tokens"),
    );
    let read = u64_of(usage, "cache_read_input_tokens");
    let write = usage
        .get("cache_creation_input_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(five_minutes + one_hour);
    let input = u64_of(usage, "input_tokens") + read + write;
    let output = u64_of(usage, "output_tokens");
    pb::Usage {
        input_tokens: input,
        output_tokens: output,
        cache_read_tokens: read,
        cache_write_tokens: write,
        reasoning_tokens: usage
            .pointer("/output_tokens_details/thinking_tokens")
            .and_then(Value::as_u64)
            .unwrap_or_default(),
        total_tokens: input + output,
        cache_write_1h_tokens: one_hour.min(write),
    }
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

fn block(part: &pb::ContentPart) -> Option<Value> {
    Some(match &part.part {
        Some(Part::Text(text)) => json!({ "type": "text", "text": text }),
        Some(Part::ToolCall(call)) => {
            let input: Value =
                serde_json::from_str(&call.arguments_json).unwrap_or_else(|_| json!({}));
            json!({ "type": "tool_use", "id": call.id, "name": call.name, "input": input })
        }
        Some(Part::Reasoning(r)) if !r.redacted.is_empty() => {
            json!({ "type": "redacted_thinking", "data": r.redacted })
        }
        Some(Part::Reasoning(r)) => {
            json!({ "type": "thinking", "thinking": r.text, "signature": r.signature })
        }
        _ => return None,
    })
}

/// A part's blocks: a tool call Gemini signed is preceded by an empty thinking block that
/// carries the signature (the client sends it back, and ingress puts it on the call again);
/// empty text (Gemini's signature-only parts) is not a block.
fn blocks_of(part: &pb::ContentPart) -> impl Iterator<Item = Value> {
    let carrier = match &part.part {
        Some(Part::ToolCall(_)) if !part.thought_signature.is_empty() => Some(json!({
            "type": "thinking",
            "thinking": "",
            "signature": format!("{THOUGHT_SIGNATURE_PREFIX}{}", part.thought_signature),
        })),
        _ => None,
    };
    let block = match &part.part {
        Some(Part::Text(text)) if text.is_empty() => None,
        _ => block(part),
    };
    carrier.into_iter().chain(block)
}

/// Renders a canonical response as a Messages body for a client (choice 0).
pub fn render_response(response: &pb::ChatResponse) -> Vec<u8> {
    let choice = response.choices.first().cloned().unwrap_or_default();
    let content: Vec<Value> = choice
        .message
        .as_ref()
        .map(|m| m.content.iter().flat_map(blocks_of).collect())
        .unwrap_or_default();
    let usage = response.usage.unwrap_or_default();
    let refused = choice
        .message
        .as_ref()
        .is_some_and(|m| m.content.iter().any(|p| p.refusal));
    // A refusal reads as text, and the answer stops with `refusal`.
    let reason = match refused {
        true => pb::FinishReason::ContentFilter,
        false => pb::FinishReason::try_from(choice.finish_reason).unwrap_or(pb::FinishReason::Stop),
    };
    let id = if response.id.starts_with("msg_") {
        response.id.clone()
    } else {
        format!("msg_{}", response.id)
    };
    let usage_json = serde_json::to_value(UsageOut::of(&usage)).unwrap_or(Value::Null);
    json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": response.model,
        "content": content,
        "stop_reason": stop_reason(reason, &choice.stop_sequence),
        "stop_sequence": if choice.stop_sequence.is_empty() { Value::Null } else { json!(choice.stop_sequence) },
        "usage": usage_json,
    })
    .to_string()
    .into_bytes()
}

/// The error body Anthropic clients expect.
pub fn render_error(status: u16, message: &str) -> Vec<u8> {
    json!({ "type": "error", "error": { "type": error_type(status), "message": message } })
        .to_string()
        .into_bytes()
}
