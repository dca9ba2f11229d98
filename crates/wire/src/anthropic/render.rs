//! Rendering a canonical stream as Anthropic Messages events, event by event: blocks open
//! and close as the kind of content changes, and `message_delta` carries the stop reason and
//! cumulative usage once both are known. Anthropic has no choices: only choice 0 is rendered.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{error_type, stop_reason};
use crate::canonical::pb::{self, complete_stream_response::Event};
use crate::canonical::{StreamEvent, StreamRenderer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text(u32),
    Thinking(u32),
}

/// Renders canonical events as Anthropic SSE.
#[derive(Debug, Default)]
pub struct AnthropicStreamRenderer {
    started: bool,
    finished: bool,
    next_block: u32,
    open: Option<Open>,
    /// Canonical tool index -> Anthropic block index, for tool blocks still open.
    tools: HashMap<u32, u32>,
    stop: Option<(pb::FinishReason, String)>,
    usage: pb::Usage,
}

fn emit(out: &mut Vec<u8>, name: &str, data: &Value) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(data.to_string().as_bytes());
    out.extend_from_slice(b"\n\n");
}

impl AnthropicStreamRenderer {
    pub fn new() -> Self {
        Self::default()
    }

    fn start(&mut self, id: &str, model: &str, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        let id = match id {
            "" => "msg_keyroute".to_owned(),
            id if id.starts_with("msg_") => id.to_owned(),
            id => format!("msg_{id}"),
        };
        let message = json!({
            "type": "message_start",
            "message": {
                "id": id, "type": "message", "role": "assistant", "model": model, "content": [],
                "stop_reason": null, "stop_sequence": null,
                "usage": { "input_tokens": 0, "output_tokens": 0 },
            },
        });
        emit(out, "message_start", &message);
    }

    fn close_open(&mut self, out: &mut Vec<u8>) {
        if let Some(Open::Text(index) | Open::Thinking(index)) = self.open.take() {
            emit(
                out,
                "content_block_stop",
                &json!({ "type": "content_block_stop", "index": index }),
            );
        }
    }

    fn close_all(&mut self, out: &mut Vec<u8>) {
        self.close_open(out);
        let mut tools: Vec<u32> = self.tools.drain().map(|(_, block)| block).collect();
        tools.sort_unstable();
        for index in tools {
            emit(
                out,
                "content_block_stop",
                &json!({ "type": "content_block_stop", "index": index }),
            );
        }
    }

    fn open_block(&mut self, block: Value, out: &mut Vec<u8>) -> u32 {
        let index = self.next_block;
        self.next_block += 1;
        emit(
            out,
            "content_block_start",
            &json!({ "type": "content_block_start", "index": index, "content_block": block }),
        );
        index
    }

    fn text_block(&mut self, out: &mut Vec<u8>) -> u32 {
        if let Some(Open::Text(index)) = self.open {
            return index;
        }
        self.close_all(out);
        let index = self.open_block(json!({ "type": "text", "text": "" }), out);
        self.open = Some(Open::Text(index));
        index
    }

    fn thinking_block(&mut self, out: &mut Vec<u8>) -> u32 {
        if let Some(Open::Thinking(index)) = self.open {
            return index;
        }
        self.close_all(out);
        let index = self.open_block(
            json!({ "type": "thinking", "thinking": "", "signature": "" }),
            out,
        );
        self.open = Some(Open::Thinking(index));
        index
    }

    fn block_delta(out: &mut Vec<u8>, index: u32, delta: Value) {
        emit(
            out,
            "content_block_delta",
            &json!({ "type": "content_block_delta", "index": index, "delta": delta }),
        );
    }

