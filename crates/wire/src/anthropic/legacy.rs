//! The Value-tree readers and writer that the typed ones replaced, kept as the reference:
//! for any input, the typed path must give what these gave (the same canonical answer, the
//! same events, the same error message, the same bytes). One change from the originals, made
//! in both: token sums saturate (an upstream's `u64::MAX` overflowed them, a panic in debug
//! builds).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use serde_json::{Value, json};

use super::render::UsageOut;
use super::{PROVIDER, finish_reason, status_of, stop_reason};
use crate::canonical::pb::{self, complete_stream_response::Event, content_part::Part};
use crate::canonical::{StreamEvent, delta, error_event, event};
use crate::error::WireError;
use crate::json::{str_of, u64_of};
use crate::responses::THOUGHT_SIGNATURE_PREFIX;

pub(super) fn legacy_parse_response(
    status: u16,
    body: &[u8],
) -> Result<pb::ChatResponse, WireError> {
    if !(200..300).contains(&status) {
        return Err(super::parse_error(status, body));
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
fn usage_of(usage: &Value) -> pb::Usage {
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
        .unwrap_or(five_minutes.saturating_add(one_hour));
    let input = u64_of(usage, "input_tokens")
        .saturating_add(read)
        .saturating_add(write);
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
        total_tokens: input.saturating_add(output),
        cache_write_1h_tokens: one_hour.min(write),
    }
}

/// Reads Anthropic's events; the SSE layer is shared.
#[derive(Debug, Default)]
pub(super) struct LegacyEvents {
    /// Anthropic block index -> canonical tool-call index.
    tools: HashMap<u64, u32>,
    next_tool: u32,
    usage: pb::Usage,
    /// Every usage field seen so far, latest value kept.
    raw_usage: serde_json::Map<String, Value>,
    stopped: bool,
}

impl LegacyEvents {
    pub(super) fn closed(&self) -> bool {
        self.stopped
    }

    /// Usage counts are cumulative: each field a later event repeats overwrites the earlier.
    fn update_usage(&mut self, usage: &Value) {
        if let Some(fields) = usage.as_object() {
            for (key, value) in fields.iter().filter(|(_, v)| !v.is_null()) {
                self.raw_usage.insert(key.clone(), value.clone());
            }
        }
        self.usage = usage_of(&Value::Object(self.raw_usage.clone()));
    }

    pub(super) fn handle(
        &mut self,
        data: &Value,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), WireError> {
        let kind = str_of(data, "type");
        match kind {
            "message_start" => {
                let message = data.get("message").unwrap_or(&Value::Null);
                out.push(event(Event::Start(pb::StreamStart {
                    id: str_of(message, "id").to_owned(),
                    model: str_of(message, "model").to_owned(),
                    created: 0,
                })));
                // The input side is known from the start: a first snapshot goes out now (the
                // final one at `message_stop` supersedes it), so a renderer can put it in its
                // own opening event.
                if let Some(usage) = message.get("usage").filter(|u| u.is_object()) {
                    self.update_usage(usage);
                    out.push(event(Event::Usage(self.usage)));
                }
                out.push(delta(pb::ChatDelta {
                    role: pb::Role::Assistant as i32,
                    ..Default::default()
                }));
            }
            "content_block_start" => {
                let index = u64_of(data, "index");
                let block = data.get("content_block").unwrap_or(&Value::Null);
                match str_of(block, "type") {
                    "text" => push_text(out, str_of(block, "text")),
                    "thinking" => {
                        let thinking = str_of(block, "thinking");
                        if !thinking.is_empty() {
                            out.push(delta(pb::ChatDelta {
                                reasoning: thinking.to_owned(),
                                ..Default::default()
                            }));
                        }
                    }
                    "redacted_thinking" => out.push(delta(pb::ChatDelta {
                        redacted_reasoning: str_of(block, "data").to_owned(),
                        ..Default::default()
                    })),
                    "tool_use" => {
                        let tool = self.next_tool;
                        self.next_tool += 1;
                        self.tools.insert(index, tool);
                        out.push(delta(pb::ChatDelta {
                            tool_call: Some(pb::ToolCallDelta {
                                index: tool,
                                id: str_of(block, "id").to_owned(),
                                name: str_of(block, "name").to_owned(),
                                arguments_fragment: String::new(),
                            }),
                            ..Default::default()
                        }));
                    }
                    // Server tools and their results have no canonical form yet.
                    _ => {}
                }
            }
            "content_block_delta" => {
                let index = u64_of(data, "index");
                let inner = data.get("delta").unwrap_or(&Value::Null);
                match str_of(inner, "type") {
                    "text_delta" => push_text(out, str_of(inner, "text")),
                    "thinking_delta" => out.push(delta(pb::ChatDelta {
                        reasoning: str_of(inner, "thinking").to_owned(),
                        ..Default::default()
                    })),
                    "signature_delta" => out.push(delta(pb::ChatDelta {
                        reasoning_signature: str_of(inner, "signature").to_owned(),
                        ..Default::default()
                    })),
                    "input_json_delta" => {
                        let fragment = str_of(inner, "partial_json");
                        let Some(&tool) = self.tools.get(&index) else {
                            return Err(WireError::malformed(
                                PROVIDER,
                                format!(
                                    "input_json_delta for block {index}, which is not a tool_use block"
                                ),
                            ));
                        };
                        if !fragment.is_empty() {
                            out.push(delta(pb::ChatDelta {
                                tool_call: Some(pb::ToolCallDelta {
                                    index: tool,
                                    arguments_fragment: fragment.to_owned(),
                                    ..Default::default()
                                }),
                                ..Default::default()
                            }));
                        }
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(usage) = data.get("usage") {
                    self.update_usage(usage);
                }
                let inner = data.get("delta").unwrap_or(&Value::Null);
                let reason = str_of(inner, "stop_reason");
                if !reason.is_empty() {
                    out.push(delta(pb::ChatDelta {
                        finish_reason: finish_reason(reason) as i32,
                        native_finish_reason: reason.to_owned(),
                        stop_sequence: str_of(inner, "stop_sequence").to_owned(),
                        ..Default::default()
                    }));
                }
            }
            "message_stop" => {
                self.stopped = true;
                out.push(event(Event::Usage(self.usage)));
                out.push(event(Event::End(pb::StreamEnd::default())));
            }
            "error" => {
                let error = data.get("error").unwrap_or(&Value::Null);
                let error_type = str_of(error, "type");
                let status = status_of(error_type);
                let classified =
                    WireError::from_status(PROVIDER, status, error_type, str_of(error, "message"));
                out.push(error_event(classified));
                self.stopped = true;
            }
            // `ping`, `content_block_stop` and event types added later.
            _ => {}
        }
        Ok(())
    }
}

fn push_text(out: &mut Vec<StreamEvent>, text: &str) {
    if !text.is_empty() {
        out.push(delta(pb::ChatDelta {
            text: text.to_owned(),
            ..Default::default()
        }));
    }
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
pub(super) fn legacy_render_response(response: &pb::ChatResponse) -> Vec<u8> {
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
