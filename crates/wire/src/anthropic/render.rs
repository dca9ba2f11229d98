//! Rendering a canonical stream as Anthropic Messages events, event by event: blocks open
//! and close as the kind of content changes, and `message_delta` carries the stop reason and
//! cumulative usage once both are known. Anthropic has no choices: only choice 0 is rendered.
//! Events are serialized from borrowed structs straight into the output buffer. A Gemini
//! thought signature on a tool call travels as an empty thinking block right before the call
//! (see [`THOUGHT_SIGNATURE_PREFIX`]); signatures on text are not needed back and are dropped.

use std::collections::HashMap;

use serde::Serialize;

use super::{error_type, stop_reason};
use crate::canonical::pb::{self, complete_stream_response::Event};
use crate::canonical::{StreamEvent, StreamRenderer};
use crate::responses::THOUGHT_SIGNATURE_PREFIX;

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
    /// A refusal was written (as text): the message stops with `refusal`.
    refused: bool,
    usage: pb::Usage,
    /// The id and model from `Start`: `message_start` waits for the first other event, so
    /// that usage known from the start (an Anthropic upstream's input side) goes in it.
    id: String,
    model: String,
}

/// Every event, tagged by `type` as Anthropic does.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum EventOut<'a> {
    MessageStart {
        message: MessageOut<'a>,
    },
    ContentBlockStart {
        index: u32,
        content_block: BlockOut<'a>,
    },
    ContentBlockDelta {
        index: u32,
        delta: DeltaOut<'a>,
    },
    ContentBlockStop {
        index: u32,
    },
    MessageDelta {
        delta: StopOut<'a>,
        usage: UsageOut,
    },
    MessageStop,
    Error {
        error: ErrorOut<'a>,
    },
}

impl EventOut<'_> {
    fn name(&self) -> &'static str {
        match self {
            Self::MessageStart { .. } => "message_start",
            Self::ContentBlockStart { .. } => "content_block_start",
            Self::ContentBlockDelta { .. } => "content_block_delta",
            Self::ContentBlockStop { .. } => "content_block_stop",
            Self::MessageDelta { .. } => "message_delta",
            Self::MessageStop => "message_stop",
            Self::Error { .. } => "error",
        }
    }
}

#[derive(Serialize)]
struct MessageOut<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: [(); 0],
    stop_reason: Option<()>,
    stop_sequence: Option<()>,
    usage: UsageOut,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BlockOut<'a> {
    Text {
        text: &'static str,
    },
    Thinking {
        thinking: &'static str,
        signature: &'static str,
    },
    RedactedThinking {
        data: &'a str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: Empty,
    },
}

#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
#[serde(tag = "type")]
enum DeltaOut<'a> {
    #[serde(rename = "text_delta")]
    Text { text: &'a str },
    #[serde(rename = "thinking_delta")]
    Thinking { thinking: &'a str },
    #[serde(rename = "signature_delta")]
    Signature { signature: &'a str },
    #[serde(rename = "input_json_delta")]
    InputJson { partial_json: &'a str },
}

#[derive(Serialize)]
struct StopOut<'a> {
    stop_reason: &'static str,
    stop_sequence: Option<&'a str>,
}

/// Anthropic's `usage`: `input_tokens` excludes what was read from or written to the cache,
/// which come apart, and the writes split by lifetime in `cache_creation`.
#[derive(Serialize, Default)]
pub(super) struct UsageOut {
    pub(super) input_tokens: u64,
    pub(super) output_tokens: u64,
    pub(super) cache_read_input_tokens: u64,
    pub(super) cache_creation_input_tokens: u64,
    pub(super) cache_creation: CacheCreation,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) output_tokens_details: Option<ThinkingTokens>,
}

#[derive(Serialize, Default)]
pub(super) struct CacheCreation {
    pub(super) ephemeral_5m_input_tokens: u64,
    pub(super) ephemeral_1h_input_tokens: u64,
}

#[derive(Serialize)]
pub(super) struct ThinkingTokens {
    pub(super) thinking_tokens: u64,
}

impl UsageOut {
    /// Canonical usage (input includes the cache) by Anthropic's rule.
    pub(super) fn of(usage: &pb::Usage) -> Self {
        let one_hour = usage.cache_write_1h_tokens.min(usage.cache_write_tokens);
        Self {
            input_tokens: usage.input_tokens.saturating_sub(
                usage
                    .cache_read_tokens
                    .saturating_add(usage.cache_write_tokens),
            ),
            output_tokens: usage.output_tokens,
            cache_read_input_tokens: usage.cache_read_tokens,
            cache_creation_input_tokens: usage.cache_write_tokens,
            cache_creation: CacheCreation {
                ephemeral_5m_input_tokens: usage.cache_write_tokens - one_hour,
                ephemeral_1h_input_tokens: one_hour,
            },
            output_tokens_details: (usage.reasoning_tokens > 0).then_some(ThinkingTokens {
                thinking_tokens: usage.reasoning_tokens,
            }),
        }
    }
}

#[derive(Serialize)]
struct ErrorOut<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    message: &'a str,
}