    fn delta(&mut self, delta: &pb::ChatDelta, out: &mut Vec<u8>) {
        if delta.choice_index != 0 {
            return;
        }
        self.start("", "", out);
        if !delta.reasoning.is_empty() {
            let index = self.thinking_block(out);
            Self::block_delta(
                out,
                index,
                json!({ "type": "thinking_delta", "thinking": delta.reasoning }),
            );
        }
        if !delta.reasoning_signature.is_empty() {
            let index = self.thinking_block(out);
            Self::block_delta(
                out,
                index,
                json!({ "type": "signature_delta", "signature": delta.reasoning_signature }),
            );
            // A signature ends its thinking block.
            self.close_open(out);
        }
        if !delta.redacted_reasoning.is_empty() {
            self.close_all(out);
            let index = self.open_block(
                json!({ "type": "redacted_thinking", "data": delta.redacted_reasoning }),
                out,
            );
            emit(
                out,
                "content_block_stop",
                &json!({ "type": "content_block_stop", "index": index }),
            );
        }
        if !delta.text.is_empty() {
            let index = self.text_block(out);
            Self::block_delta(
                out,
                index,
                json!({ "type": "text_delta", "text": delta.text }),
            );
        }
        if let Some(call) = &delta.tool_call {
            let index = match self.tools.get(&call.index) {
                Some(&index) => index,
                None => {
                    // Tool blocks stay open together, so fragments of parallel calls may
                    // interleave; anything else closes them.
                    self.close_open(out);
                    let index = self.open_block(json!({ "type": "tool_use", "id": call.id, "name": call.name, "input": {} }), out);
                    self.tools.insert(call.index, index);
                    index
                }
            };
            if !call.arguments_fragment.is_empty() {
                Self::block_delta(
                    out,
                    index,
                    json!({ "type": "input_json_delta", "partial_json": call.arguments_fragment }),
                );
            }
        }
        if delta.finish_reason != 0 {
            let reason =
                pb::FinishReason::try_from(delta.finish_reason).unwrap_or(pb::FinishReason::Stop);
            self.stop = Some((reason, delta.stop_sequence.clone()));
        }
    }

    fn end(&mut self, out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        self.start("", "", out);
        self.close_all(out);
        self.finished = true;
        let (reason, sequence) = self
            .stop
            .take()
            .unwrap_or((pb::FinishReason::Stop, String::new()));
        let usage = self.usage;
        let mut usage_json = json!({
            "input_tokens": usage.input_tokens.saturating_sub(usage.cache_read_tokens + usage.cache_write_tokens),
            "output_tokens": usage.output_tokens,
        });
        if usage.reasoning_tokens > 0 {
            usage_json["output_tokens_details"] =
                json!({ "thinking_tokens": usage.reasoning_tokens });
        }
        if usage.cache_read_tokens > 0 || usage.cache_write_tokens > 0 {
            usage_json["cache_read_input_tokens"] = json!(usage.cache_read_tokens);
            usage_json["cache_creation_input_tokens"] = json!(usage.cache_write_tokens);
        }
        let stop_sequence = if sequence.is_empty() {
            Value::Null
        } else {
            Value::String(sequence.clone())
        };
        emit(
            out,
            "message_delta",
            &json!({
                "type": "message_delta",
                "delta": { "stop_reason": stop_reason(reason, &sequence), "stop_sequence": stop_sequence },
                "usage": usage_json,
            }),
        );
        emit(out, "message_stop", &json!({ "type": "message_stop" }));
    }
}

impl StreamRenderer for AnthropicStreamRenderer {
    fn render(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        match &event.event {
            Some(Event::Start(start)) => self.start(&start.id, &start.model, out),
            Some(Event::Delta(delta)) => self.delta(delta, out),
            Some(Event::Usage(usage)) => self.usage = *usage,
            Some(Event::End(_)) => self.end(out),
            Some(Event::Error(error)) => {
                if self.finished {
                    return;
                }
                self.finished = true;
                let kind = if error.r#type.ends_with("_error") {
                    error.r#type.clone()
                } else {
                    error_type(error.status as u16).to_owned()
                };
                emit(
                    out,
                    "error",
                    &json!({ "type": "error", "error": { "type": kind, "message": error.message } }),
                );
            }
            None => {}
        }
    }
}
