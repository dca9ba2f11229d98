//! The Value-tree readers and writer that the typed ones replaced, kept as the reference:
//! for any input, the typed path must give what these gave (the same canonical answer, the
//! same events, the same error message, the same bytes). One change from the originals, made
//! in both: token sums saturate (an upstream's `u64::MAX` overflowed them, a panic in debug
//! builds).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;

use serde_json::{Value, json};

use super::messages::{MessageStyle, write_messages};
use super::{PROVIDER, finish_reason, finish_reason_name};
use crate::canonical::pb::{self, complete_stream_response::Event, content_part::Part};
use crate::canonical::{StreamEvent, delta, error_event, event};
use crate::error::WireError;
use crate::json::{str_of, u64_of};
use crate::sse::SseEvent;

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

/// The chunk reader as it was (`OpenAiEvents`).
#[derive(Debug, Default)]
pub(super) struct LegacyEvents {
    started: bool,
    done: bool,
    finished_choices: HashSet<u64>,
    usage: Option<pb::Usage>,
}

impl LegacyEvents {
    pub(super) fn closed(&self) -> bool {
        self.done
    }

    pub(super) fn handle(
        &mut self,
        sse: &SseEvent,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), WireError> {
        let data = sse.data.trim();
        if data == "[DONE]" {
            self.end(out);
            return Ok(());
        }
        if data.is_empty() {
            return Ok(());
        }
        let chunk: Value = serde_json::from_str(data).map_err(|error| {
            WireError::malformed(PROVIDER, format!("chunk is not JSON: {error}"))
        })?;
        if let Some(error) = chunk.get("error") {
            let status = error
                .get("code")
                .and_then(Value::as_u64)
                .filter(|c| (400..600).contains(c))
                .unwrap_or(500) as u16;
            let classified = WireError::from_status(
                PROVIDER,
                status,
                str_of(error, "type"),
                str_of(error, "message"),
            );
            out.push(error_event(classified));
            self.done = true;
            return Ok(());
        }
        if !self.started {
            self.started = true;
            out.push(event(Event::Start(pb::StreamStart {
                id: str_of(&chunk, "id").to_owned(),
                model: str_of(&chunk, "model").to_owned(),
                created: chunk
                    .get("created")
                    .and_then(Value::as_i64)
                    .unwrap_or_default(),
            })));
        }
        for choice in chunk
            .get("choices")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let index = u64_of(choice, "index");
            let choice_index = u32::try_from(index)
                .map_err(|_| WireError::malformed(PROVIDER, "choice index out of range"))?;
            let inner = choice.get("delta").unwrap_or(&Value::Null);
            let role = match str_of(inner, "role") {
                "" => 0,
                _ => pb::Role::Assistant as i32,
            };
            let text = str_of(inner, "content").to_owned();
            // A refusal stays a refusal: OpenAI clients read it apart from the content.
            let refusal = str_of(inner, "refusal").to_owned();
            let reasoning = match str_of(inner, "reasoning_content") {
                "" => str_of(inner, "reasoning").to_owned(),
                value => value.to_owned(),
            };
            if role != 0 || !text.is_empty() || !reasoning.is_empty() || !refusal.is_empty() {
                out.push(delta(pb::ChatDelta {
                    choice_index,
                    role,
                    text,
                    reasoning,
                    refusal,
                    ..Default::default()
                }));
            }
            for call in inner
                .get("tool_calls")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                let function = call.get("function").unwrap_or(&Value::Null);
                let tool_index = u32::try_from(u64_of(call, "index"))
                    .map_err(|_| WireError::malformed(PROVIDER, "tool call index out of range"))?;
                out.push(delta(pb::ChatDelta {
                    choice_index,
                    tool_call: Some(pb::ToolCallDelta {
                        index: tool_index,
                        id: str_of(call, "id").to_owned(),
                        name: str_of(function, "name").to_owned(),
                        arguments_fragment: str_of(function, "arguments").to_owned(),
                    }),
                    ..Default::default()
                }));
            }
            let reason = str_of(choice, "finish_reason");
            if !reason.is_empty() {
                self.finished_choices.insert(index);
                out.push(delta(pb::ChatDelta {
                    choice_index,
                    finish_reason: finish_reason(reason) as i32,
                    native_finish_reason: reason.to_owned(),
                    ..Default::default()
                }));
            }
        }
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(usage_of(usage));
        }
        Ok(())
    }

    fn end(&mut self, out: &mut Vec<StreamEvent>) {
        if self.done {
            return;
        }
        self.done = true;
        if let Some(usage) = self.usage.take() {
            out.push(event(Event::Usage(usage)));
        }
        out.push(event(Event::End(pb::StreamEnd::default())));
    }
}

fn usage_of(usage: &Value) -> pb::Usage {
    let input = u64_of(usage, "prompt_tokens");
    let output = u64_of(usage, "completion_tokens");
    let at = |pointer: &str| usage.pointer(pointer).and_then(Value::as_u64);
    pb::Usage {
        input_tokens: input,
        output_tokens: output,
        cache_read_tokens: at("/prompt_tokens_details/cached_tokens")
            .or_else(|| at("/prompt_cache_hit_tokens"))
            .or_else(|| at("/cached_tokens"))
            .unwrap_or_default(),
        cache_write_tokens: at("/prompt_tokens_details/cache_write_tokens").unwrap_or_default(),
        reasoning_tokens: at("/completion_tokens_details/reasoning_tokens").unwrap_or_default(),
        total_tokens: at("/total_tokens").unwrap_or(input.saturating_add(output)),
        cache_write_1h_tokens: 0,
    }
}

/// Renders a canonical response as a Chat Completions body for a client.
pub(super) fn legacy_render_response(response: &pb::ChatResponse) -> Vec<u8> {
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
            "total_tokens": usage.total_tokens.max(usage.input_tokens.saturating_add(usage.output_tokens)),
            "prompt_tokens_details": prompt_details,
            "completion_tokens_details": { "reasoning_tokens": usage.reasoning_tokens },
        },
    });
    body.to_string().into_bytes()
}
