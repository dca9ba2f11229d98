//! Chat Completions responses and errors: parsing a provider's (egress), and the error body
//! for a client (ingress; the answer for a client is written in `answer.rs`).

use serde_json::{Value, json};

use super::shapes::{Answer, Usage};
use super::{PROVIDER, error_type, finish_reason};
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
    let choices = answer
        .choices
        .0
        .as_deref()
        .ok_or_else(|| WireError::malformed(PROVIDER, "response has no choices"))?;
    let mut out = Vec::with_capacity(choices.len());
    for choice in choices {
        let message = &choice.message;
        let calls = message.tool_calls.items();
        let mut content = Vec::with_capacity(3 + calls.len());
        let reasoning = message.reasoning_content.as_str();
        if !reasoning.is_empty() {
            content.push(pb::ContentPart {
                part: Some(Part::Reasoning(pb::Reasoning {
                    text: reasoning.to_owned(),
                    ..Default::default()
                })),
                ..Default::default()
            });
        }
        let text = message.content.as_str();
        if !text.is_empty() {
            content.push(pb::ContentPart {
                part: Some(Part::Text(text.to_owned())),
                ..Default::default()
            });
        }
        let refusal = message.refusal.as_str();
        if !refusal.is_empty() {
            content.push(pb::ContentPart {
                part: Some(Part::Text(refusal.to_owned())),
                refusal: true,
                ..Default::default()
            });
        }
        for call in calls {
            content.push(pb::ContentPart {
                part: Some(Part::ToolCall(pb::ToolCall {
                    id: call.id.as_str().to_owned(),
                    name: call.function.name.as_str().to_owned(),
                    arguments_json: call.function.arguments.as_str().to_owned(),
                })),
                ..Default::default()
            });
        }
        let native = choice.finish_reason.as_str();
        out.push(pb::Choice {
            index: choice.index.value() as u32,
            message: Some(pb::Message {
                role: pb::Role::Assistant as i32,
                content,
                name: String::new(),
            }),
            finish_reason: if native.is_empty() {
                0
            } else {
                finish_reason(native) as i32
            },
            stop_sequence: String::new(),
            native_finish_reason: native.to_owned(),
        });
    }
    Ok(pb::ChatResponse {
        id: answer.id.as_str().to_owned(),
        model: answer.model.as_str().to_owned(),
        choices: out,
        usage: answer.usage.object().map(Usage::canonical),
        served_by: None,
        provider_extras_json: String::new(),
        created: answer.created.value(),
    })
}

/// An OpenAI-format error body (also Mistral's, DeepSeek's and most compatible hosts').
pub fn parse_error(status: u16, body: &[u8]) -> WireError {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let error = value.get("error").unwrap_or(&value);
    let message = match error {
        Value::String(message) => message.as_str(),
        _ => match str_of(error, "message") {
            "" => str_of(&value, "message"),
            message => message,
        },
    };
    let message = if message.is_empty() {
        format!("upstream answered {status}")
    } else {
        message.to_owned()
    };
    let code = match error.get("code") {
        Some(Value::String(code)) => code.clone(),
        _ => String::new(),
    };
    let kind = str_of(error, "type");
    let error_type = if kind.is_empty() {
        code.clone()
    } else {
        kind.to_owned()
    };
    let mut classified = WireError::from_status(PROVIDER, status, error_type, message);
    // Out of credit is a 429 too, but waiting will not help.
    if code == "insufficient_quota"
        || kind == "insufficient_quota"
        || code == "credit_balance_exhausted"
    {
        classified.kind = ErrorKind::Billing;
        classified.retryable = true;
    }
    // Context too long: the request itself must change.
    if code == "context_length_exceeded" {
        classified.retryable = false;
    }
    classified
}

/// The error body OpenAI clients expect: `{"error":{"message","type","param","code"}}`.
pub fn render_error(
    status: u16,
    message: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Vec<u8> {
    json!({ "error": { "message": message, "type": error_type(status), "param": param, "code": code } }).to_string().into_bytes()
}