fn emit(out: &mut Vec<u8>, event: &EventOut<'_>) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(event.name().as_bytes());
    out.extend_from_slice(b"\ndata: ");
    // Plain structs of strings and numbers always serialize.
    let _ = serde_json::to_writer(&mut *out, event);
    out.extend_from_slice(b"\n\n");
}

impl AnthropicStreamRenderer {
    pub fn new() -> Self {
        Self::default()
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        let prefixed;
        let model = self.model.as_str();
        let id = match self.id.as_str() {
            "" => "msg_keyroute",
            id if id.starts_with("msg_") => id,
            id => {
                prefixed = format!("msg_{id}");
                &prefixed
            }
        };
        let message = MessageOut {
            id,
            kind: "message",
            role: "assistant",
            model,
            content: [],
            stop_reason: None,
            stop_sequence: None,
            usage: UsageOut::of(&self.usage),
        };
        emit(out, &EventOut::MessageStart { message });
    }

    fn close_open(&mut self, out: &mut Vec<u8>) {
        if let Some(Open::Text(index) | Open::Thinking(index)) = self.open.take() {
            emit(out, &EventOut::ContentBlockStop { index });
        }
    }

    fn close_all(&mut self, out: &mut Vec<u8>) {
        self.close_open(out);
        let mut tools: Vec<u32> = self.tools.drain().map(|(_, block)| block).collect();
        tools.sort_unstable();
        for index in tools {
            emit(out, &EventOut::ContentBlockStop { index });
        }
    }

    fn open_block(&mut self, content_block: BlockOut<'_>, out: &mut Vec<u8>) -> u32 {
        let index = self.next_block;
        self.next_block += 1;
        emit(
            out,
            &EventOut::ContentBlockStart {
                index,
                content_block,
            },
        );
        index
    }

    fn text_block(&mut self, out: &mut Vec<u8>) -> u32 {
        if let Some(Open::Text(index)) = self.open {
            return index;
        }
        self.close_all(out);
        let index = self.open_block(BlockOut::Text { text: "" }, out);
        self.open = Some(Open::Text(index));
        index
    }

    fn thinking_block(&mut self, out: &mut Vec<u8>) -> u32 {
        if let Some(Open::Thinking(index)) = self.open {
            return index;
        }
        self.close_all(out);
        let index = self.open_block(
            BlockOut::Thinking {
                thinking: "",
                signature: "",
            },
            out,
        );
        self.open = Some(Open::Thinking(index));
        index
    }

    /// Gemini's signature for the call about to open, as an empty thinking block of its own
    /// (start, `signature_delta`, stop) just before it: Anthropic blocks have no place for it,
    /// and the client sends thinking blocks back as they came. Gemini signs the first call of
    /// a step, so no other tool block is open here; any open block is closed first.
    fn signature_carrier(&mut self, signature: &str, out: &mut Vec<u8>) {
        self.close_all(out);
        let index = self.open_block(
            BlockOut::Thinking {
                thinking: "",
                signature: "",
            },
            out,
        );
        let carried = format!("{THOUGHT_SIGNATURE_PREFIX}{signature}");
        emit(
            out,
            &EventOut::ContentBlockDelta {
                index,
                delta: DeltaOut::Signature {
                    signature: &carried,
                },
            },
        );
        emit(out, &EventOut::ContentBlockStop { index });
    }

