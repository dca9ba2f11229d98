//! The Value-tree readers that the typed ones replaced, kept as the reference: for any
//! input, the typed path must give what these gave (the same canonical answer, the same
//! events, the same error message). One change from the originals, made in both: token sums
//! saturate (an upstream's `u64::MAX` overflowed them, a panic in debug builds).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};

use super::super::{PROVIDER, finish_reason, status_of};
use super::ArgsWriter;
use crate::canonical::pb::{self, complete_stream_response::Event, content_part::Part};
use crate::canonical::{StreamEvent, delta, error_event, event};
use crate::error::WireError;
use crate::json::{str_of, u64_of};
use crate::sse::SseEvent;

/// Reads Gemini chunks; the SSE layer is shared.
#[derive(Debug, Default)]
pub(super) struct LegacyEvents {
    started: bool,
    opened: HashSet<u32>,
    /// Per candidate, how many function calls so far (their canonical indexes).
    calls: HashMap<u32, u32>,
    /// Per candidate, the streamed call still open: its index and its arguments so far.
    streaming: HashMap<u32, (u32, ArgsWriter)>,
    finished: bool,
    failed: bool,
    usage: Option<pb::Usage>,
}

impl LegacyEvents {
    /// Closes the candidate's streamed call, if one is open: its last fragment.
    fn close_call(&mut self, choice_index: u32, out: &mut Vec<StreamEvent>) {
        if let Some((index, writer)) = self.streaming.remove(&choice_index) {
            let mut fragment = String::new();
            writer.finish(&mut fragment);
            out.push(delta(pb::ChatDelta {
                choice_index,
                tool_call: Some(pb::ToolCallDelta {
                    index,
                    arguments_fragment: fragment,
                    ..Default::default()
                }),
                ..Default::default()
            }));
        }
    }

    pub(super) fn handle(
        &mut self,
        sse: &SseEvent,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), WireError> {
        let chunk: Value = serde_json::from_str(&sse.data).map_err(|error| {
            WireError::malformed(PROVIDER, format!("chunk is not JSON: {error}"))
        })?;
        if let Some(error) = chunk.get("error") {
            let status = status_of(str_of(error, "status"), u64_of(error, "code"));
            let classified = WireError::from_status(
                PROVIDER,
                status,
                str_of(error, "status"),
                str_of(error, "message"),
            );
            out.push(error_event(classified));
            self.failed = true;
            return Ok(());
        }
        if !self.started {
            self.started = true;
            out.push(event(Event::Start(pb::StreamStart {
                id: str_of(&chunk, "responseId").to_owned(),
                model: str_of(&chunk, "modelVersion").to_owned(),
                created: 0,
            })));
        }
        if let Some(usage) = chunk.get("usageMetadata") {
            self.usage = Some(usage_of(usage));
        }
        let candidates = chunk
            .get("candidates")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        if candidates.is_empty()
            && let Some(reason) = chunk
                .pointer("/promptFeedback/blockReason")
                .and_then(Value::as_str)
        {
            self.finished = true;
            out.push(delta(pb::ChatDelta {
                role: pb::Role::Assistant as i32,
                finish_reason: pb::FinishReason::ContentFilter as i32,
                native_finish_reason: reason.to_owned(),
                ..Default::default()
            }));
        }
        for candidate in candidates {
            let choice_index = u32::try_from(u64_of(candidate, "index"))
                .map_err(|_| WireError::malformed(PROVIDER, "candidate index out of range"))?;
            if self.opened.insert(choice_index) {
                out.push(delta(pb::ChatDelta {
                    choice_index,
                    role: pb::Role::Assistant as i32,
                    ..Default::default()
                }));
            }
            let parts = candidate
                .pointer("/content/parts")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            for part in parts {
                let signature = str_of(part, "thoughtSignature").to_owned();
                let mut delta_out = pb::ChatDelta {
                    choice_index,
                    thought_signature: signature,
                    ..Default::default()
                };
                if let Some(call) = part.get("functionCall") {
                    let name = str_of(call, "name");
                    let more = call
                        .get("willContinue")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    let partial = call.get("partialArgs").and_then(Value::as_array);
                    let whole = call.get("args").is_some() || !(more || partial.is_some());
                    if name.is_empty() && self.streaming.contains_key(&choice_index) {
                        // The next piece of the open call, or its end.
                        let mut fragment = String::new();
                        let mut index = 0;
                        if let Some((open, writer)) = self.streaming.get_mut(&choice_index) {
                            index = *open;
                            for arg in partial.map(Vec::as_slice).unwrap_or_default() {
                                writer.push(arg, &mut fragment);
                            }
                        }
                        if !more && let Some((_, writer)) = self.streaming.remove(&choice_index) {
                            writer.finish(&mut fragment);
                        }
                        if !fragment.is_empty() {
                            delta_out.tool_call = Some(pb::ToolCallDelta {
                                index,
                                arguments_fragment: fragment,
                                ..Default::default()
                            });
                        }
                        let empty =
                            delta_out.tool_call.is_none() && delta_out.thought_signature.is_empty();
                        if !empty {
                            out.push(delta(delta_out));
                        }
                        continue;
                    }
                    self.close_call(choice_index, out);
                    if name.is_empty() && call.get("args").is_none() {
                        // Nothing to call: a stray closing part.
                        if !delta_out.thought_signature.is_empty() {
                            out.push(delta(delta_out));
                        }
                        continue;
                    }
                    let calls = self.calls.entry(choice_index).or_default();
                    let index = *calls;
                    *calls += 1;
                    let id = match str_of(call, "id") {
                        // The Gemini API often omits ids: synthesize stable ones.
                        "" => format!("call_{choice_index}_{index}"),
                        id => id.to_owned(),
                    };
                    let arguments_fragment = if whole {
                        call.get("args")
                            .cloned()
                            .unwrap_or_else(|| Value::Object(Default::default()))
                            .to_string()
                    } else {
                        let mut fragment = String::new();
                        let mut writer = ArgsWriter::start(&mut fragment);
                        for arg in partial.map(Vec::as_slice).unwrap_or_default() {
                            writer.push(arg, &mut fragment);
                        }
                        if more {
                            self.streaming.insert(choice_index, (index, writer));
                        } else {
                            writer.finish(&mut fragment);
                        }
                        fragment
                    };
                    delta_out.tool_call = Some(pb::ToolCallDelta {
                        index,
                        id,
                        name: name.to_owned(),
                        arguments_fragment,
                    });
                } else if part
                    .get("thought")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
                {
                    delta_out.reasoning = str_of(part, "text").to_owned();
                } else {
                    delta_out.text = str_of(part, "text").to_owned();
                }
                let empty = delta_out.tool_call.is_none()
                    && delta_out.text.is_empty()
                    && delta_out.reasoning.is_empty()
                    && delta_out.thought_signature.is_empty();
                if !empty {
                    out.push(delta(delta_out));
                }
            }
            let reason = str_of(candidate, "finishReason");
            if !reason.is_empty() {
                self.close_call(choice_index, out);
                self.finished = true;
                let mut canonical = finish_reason(reason);
                if canonical == pb::FinishReason::Stop
                    && self.calls.get(&choice_index).copied().unwrap_or(0) > 0
                {
                    canonical = pb::FinishReason::ToolCalls;
                }
                out.push(delta(pb::ChatDelta {
                    choice_index,
                    finish_reason: canonical as i32,
                    native_finish_reason: reason.to_owned(),
                    ..Default::default()
                }));
            }
        }
        Ok(())
    }
}

