//! Rendering a canonical stream as Chat Completions chunks, event by event: the first delta
//! of each choice carries the role, tool calls go out as indexed fragments, usage (when the
//! client asked for it) in a final chunk with empty `choices`, then `data: [DONE]`.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::{error_type, finish_reason_name};
use crate::canonical::pb::{self, complete_stream_response::Event};
use crate::canonical::{StreamEvent, StreamRenderer};

/// The chunk id when the provider gave none (Bedrock streams carry no id).
const FALLBACK_ID: &str = "chatcmpl-keyroute";

/// Renders canonical events as OpenAI SSE chunks.
#[derive(Debug)]
pub struct OpenAiStreamRenderer {
    id: String,
    model: String,
    created: i64,
    include_usage: bool,
    /// Choices that have had their role chunk.
    opened: HashSet<u32>,
    usage: Option<pb::Usage>,
    finished: bool,
}

impl OpenAiStreamRenderer {
    /// `include_usage` is the client's `stream_options.include_usage`.
    pub fn new(include_usage: bool) -> Self {
        Self {
            id: FALLBACK_ID.to_owned(),
            model: String::new(),
            created: 0,
            include_usage,
            opened: HashSet::new(),
            usage: None,
            finished: false,
        }
    }

    fn chunk(&self, choices: Value, usage: Option<Value>, out: &mut Vec<u8>) {
        let mut chunk = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
            "choices": choices,
        });
        if self.include_usage {
            chunk["usage"] = usage.unwrap_or(Value::Null);
        }
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(chunk.to_string().as_bytes());
        out.extend_from_slice(b"\n\n");
    }

    fn choice(index: u32, delta: Value, finish: Option<&str>) -> Value {
        json!([{ "index": index, "delta": delta, "logprobs": null, "finish_reason": finish }])
    }

    fn delta(&mut self, delta: &pb::ChatDelta, out: &mut Vec<u8>) {
        let index = delta.choice_index;
        if self.opened.insert(index) {
            self.chunk(
                Self::choice(index, json!({ "role": "assistant", "content": "" }), None),
                None,
                out,
            );
        }
        if !delta.text.is_empty() {
            self.chunk(
                Self::choice(index, json!({ "content": delta.text }), None),
                None,
                out,
            );
        }
        if !delta.reasoning.is_empty() {
            // The DeepSeek convention, which OpenAI-compatible clients read.
            self.chunk(
                Self::choice(index, json!({ "reasoning_content": delta.reasoning }), None),
                None,
                out,
            );
        }
        if let Some(call) = &delta.tool_call {
            let mut fragment = json!({ "index": call.index, "function": { "arguments": call.arguments_fragment } });
            if !call.id.is_empty() || !call.name.is_empty() {
                fragment["id"] = json!(call.id);
                fragment["type"] = json!("function");
                fragment["function"]["name"] = json!(call.name);
            }
            self.chunk(
                Self::choice(index, json!({ "tool_calls": [fragment] }), None),
                None,
                out,
            );
        }
        if delta.finish_reason != 0 {
            let reason =
                pb::FinishReason::try_from(delta.finish_reason).unwrap_or(pb::FinishReason::Stop);
            self.chunk(
                Self::choice(index, json!({}), Some(finish_reason_name(reason))),
                None,
                out,
            );
        }
    }

    fn end(&mut self, out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        self.finished = true;
        if self.include_usage
            && let Some(usage) = self.usage.take()
        {
            let usage = json!({
                "prompt_tokens": usage.input_tokens,
                "completion_tokens": usage.output_tokens,
                "total_tokens": usage.total_tokens.max(usage.input_tokens + usage.output_tokens),
                "prompt_tokens_details": { "cached_tokens": usage.cache_read_tokens, "cache_write_tokens": usage.cache_write_tokens },
                "completion_tokens_details": { "reasoning_tokens": usage.reasoning_tokens },
            });
            self.chunk(json!([]), Some(usage), out);
        }
        out.extend_from_slice(b"data: [DONE]\n\n");
    }
}

impl StreamRenderer for OpenAiStreamRenderer {
    fn render(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        match &event.event {
            Some(Event::Start(start)) => {
                if !start.id.is_empty() {
                    self.id.clone_from(&start.id);
                }
                self.model.clone_from(&start.model);
                self.created = start.created;
            }
            Some(Event::Delta(delta)) => self.delta(delta, out),
            Some(Event::Usage(usage)) => self.usage = Some(*usage),
            Some(Event::End(_)) => self.end(out),
            Some(Event::Error(error)) => {
                if self.finished {
                    return;
                }
                self.finished = true;
                let body = json!({ "error": { "message": error.message, "type": error_type(error.status as u16), "code": error.r#type } });
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(body.to_string().as_bytes());
                out.extend_from_slice(b"\n\n");
            }
            None => {}
        }
    }
}
