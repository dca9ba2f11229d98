//! `generateContent` responses and errors.

use serde_json::{Value, json};

use super::shapes::Answer;
use super::{PROVIDER, finish_reason, status_of};
use crate::canonical::pb::{self, content_part::Part};
use crate::error::{ErrorKind, WireError, parse_retry_after};
use crate::json::{str_of, u64_of};
use crate::lenient;

/// Parses a `generateContent` response (any status).
pub fn parse_response(status: u16, body: &[u8]) -> Result<pb::ChatResponse, WireError> {
    if !(200..300).contains(&status) {
        return Err(parse_error(status, body));
    }
    let answer = lenient::parse::<Answer<'_>>(body).map_err(|error| {
        WireError::malformed(PROVIDER, format!("response is not JSON: {error}"))
    })?;
    let candidates = answer.candidates.items();
    let mut choices = Vec::with_capacity(candidates.len());
    for candidate in candidates {
        let index = candidate.index.value() as u32;
        let parts = candidate.content.parts.items();
        let mut content = Vec::with_capacity(parts.len());
        let mut calls = 0u32;
        for part in parts {
            let canonical = if let Some(call) = &part.function_call.0 {
                let id = match str_of(call, "id") {
                    "" => format!("call_{index}_{calls}"),
                    id => id.to_owned(),
                };
                calls += 1;
                let args = call.get("args").cloned().unwrap_or_else(|| json!({}));
                Part::ToolCall(pb::ToolCall {
                    id,
                    name: str_of(call, "name").to_owned(),
                    arguments_json: args.to_string(),
                })
            } else if part.thought.is_true() {
                Part::Reasoning(pb::Reasoning {
                    text: part.text.as_str().to_owned(),
                    ..Default::default()
                })
            } else {
                Part::Text(part.text.as_str().to_owned())
            };
            content.push(pb::ContentPart {
                part: Some(canonical),
                thought_signature: part.thought_signature.as_str().to_owned(),
                cache: None,
                refusal: false,
            });
        }
        let native = candidate.finish_reason.as_str();
        let mut reason = finish_reason(native);
        if reason == pb::FinishReason::Stop && calls > 0 {
            reason = pb::FinishReason::ToolCalls;
        }
        choices.push(pb::Choice {
            index,
            message: Some(pb::Message {
                role: pb::Role::Assistant as i32,
                content,
                name: String::new(),
            }),
            finish_reason: reason as i32,
            stop_sequence: String::new(),
            native_finish_reason: native.to_owned(),
        });
    }
    if choices.is_empty() {
        let blocked = answer.prompt_feedback.block_reason.get().unwrap_or("OTHER");
        choices.push(pb::Choice {
            index: 0,
            message: Some(pb::Message {
                role: pb::Role::Assistant as i32,
                ..Default::default()
            }),
            finish_reason: pb::FinishReason::ContentFilter as i32,
            stop_sequence: String::new(),
            native_finish_reason: blocked.to_owned(),
        });
    }
    Ok(pb::ChatResponse {
        id: answer.response_id.as_str().to_owned(),
        model: answer.model_version.as_str().to_owned(),
        choices,
        usage: answer.usage.is_present().then(|| answer.usage.canonical()),
        served_by: None,
        provider_extras_json: String::new(),
        created: 0,
    })
}

/// The Google error envelope. A bad AI Studio key is a 400 with reason `API_KEY_INVALID`,
/// which is an authentication failure whatever its status.
pub fn parse_error(status: u16, body: &[u8]) -> WireError {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let value = value
        .as_array()
        .and_then(|a| a.first())
        .cloned()
        .unwrap_or(value);
    let error = value.get("error").unwrap_or(&Value::Null);
    let google_status = str_of(error, "status");
    let status = if status == 0 {
        status_of(google_status, u64_of(error, "code"))
    } else {
        status
    };
    let message = match str_of(error, "message") {
        "" => format!("upstream answered {status}"),
        message => message.to_owned(),
    };
    let kind = if google_status.is_empty() {
        format!("{status}")
    } else {
        google_status.to_owned()
    };
    let mut classified = WireError::from_status(PROVIDER, status, kind, message);
    for detail in error
        .get("details")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        if matches!(
            str_of(detail, "reason"),
            "API_KEY_INVALID" | "API_KEY_EXPIRED" | "API_KEY_SERVICE_BLOCKED"
        ) {
            classified.kind = ErrorKind::Authentication;
            classified.retryable = true;
        }
        if let Some(delay) = detail.get("retryDelay").and_then(Value::as_str) {
            classified.retry_after = parse_retry_after(delay.trim_end_matches('s'));
        }
    }
    classified
}