impl LegacyEvents {
    pub(super) fn closed(&self) -> bool {
        self.failed
    }

    pub(super) fn on_end(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), WireError> {
        if self.failed {
            return Ok(());
        }
        if !self.finished {
            return Err(WireError::truncated(PROVIDER, "a finishReason"));
        }
        let mut open: Vec<u32> = self.streaming.keys().copied().collect();
        open.sort_unstable();
        for choice_index in open {
            self.close_call(choice_index, out);
        }
        if let Some(usage) = self.usage.take() {
            out.push(event(Event::Usage(usage)));
        }
        out.push(event(Event::End(pb::StreamEnd::default())));
        Ok(())
    }
}

/// Gemini usage to canonical. `promptTokenCount` already includes `cachedContentTokenCount`;
/// the prompt a tool use added (`toolUsePromptTokenCount`) is input too. Thinking
/// (`thoughtsTokenCount`, reported apart from `candidatesTokenCount`) is billed as output,
/// so it is added to output and also counted as reasoning. Gemini reports no cache writes.
fn usage_of(usage: &Value) -> pb::Usage {
    let input =
        u64_of(usage, "promptTokenCount").saturating_add(u64_of(usage, "toolUsePromptTokenCount"));
    let thoughts = u64_of(usage, "thoughtsTokenCount");
    let output = u64_of(usage, "candidatesTokenCount").saturating_add(thoughts);
    pb::Usage {
        input_tokens: input,
        output_tokens: output,
        cache_read_tokens: u64_of(usage, "cachedContentTokenCount"),
        cache_write_tokens: 0,
        reasoning_tokens: thoughts,
        total_tokens: usage
            .get("totalTokenCount")
            .and_then(Value::as_u64)
            .unwrap_or(input.saturating_add(output))
            .max(input.saturating_add(output)),
        cache_write_1h_tokens: 0,
    }
}

/// `parse_response` as it was.
pub(super) fn legacy_parse_response(
    status: u16,
    body: &[u8],
) -> Result<pb::ChatResponse, WireError> {
    if !(200..300).contains(&status) {
        return Err(super::super::parse_error(status, body));
    }
    let value: Value = serde_json::from_slice(body).map_err(|error| {
        WireError::malformed(PROVIDER, format!("response is not JSON: {error}"))
    })?;
    let mut choices = Vec::new();
    for candidate in value
        .get("candidates")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let index = u64_of(candidate, "index") as u32;
        let mut content = Vec::new();
        let mut calls = 0u32;
        for part in candidate
            .pointer("/content/parts")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let canonical = if let Some(call) = part.get("functionCall") {
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
            } else if part.get("thought").and_then(Value::as_bool) == Some(true) {
                Part::Reasoning(pb::Reasoning {
                    text: str_of(part, "text").to_owned(),
                    ..Default::default()
                })
            } else {
                Part::Text(str_of(part, "text").to_owned())
            };
            content.push(pb::ContentPart {
                part: Some(canonical),
                thought_signature: str_of(part, "thoughtSignature").to_owned(),
                cache: None,
                refusal: false,
            });
        }
        let native = str_of(candidate, "finishReason");
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
        let blocked = value
            .pointer("/promptFeedback/blockReason")
            .and_then(Value::as_str)
            .unwrap_or("OTHER");
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
        id: str_of(&value, "responseId").to_owned(),
        model: str_of(&value, "modelVersion").to_owned(),
        choices,
        usage: value.get("usageMetadata").map(usage_of),
        served_by: None,
        provider_extras_json: String::new(),
        created: 0,
    })
}
