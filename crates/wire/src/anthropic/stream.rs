//! Decoding a Messages API SSE stream. Usage in `message_delta` is cumulative; unknown event
//! and delta types are skipped, as Anthropic asks clients to do.

use std::collections::HashMap;

use super::shapes::{self, InvokeChunk, Usage};
use super::{PROVIDER, finish_reason, status_of};
use crate::canonical::pb::{self, complete_stream_response::Event};
use crate::canonical::{StreamDecoder, StreamEvent, delta, error_event, event};
use crate::error::WireError;
use crate::lenient::{self, Obj};
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
    raw_usage: Usage,
    stopped: bool,
}

impl AnthropicEvents {
    /// Usage counts are cumulative: each field a later event repeats overwrites the earlier.
    fn update_usage(&mut self, usage: &Obj<Usage>) {
        if let Some(fields) = usage.object() {
            self.raw_usage.merge(fields);
        }
        self.usage = self.raw_usage.canonical();
    }

    fn handle(
        &mut self,
        data: &shapes::Event<'_>,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), WireError> {
        match data.kind.as_str() {
            "message_start" => {
                let message = &data.message;
                out.push(event(Event::Start(pb::StreamStart {
                    id: message.id.as_str().to_owned(),
                    model: message.model.as_str().to_owned(),
                    created: 0,
                })));
                // The input side is known from the start: a first snapshot goes out now (the
                // final one at `message_stop` supersedes it), so a renderer can put it in its
                // own opening event.
                if message.usage.object().is_some() {
                    self.update_usage(&message.usage);
                    out.push(event(Event::Usage(self.usage)));
                }
                out.push(delta(pb::ChatDelta {
                    role: pb::Role::Assistant as i32,
                    ..Default::default()
                }));
            }
            "content_block_start" => {
                let index = data.index.value();
                let block = &data.content_block;
                match block.kind.as_str() {
                    "text" => push_text(out, block.text.as_str()),
                    "thinking" => {
                        let thinking = block.thinking.as_str();
                        if !thinking.is_empty() {
                            out.push(delta(pb::ChatDelta {
                                reasoning: thinking.to_owned(),
                                ..Default::default()
                            }));
                        }
                    }
                    "redacted_thinking" => out.push(delta(pb::ChatDelta {
                        redacted_reasoning: block.data.as_str().to_owned(),
                        ..Default::default()
                    })),
                    "tool_use" => {
                        let tool = self.next_tool;
                        self.next_tool += 1;
                        self.tools.insert(index, tool);
                        out.push(delta(pb::ChatDelta {
                            tool_call: Some(pb::ToolCallDelta {
                                index: tool,
                                id: block.id.as_str().to_owned(),
                                name: block.name.as_str().to_owned(),
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
                let index = data.index.value();
                let inner = &data.delta;
                match inner.kind.as_str() {
                    "text_delta" => push_text(out, inner.text.as_str()),
                    "thinking_delta" => out.push(delta(pb::ChatDelta {
                        reasoning: inner.thinking.as_str().to_owned(),
                        ..Default::default()
                    })),
                    "signature_delta" => out.push(delta(pb::ChatDelta {
                        reasoning_signature: inner.signature.as_str().to_owned(),
                        ..Default::default()
                    })),
                    "input_json_delta" => {
                        let fragment = inner.partial_json.as_str();
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
                if data.usage.is_present() {
                    self.update_usage(&data.usage);
                }
                let inner = &data.delta;
                let reason = inner.stop_reason.as_str();
                if !reason.is_empty() {
                    out.push(delta(pb::ChatDelta {
                        finish_reason: finish_reason(reason) as i32,
                        native_finish_reason: reason.to_owned(),
                        stop_sequence: inner.stop_sequence.as_str().to_owned(),
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
                let error = &data.error;
                let error_type = error.kind.as_str();
                let status = status_of(error_type);
                let classified =
                    WireError::from_status(PROVIDER, status, error_type, error.message.as_str());
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
        let data: Obj<shapes::Event<'_>> = serde_json::from_str(&sse.data).map_err(|error| {
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
            let payload = lenient::parse::<InvokeChunk<'_>>(&frame.payload).map_err(|error| {
                WireError::malformed("bedrock", format!("chunk is not JSON: {error}"))
            })?;
            let event = base64::engine::general_purpose::STANDARD
                .decode(payload.bytes.as_str())
                .map_err(|_| WireError::malformed("bedrock", "chunk bytes are not base64"))?;
            let data = lenient::parse::<shapes::Event<'_>>(&event).map_err(|error| {
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
