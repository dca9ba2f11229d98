//! The Value-tree readers that the typed ones replaced, kept as the reference: for any
//! input, the typed path must give what these gave (the same canonical answer, the same
//! events, the same error message). One change from the originals, made in both: token sums
//! saturate (an upstream's `u64::MAX` overflowed them, a panic in debug builds).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use serde_json::Value;

use super::super::{PROVIDER, finish_reason, status_of};
use crate::canonical::pb::{self, complete_stream_response::Event, content_part::Part};
use crate::canonical::{StreamDecoder, StreamEvent, delta, error_event, event};
use crate::error::WireError;
use crate::eventstream::{Frame, FrameDecoder};
use crate::json::{str_of, u64_of};

/// Decodes Bedrock ConverseStream frames into canonical deltas.
#[derive(Debug, Default)]
pub(super) struct LegacyDecoder {
    frames: FrameDecoder,
    /// Bedrock content block index -> canonical tool-call index.
    tools: HashMap<u64, u32>,
    next_tool: u32,
    stopped: bool,
    failed: bool,
}

impl LegacyDecoder {
    fn handle(&mut self, frame: &Frame, out: &mut Vec<StreamEvent>) -> Result<(), WireError> {
        let payload: Value = serde_json::from_slice(&frame.payload).map_err(|error| {
            WireError::malformed(PROVIDER, format!("event payload is not JSON: {error}"))
        })?;
        match frame.header_str(":message-type").unwrap_or("event") {
            "event" => {}
            "exception" | "error" => {
                let kind = frame
                    .header_str(":exception-type")
                    .or_else(|| frame.header_str(":error-code"))
                    .unwrap_or("internalServerException");
                let status = status_of(kind);
                let message = match str_of(&payload, "message") {
                    "" => str_of(&payload, "Message"),
                    message => message,
                };
                let classified = WireError::from_status(PROVIDER, status, kind, message);
                out.push(error_event(classified));
                self.failed = true;
                return Ok(());
            }
            other => {
                return Err(WireError::malformed(
                    PROVIDER,
                    format!("unknown message type {other:?}"),
                ));
            }
        }
        match frame.header_str(":event-type").unwrap_or_default() {
            "messageStart" => {
                out.push(event(Event::Start(pb::StreamStart::default())));
                out.push(delta(pb::ChatDelta {
                    role: pb::Role::Assistant as i32,
                    ..Default::default()
                }));
            }
            "contentBlockStart" => {
                if let Some(tool) = payload.pointer("/start/toolUse") {
                    let index = self.next_tool;
                    self.next_tool += 1;
                    self.tools
                        .insert(u64_of(&payload, "contentBlockIndex"), index);
                    out.push(delta(pb::ChatDelta {
                        tool_call: Some(pb::ToolCallDelta {
                            index,
                            id: str_of(tool, "toolUseId").to_owned(),
                            name: str_of(tool, "name").to_owned(),
                            arguments_fragment: String::new(),
                        }),
                        ..Default::default()
                    }));
                }
            }
            "contentBlockDelta" => {
                let block = u64_of(&payload, "contentBlockIndex");
                let inner = payload.get("delta").unwrap_or(&Value::Null);
                let mut out_delta = pb::ChatDelta::default();
                if let Some(text) = inner.get("text").and_then(Value::as_str) {
                    out_delta.text = text.to_owned();
                }
                if let Some(input) = inner.pointer("/toolUse/input").and_then(Value::as_str) {
                    let Some(&index) = self.tools.get(&block) else {
                        return Err(WireError::malformed(
                            PROVIDER,
                            format!("tool input for block {block}, which did not start as a tool"),
                        ));
                    };
                    out_delta.tool_call = Some(pb::ToolCallDelta {
                        index,
                        arguments_fragment: input.to_owned(),
                        ..Default::default()
                    });
                }
                if let Some(reasoning) = inner.get("reasoningContent") {
                    out_delta.reasoning = str_of(reasoning, "text").to_owned();
                    out_delta.reasoning_signature = str_of(reasoning, "signature").to_owned();
                    out_delta.redacted_reasoning = str_of(reasoning, "redactedContent").to_owned();
                }
                out.push(delta(out_delta));
            }
            "messageStop" => {
                self.stopped = true;
                let reason = str_of(&payload, "stopReason");
                out.push(delta(pb::ChatDelta {
                    finish_reason: finish_reason(reason) as i32,
                    native_finish_reason: reason.to_owned(),
                    ..Default::default()
                }));
            }
            "metadata" => {
                if let Some(usage) = payload.get("usage") {
                    out.push(event(Event::Usage(usage_of(usage))));
                }
            }
            // contentBlockStop, and event types added later.
            _ => {}
        }
        Ok(())
    }
}

