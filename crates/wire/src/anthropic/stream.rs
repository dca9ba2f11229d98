//! Decoding a Messages API SSE stream. Usage in `message_delta` is cumulative; unknown event
//! and delta types are skipped, as Anthropic asks clients to do.

use std::collections::HashMap;

use serde_json::Value;

use super::response::usage_of;
use super::{PROVIDER, finish_reason, status_of};
use crate::canonical::pb::{self, complete_stream_response::Event};
use crate::canonical::{StreamDecoder, StreamEvent, delta, error_event, event};
use crate::error::WireError;
use crate::json::{str_of, u64_of};
use crate::sse::{SseEvent, SseEvents, SseStream};

/// Decodes Anthropic's streaming events into canonical deltas.
pub type AnthropicStreamDecoder = SseStream<AnthropicEvents>;

/// Reads Anthropic's events; the SSE layer is shared.
#[derive(Debug, Default)]
pub struct AnthropicEvents {
    /// Anthropic block index -> canonical tool-call index.
    tools: HashMap<u64, u32>,
    next_tool: u32,
    usage: pb::Usage,
    /// Every usage field seen so far, latest value kept.
    raw_usage: serde_json::Map<String, Value>,
    stopped: bool,
}

impl AnthropicEvents {
    /// Usage counts are cumulative: each field a later event repeats overwrites the earlier.
    fn update_usage(&mut self, usage: &Value) {
        if let Some(fields) = usage.as_object() {
            for (key, value) in fields.iter().filter(|(_, v)| !v.is_null()) {
                self.raw_usage.insert(key.clone(), value.clone());
            }
        }
        self.usage = usage_of(&Value::Object(self.raw_usage.clone()));
    }

    fn handle(&mut self, data: &Value, out: &mut Vec<StreamEvent>) -> Result<(), WireError> {
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

impl SseEvents for AnthropicEvents {
    const PROVIDER: &'static str = PROVIDER;

    fn on_event(&mut self, sse: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), WireError> {
        let data: Value = serde_json::from_str(&sse.data).map_err(|error| {
            WireError::malformed(
                PROVIDER,
                format!("event {:?} is not JSON: {error}", sse.event),
            )
        })?;
        self.handle(&data, out)
    }

    fn closed(&self) -> bool {
        self.stopped
    }

    fn on_end(&mut self, _out: &mut Vec<StreamEvent>) -> Result<(), WireError> {
        if self.stopped {
            Ok(())
        } else {
            Err(WireError::truncated(PROVIDER, "message_stop"))
        }
    }
}

/// Decodes Anthropic on Bedrock (`InvokeModelWithResponseStream`): AWS event-stream frames
/// whose `chunk` payload is `{"bytes": "<base64 of one Anthropic event>"}`.
#[derive(Debug, Default)]
pub struct BedrockInvokeStreamDecoder {
    frames: crate::eventstream::FrameDecoder,
    events: AnthropicEvents,
    failed: bool,
}

impl BedrockInvokeStreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }
}

impl StreamDecoder for BedrockInvokeStreamDecoder {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), WireError> {
        use base64::Engine;
        if self.failed {
            return Ok(());
        }
        let frames = self
            .frames
            .feed(bytes)
            .map_err(crate::bedrock::frame_error)?;
        for frame in frames {
            if frame.header_str(":message-type") != Some("event") {
                // Exceptions are framed exactly as in ConverseStream.
                let mut converse = crate::bedrock::BedrockStreamDecoder::new();
                converse.feed(&frame.encode(), out)?;
                self.failed = true;
                return Ok(());
            }
            if frame.header_str(":event-type") != Some("chunk") {
                continue;
            }
            let payload: Value = serde_json::from_slice(&frame.payload).map_err(|error| {
                WireError::malformed("bedrock", format!("chunk is not JSON: {error}"))
            })?;
            let encoded = payload
                .get("bytes")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let event = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|_| WireError::malformed("bedrock", "chunk bytes are not base64"))?;
            let data: Value = serde_json::from_slice(&event).map_err(|error| {
                WireError::malformed(
                    "bedrock",
                    format!("chunk is not an Anthropic event: {error}"),
                )
            })?;
            self.events.handle(&data, out)?;
        }
        Ok(())
    }

    fn finish(&mut self, _out: &mut Vec<StreamEvent>) -> Result<(), WireError> {
        if self.failed {
            return Ok(());
        }
        self.frames.finish().map_err(crate::bedrock::frame_error)?;
        if self.events.stopped {
            Ok(())
        } else {
            Err(WireError::truncated("bedrock", "message_stop"))
        }
    }
}
