//! Decoding ConverseStream: AWS event-stream frames whose `:event-type` names the event and
//! whose payload is its JSON member. Text blocks have no start event; tool blocks do.
//! `metadata` (usage) and `messageStop` may come in either order.

use std::collections::HashMap;

use super::shapes;
use super::{PROVIDER, finish_reason, status_of};
use crate::canonical::pb::{self, complete_stream_response::Event};
use crate::canonical::{StreamDecoder, StreamEvent, delta, error_event, event};
use crate::error::WireError;
use crate::eventstream::{Frame, FrameDecoder};
use crate::lenient;

/// Decodes Bedrock ConverseStream frames into canonical deltas.
#[derive(Debug, Default)]
pub struct BedrockStreamDecoder {
    frames: FrameDecoder,
    /// Bedrock content block index -> canonical tool-call index.
    tools: HashMap<u64, u32>,
    next_tool: u32,
    stopped: bool,
    failed: bool,
}

impl BedrockStreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    fn handle(&mut self, frame: &Frame, out: &mut Vec<StreamEvent>) -> Result<(), WireError> {
        let payload = lenient::parse::<shapes::Event<'_>>(&frame.payload).map_err(|error| {
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
                let message = match payload.message.as_str() {
                    "" => payload.message_upper.as_str(),
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
                let tool = &payload.start.tool_use;
                if tool.is_present() {
                    let index = self.next_tool;
                    self.next_tool += 1;
                    self.tools
                        .insert(payload.content_block_index.value(), index);
                    out.push(delta(pb::ChatDelta {
                        tool_call: Some(pb::ToolCallDelta {
                            index,
                            id: tool.tool_use_id.as_str().to_owned(),
                            name: tool.name.as_str().to_owned(),
                            arguments_fragment: String::new(),
                        }),
                        ..Default::default()
                    }));
                }
            }
            "contentBlockDelta" => {
                let block = payload.content_block_index.value();
                let inner = &payload.delta;
                let mut out_delta = pb::ChatDelta::default();
                if let Some(text) = inner.text.get() {
                    out_delta.text = text.to_owned();
                }
                if let Some(input) = inner.tool_use.input.get() {
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
                let reasoning = &inner.reasoning_content;
                if reasoning.is_present() {
                    out_delta.reasoning = reasoning.text.as_str().to_owned();
                    out_delta.reasoning_signature = reasoning.signature.as_str().to_owned();
                    out_delta.redacted_reasoning = reasoning.redacted_content.as_str().to_owned();
                }
                out.push(delta(out_delta));
            }
            "messageStop" => {
                self.stopped = true;
                let reason = payload.stop_reason.as_str();
                out.push(delta(pb::ChatDelta {
                    finish_reason: finish_reason(reason) as i32,
                    native_finish_reason: reason.to_owned(),
                    ..Default::default()
                }));
            }
            "metadata" if payload.usage.is_present() => {
                out.push(event(Event::Usage(payload.usage.canonical())));
            }
            // contentBlockStop, and event types added later.
            _ => {}
        }
        Ok(())
    }
}

impl StreamDecoder for BedrockStreamDecoder {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), WireError> {
        if self.failed {
            return Ok(());
        }
        let frames = self.frames.feed(bytes).map_err(super::frame_error)?;
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
        self.frames.finish().map_err(super::frame_error)?;
        if !self.stopped {
            return Err(WireError::truncated(PROVIDER, "messageStop"));
        }
        out.push(event(Event::End(pb::StreamEnd::default())));
        Ok(())
    }
}

#[cfg(test)]
#[path = "legacy.rs"]
mod legacy;

#[cfg(test)]
#[path = "equivalence_tests.rs"]
mod equivalence_tests;