/// Bedrock usage to canonical. Bedrock's `inputTokens` counts only the input that was neither
/// read from nor written to the cache (so `totalTokens` = input + output + cache reads and
/// writes); canonical input includes both. `cacheDetails` splits the writes by TTL.
fn usage_of(usage: &Value) -> pb::Usage {
    let read = u64_of(usage, "cacheReadInputTokens");
    let write = u64_of(usage, "cacheWriteInputTokens");
    let input = u64_of(usage, "inputTokens")
        .saturating_add(read)
        .saturating_add(write);
    let output = u64_of(usage, "outputTokens");
    let one_hour: u64 = usage
        .get("cacheDetails")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|detail| detail.get("ttl").and_then(Value::as_str) == Some("1h"))
        .map(|detail| u64_of(detail, "inputTokens"))
        .fold(0u64, u64::saturating_add);
    pb::Usage {
        input_tokens: input,
        output_tokens: output,
        cache_read_tokens: read,
        cache_write_tokens: write,
        reasoning_tokens: 0,
        total_tokens: input.saturating_add(output),
        cache_write_1h_tokens: one_hour.min(write),
    }
}

impl StreamDecoder for LegacyDecoder {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), WireError> {
        if self.failed {
            return Ok(());
        }
        let frames = self.frames.feed(bytes).map_err(super::super::frame_error)?;
        for frame in &frames {
            if self.failed {
                break;
            }
            self.handle(frame, out)?;
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), WireError> {
        if self.failed {
            return Ok(());
        }
        self.frames.finish().map_err(super::super::frame_error)?;
        if !self.stopped {
            return Err(WireError::truncated(PROVIDER, "messageStop"));
        }
        out.push(event(Event::End(pb::StreamEnd::default())));
        Ok(())
    }
}

/// `parse_response` as it was.
pub(super) fn legacy_parse_response(
    status: u16,
    error_type: Option<&str>,
    body: &[u8],
) -> Result<pb::ChatResponse, WireError> {
    if !(200..300).contains(&status) {
        return Err(super::super::parse_error(status, error_type, body));
    }
    let value: Value = serde_json::from_slice(body).map_err(|error| {
        WireError::malformed(PROVIDER, format!("response is not JSON: {error}"))
    })?;
    let blocks = value
        .pointer("/output/message/content")
        .and_then(Value::as_array)
        .ok_or_else(|| WireError::malformed(PROVIDER, "response has no output message"))?;
    let mut content = Vec::with_capacity(blocks.len());
    for block in blocks {
        let part = if let Some(text) = block.get("text").and_then(Value::as_str) {
            Part::Text(text.to_owned())
        } else if let Some(tool) = block.get("toolUse") {
            Part::ToolCall(pb::ToolCall {
                id: str_of(tool, "toolUseId").to_owned(),
                name: str_of(tool, "name").to_owned(),
                arguments_json: tool
                    .get("input")
                    .map(Value::to_string)
                    .unwrap_or_else(|| "{}".into()),
            })
        } else if let Some(reasoning) = block.get("reasoningContent") {
            Part::Reasoning(pb::Reasoning {
                text: reasoning
                    .pointer("/reasoningText/text")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                signature: reasoning
                    .pointer("/reasoningText/signature")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                redacted: str_of(reasoning, "redactedContent").to_owned(),
                ..Default::default()
            })
        } else {
            continue;
        };
        content.push(pb::ContentPart {
            part: Some(part),
            ..Default::default()
        });
    }
    let native = str_of(&value, "stopReason");
    Ok(pb::ChatResponse {
        id: String::new(),
        model: String::new(),
        choices: vec![pb::Choice {
            index: 0,
            message: Some(pb::Message {
                role: pb::Role::Assistant as i32,
                content,
                name: String::new(),
            }),
            finish_reason: finish_reason(native) as i32,
            stop_sequence: String::new(),
            native_finish_reason: native.to_owned(),
        }],
        usage: value.get("usage").map(usage_of),
        served_by: None,
        provider_extras_json: String::new(),
        created: 0,
    })
}
