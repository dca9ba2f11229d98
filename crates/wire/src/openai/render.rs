//! Rendering a canonical stream as Chat Completions chunks, event by event: the first delta
//! of each choice carries the role, tool calls go out as indexed fragments, usage (when the
//! client asked for it) in a final chunk with empty `choices`, then `data: [DONE]`.

use std::collections::HashSet;

use serde::Serialize;

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

    /// Writes one `data:` line; the structs borrow from the event, so nothing is copied.
    fn write<T: Serialize>(&self, choices: &[T], usage: Option<&UsageOut>, out: &mut Vec<u8>) {
        let chunk = ChunkOut {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices,
            usage: self.include_usage.then_some(usage),
        };
        out.extend_from_slice(b"data: ");
        // Serializing plain structs of strings and numbers into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &chunk);
        out.extend_from_slice(b"\n\n");
    }

    fn one(&self, index: u32, delta: DeltaOut<'_>, finish: Option<&str>, out: &mut Vec<u8>) {
        self.write(
            &[ChoiceOut {
                index,
                delta,
                logprobs: None,
                finish_reason: finish,
            }],
            None,
            out,
        );
    }

    fn delta(&mut self, delta: &pb::ChatDelta, out: &mut Vec<u8>) {
        let index = delta.choice_index;
        if self.opened.insert(index) {
            self.one(
                index,
                DeltaOut {
                    role: Some("assistant"),
                    content: Some(""),
                    ..DeltaOut::default()
                },
                None,
                out,
            );
        }
        if !delta.text.is_empty() {
            self.one(
                index,
                DeltaOut {
                    content: Some(&delta.text),
                    ..DeltaOut::default()
                },
                None,
                out,
            );
        }
        if !delta.refusal.is_empty() {
            self.one(
                index,
                DeltaOut {
                    refusal: Some(&delta.refusal),
                    ..DeltaOut::default()
                },
                None,
                out,
            );
        }
        if !delta.reasoning.is_empty() {
            // The DeepSeek convention, which OpenAI-compatible clients read.
            self.one(
                index,
                DeltaOut {
                    reasoning_content: Some(&delta.reasoning),
                    ..DeltaOut::default()
                },
                None,
                out,
            );
        }
        if let Some(call) = &delta.tool_call {
            let first = !call.id.is_empty() || !call.name.is_empty();
            let fragment = ToolCallOut {
                index: call.index,
                id: first.then_some(call.id.as_str()),
                kind: first.then_some("function"),
                function: FunctionOut {
                    name: first.then_some(call.name.as_str()),
                    arguments: &call.arguments_fragment,
                },
            };
            self.one(
                index,
                DeltaOut {
                    tool_calls: Some([fragment]),
                    ..DeltaOut::default()
                },
                None,
                out,
            );
        }
        if delta.finish_reason != 0 {
            let reason =
                pb::FinishReason::try_from(delta.finish_reason).unwrap_or(pb::FinishReason::Stop);
            self.one(
                index,
                DeltaOut::default(),
                Some(finish_reason_name(reason)),
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
            let usage = UsageOut {
                prompt_tokens: usage.input_tokens,
                completion_tokens: usage.output_tokens,
                total_tokens: usage
                    .total_tokens
                    .max(usage.input_tokens.saturating_add(usage.output_tokens)),
                prompt_tokens_details: PromptDetails {
                    cached_tokens: usage.cache_read_tokens,
                    cache_write_tokens: usage.cache_write_tokens,
                },
                completion_tokens_details: CompletionDetails {
                    reasoning_tokens: usage.reasoning_tokens,
                },
            };
            self.write::<ChoiceOut<'_>>(&[], Some(&usage), out);
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
                let body = ErrorOut {
                    error: ErrorBody {
                        message: &error.message,
                        kind: error_type(error.status as u16),
                        code: &error.r#type,
                    },
                };
                out.extend_from_slice(b"data: ");
                let _ = serde_json::to_writer(&mut *out, &body);
                out.extend_from_slice(b"\n\n");
            }
            None => {}
        }
    }
}

#[derive(Serialize)]
struct ChunkOut<'a, T> {
    id: &'a str,
    object: &'static str,
    created: i64,
    model: &'a str,
    choices: &'a [T],
    /// Present (null or the totals) only when the client asked for usage.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<&'a UsageOut>>,
}

#[derive(Serialize)]
struct ChoiceOut<'a> {
    index: u32,
    delta: DeltaOut<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'a str>,
}

#[derive(Serialize, Default)]
struct DeltaOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refusal: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[ToolCallOut<'a>; 1]>,
}

#[derive(Serialize)]
struct ToolCallOut<'a> {
    index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'a str>,
    function: FunctionOut<'a>,
}

#[derive(Serialize)]
struct FunctionOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    arguments: &'a str,
}

#[derive(Serialize)]
struct UsageOut {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    prompt_tokens_details: PromptDetails,
    completion_tokens_details: CompletionDetails,
}

#[derive(Serialize)]
struct PromptDetails {
    cached_tokens: u64,
    #[serde(skip_serializing_if = "is_zero")]
    cache_write_tokens: u64,
}

#[derive(Serialize)]
struct CompletionDetails {
    reasoning_tokens: u64,
}

#[derive(Serialize)]
struct ErrorOut<'a> {
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    code: &'a str,
}

/// Whether a count is zero (then an optional field is left out).
fn is_zero(count: &u64) -> bool {
    *count == 0
}