    fn delta(&mut self, delta: &pb::ChatDelta, out: &mut Vec<u8>) {
        if delta.choice_index != 0 {
            return;
        }
        self.start(out);
        if !delta.reasoning.is_empty() {
            let index = self.thinking_block(out);
            emit(
                out,
                &EventOut::ContentBlockDelta {
                    index,
                    delta: DeltaOut::Thinking {
                        thinking: &delta.reasoning,
                    },
                },
            );
        }
        if !delta.reasoning_signature.is_empty() {
            let index = self.thinking_block(out);
            emit(
                out,
                &EventOut::ContentBlockDelta {
                    index,
                    delta: DeltaOut::Signature {
                        signature: &delta.reasoning_signature,
                    },
                },
            );
            // A signature ends its thinking block.
            self.close_open(out);
        }
        if !delta.redacted_reasoning.is_empty() {
            self.close_all(out);
            let index = self.open_block(
                BlockOut::RedactedThinking {
                    data: &delta.redacted_reasoning,
                },
                out,
            );
            emit(out, &EventOut::ContentBlockStop { index });
        }
        for text in [&delta.text, &delta.refusal] {
            if text.is_empty() {
                continue;
            }
            let index = self.text_block(out);
            emit(
                out,
                &EventOut::ContentBlockDelta {
                    index,
                    delta: DeltaOut::Text { text },
                },
            );
        }
        if !delta.refusal.is_empty() {
            self.refused = true;
        }
        if let Some(call) = &delta.tool_call {
            let index = match self.tools.get(&call.index) {
                Some(&index) => index,
                None => {
                    if delta.thought_signature.is_empty() {
                        // Tool blocks stay open together, so fragments of parallel calls may
                        // interleave; anything else closes them.
                        self.close_open(out);
                    } else {
                        self.signature_carrier(&delta.thought_signature, out);
                    }
                    let index = self.open_block(
                        BlockOut::ToolUse {
                            id: &call.id,
                            name: &call.name,
                            input: Empty {},
                        },
                        out,
                    );
                    self.tools.insert(call.index, index);
                    index
                }
            };
            if !call.arguments_fragment.is_empty() {
                emit(
                    out,
                    &EventOut::ContentBlockDelta {
                        index,
                        delta: DeltaOut::InputJson {
                            partial_json: &call.arguments_fragment,
                        },
                    },
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
        self.start(out);
        self.close_all(out);
        self.finished = true;
        let (mut reason, sequence) = self
            .stop
            .take()
            .unwrap_or((pb::FinishReason::Stop, String::new()));
        if self.refused {
            reason = pb::FinishReason::ContentFilter;
        }
        // Counts are cumulative: the SDKs overwrite what `message_start` said with these.
        let usage_out = UsageOut::of(&self.usage);
        let stop = StopOut {
            stop_reason: stop_reason(reason, &sequence),
            stop_sequence: (!sequence.is_empty()).then_some(sequence.as_str()),
        };
        emit(
            out,
            &EventOut::MessageDelta {
                delta: stop,
                usage: usage_out,
            },
        );
        emit(out, &EventOut::MessageStop);
    }
}

impl StreamRenderer for AnthropicStreamRenderer {
    fn render(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        match &event.event {
            Some(Event::Start(start)) if !self.started => {
                self.id.clone_from(&start.id);
                self.model.clone_from(&start.model);
            }
            Some(Event::Start(_)) => {}
            Some(Event::Delta(delta)) => self.delta(delta, out),
            Some(Event::Usage(usage)) => self.usage = *usage,
            Some(Event::End(_)) => self.end(out),
            Some(Event::Error(error)) => {
                if self.finished {
                    return;
                }
                self.finished = true;
                let kind = if error.r#type.ends_with("_error") {
                    error.r#type.as_str()
                } else {
                    error_type(error.status as u16)
                };
                emit(
                    out,
                    &EventOut::Error {
                        error: ErrorOut {
                            kind,
                            message: &error.message,
                        },
                    },
                );
            }
            None => {}
        }
    }
}
