//! Chat Completions responses and errors: parsing a provider's (egress) and rendering one
//! for a client (ingress).

use serde_json::{Value, json};

use super::messages::{MessageStyle, write_messages};
use super::stream::usage_of;
use super::{PROVIDER, error_type, finish_reason, finish_reason_name};
use crate::canonical::pb::{self, content_part::Part};
use crate::error::{ErrorKind, WireError};
use crate::json::str_of;

/// Parses a provider's non-streaming response (any status).
pub fn parse_response(status: u16, body: &[u8]) -> Result<pb::ChatResponse, WireError> {
    if !(200..300).contains(&status) {
        return Err(parse_error(status, body));
    }
    let value: Value = serde_json::from_slice(body).map_err(|error| {
        WireError::malformed(PROVIDER, format!("response is not JSON: {error}"))
    })?;
    let choices = value
        .get("choices")
        .and_then(Value::as_array)
        .ok_or_else(|| WireError::malformed(PROVIDER, "response has no choices"))?;
    let mut out = Vec::with_capacity(choices.len());
    for choice in choices {
        let message = choice.get("message").unwrap_or(&Value::Null);
        let mut content = Vec::new();
        let reasoning = str_of(message, "reasoning_content");
        if !reasoning.is_empty() {
            content.push(pb::ContentPart {
                part: Some(Part::Reasoning(pb::Reasoning {
                    text: reasoning.to_owned(),
                    ..Default::default()
                })),
                ..Default::default()
            });
        }
        let text = str_of(message, "content");
        if !text.is_empty() {
            content.push(pb::ContentPart {
                part: Some(Part::Text(text.to_owned())),
                ..Default::default()
            });
        }
        let refusal = str_of(message, "refusal");
        if !refusal.is_empty() {
            content.push(pb::ContentPart {
                part: Some(Part::Text(refusal.to_owned())),
                refusal: true,
                ..Default::default()
            });
        }
        for call in message
            .get("tool_calls")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let function = call.get("function").unwrap_or(&Value::Null);
            content.push(pb::ContentPart {
                part: Some(Part::ToolCall(pb::ToolCall {
                    id: str_of(call, "id").to_owned(),
                    name: str_of(function, "name").to_owned(),
                    arguments_json: str_of(function, "arguments").to_owned(),
                })),
                ..Default::default()
            });
        }
        let native = str_of(choice, "finish_reason");
        out.push(pb::Choice {
            index: choice.get("index").and_then(Value::as_u64).unwrap_or(0) as u32,
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
        id: str_of(&value, "id").to_owned(),
        model: str_of(&value, "model").to_owned(),
        choices: out,
        usage: value.get("usage").filter(|u| u.is_object()).map(usage_of),
        served_by: None,
        provider_extras_json: String::new(),
        created: value
            .get("created")
            .and_then(Value::as_i64)
            .unwrap_or_default(),
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

/// Renders a canonical response as a Chat Completions body for a client.
pub fn render_response(response: &pb::ChatResponse) -> Vec<u8> {
    let style = MessageStyle {
        developer_role: true,
        reasoning_content: true,
    };
    let choices: Vec<Value> = response
        .choices
        .iter()
        .map(|choice| {
            // A refusal goes in `refusal`, apart from the content.
            let (refused, answer) = match &choice.message {
                Some(m) => {
                    let mut answer = m.clone();
                    let (refused, kept): (Vec<_>, Vec<_>) =
                        answer.content.drain(..).partition(|p| p.refusal);
                    answer.content = kept;
                    (refused, Some(answer))
                }
                None => (Vec::new(), None),
            };
            let mut message = answer
                .as_ref()
                .map(|m| write_messages(std::slice::from_ref(m), style).pop().unwrap_or(Value::Null))
                .unwrap_or(json!({ "role": "assistant", "content": null }));
            let refusal: String = refused
                .iter()
                .filter_map(|p| match &p.part {
                    Some(Part::Text(text)) => Some(text.as_str()),
                    _ => None,
                })
                .collect();
            message["refusal"] = if refusal.is_empty() { Value::Null } else { Value::String(refusal) };
            let reason = pb::FinishReason::try_from(choice.finish_reason).unwrap_or(pb::FinishReason::Stop);
            json!({ "index": choice.index, "message": message, "logprobs": null, "finish_reason": finish_reason_name(reason) })
        })
        .collect();
    let usage = response.usage.unwrap_or_default();
    let mut prompt_details = json!({ "cached_tokens": usage.cache_read_tokens });
    if usage.cache_write_tokens > 0 {
        // Not every OpenAI answer has it; hosts that report cache writes put them here.
        prompt_details["cache_write_tokens"] = json!(usage.cache_write_tokens);
    }
    let body = json!({
        "id": if response.id.is_empty() { "chatcmpl-keyroute" } else { response.id.as_str() },
        "object": "chat.completion",
        "created": response.created,
        "model": response.model,
        "choices": choices,
        "usage": {
            "prompt_tokens": usage.input_tokens,
            "completion_tokens": usage.output_tokens,
            "total_tokens": usage.total_tokens.max(usage.input_tokens + usage.output_tokens),
            "prompt_tokens_details": prompt_details,
            "completion_tokens_details": { "reasoning_tokens": usage.reasoning_tokens },
        },
    });
    body.to_string().into_bytes()
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
