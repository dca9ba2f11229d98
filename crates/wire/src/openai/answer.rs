//! Rendering a canonical response as a Chat Completions body for a client, from borrowed
//! structs straight into one pre-sized buffer: this runs once per non-streaming answer, and a
//! `Value` tree cost a map node and an owned key and string per field.
//!
//! The bytes are those the `Value` tree wrote, which clients and tests see: `serde_json`
//! maps (without `preserve_order`) write their keys sorted, so every struct here declares its
//! fields in byte order of their keys. Assistant messages (every answer a provider parser
//! makes) take the typed path; a message with any other role, which no parser produces, is
//! still written through `write_messages`, exactly as before.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::Value;

use super::finish_reason_name;
use super::messages::{MessageStyle, write_messages};
use crate::canonical::pb::{self, content_part::Part};

/// The id when the provider gave none.
const FALLBACK_ID: &str = "chatcmpl-keyroute";

/// Renders a canonical response as a Chat Completions body for a client.
pub fn render_response(response: &pb::ChatResponse) -> Vec<u8> {
    let mut capacity = 320 + response.id.len() + response.model.len();
    let choices: Vec<ChoiceOut<'_>> = response
        .choices
        .iter()
        .map(|choice| {
            let reason =
                pb::FinishReason::try_from(choice.finish_reason).unwrap_or(pb::FinishReason::Stop);
            capacity += 96;
            ChoiceOut {
                finish_reason: finish_reason_name(reason),
                index: choice.index,
                logprobs: (),
                message: message_out(choice.message.as_ref(), &mut capacity),
            }
        })
        .collect();
    let usage = response.usage.unwrap_or_default();
    let body = AnswerOut {
        choices,
        created: response.created,
        id: if response.id.is_empty() {
            FALLBACK_ID
        } else {
            &response.id
        },
        model: &response.model,
        object: "chat.completion",
        usage: UsageOut {
            completion_tokens: usage.output_tokens,
            completion_tokens_details: CompletionDetails {
                reasoning_tokens: usage.reasoning_tokens,
            },
            prompt_tokens: usage.input_tokens,
            prompt_tokens_details: PromptDetails {
                cache_write_tokens: usage.cache_write_tokens,
                cached_tokens: usage.cache_read_tokens,
            },
            total_tokens: usage
                .total_tokens
                .max(usage.input_tokens.saturating_add(usage.output_tokens)),
        },
    };
    let mut out = Vec::with_capacity(capacity);
    // Structs of strings and numbers (and a `Value` with string keys) always serialize.
    let _ = serde_json::to_writer(&mut out, &body);
    out
}

/// A choice's message. A refusal goes in `refusal`, apart from the content: parts marked
/// as refusals are left out of everything else, and the text among them is the refusal.
fn message_out<'a>(message: Option<&'a pb::Message>, capacity: &mut usize) -> MessageOut<'a> {
    let Some(message) = message else {
        return MessageOut::Assistant(AssistantOut::default());
    };
    if message.role != pb::Role::Assistant as i32 {
        return MessageOut::Other(other_message(message));
    }
    let mut content = Joined::default();
    let mut reasoning = Joined::default();
    let mut refusal = Joined::default();
    let mut tool_calls = Vec::new();
    for part in &message.content {
        match &part.part {
            Some(Part::Text(text)) if part.refusal => refusal.push(text),
            _ if part.refusal => {}
            Some(Part::Text(text)) => content.push(text),
            Some(Part::Reasoning(r)) => reasoning.push(&r.text),
            Some(Part::ToolCall(call)) => {
                *capacity += 64 + call.id.len() + call.name.len() + call.arguments_json.len();
                tool_calls.push(CallOut {
                    function: FunctionOut {
                        arguments: &call.arguments_json,
                        name: &call.name,
                    },
                    id: &call.id,
                    kind: "function",
                });
            }
            _ => {}
        }
    }
    *capacity += content.len() + reasoning.len() + refusal.len() + message.name.len();
    MessageOut::Assistant(AssistantOut {
        content: content.into_inner(),
        name: (!message.name.is_empty()).then_some(message.name.as_str()),
        reasoning_content: reasoning.into_inner().filter(|r| !r.is_empty()),
        refusal: refusal.into_inner().filter(|r| !r.is_empty()),
        role: "assistant",
        tool_calls,
    })
}

/// A message in another role, written as requests write messages, with its `refusal`.
fn other_message(message: &pb::Message) -> Value {
    let style = MessageStyle {
        developer_role: true,
        reasoning_content: true,
    };
    let mut answer = message.clone();
    let (refused, kept): (Vec<_>, Vec<_>) = answer.content.drain(..).partition(|p| p.refusal);
    answer.content = kept;
    let mut written = write_messages(std::slice::from_ref(&answer), style)
        .pop()
        .unwrap_or(Value::Null);
    let refusal: String = refused
        .iter()
        .filter_map(|p| match &p.part {
            Some(Part::Text(text)) => Some(text.as_str()),
            _ => None,
        })
        .collect();
    written["refusal"] = if refusal.is_empty() {
        Value::Null
    } else {
        Value::String(refusal)
    };
    written
}

/// Pieces of text joined, borrowed while there is only one.
#[derive(Default)]
struct Joined<'a>(Option<Cow<'a, str>>);

impl<'a> Joined<'a> {
    fn push(&mut self, piece: &'a str) {
        match &mut self.0 {
            None => self.0 = Some(Cow::Borrowed(piece)),
            Some(joined) => joined.to_mut().push_str(piece),
        }
    }

    fn len(&self) -> usize {
        self.0.as_deref().map_or(0, str::len)
    }

    /// The text, or `None` when nothing was pushed (an empty piece still counts).
    fn into_inner(self) -> Option<Cow<'a, str>> {
        self.0
    }
}

#[derive(Serialize)]
struct AnswerOut<'a> {
    choices: Vec<ChoiceOut<'a>>,
    created: i64,
    id: &'a str,
    model: &'a str,
    object: &'static str,
    usage: UsageOut,
}

#[derive(Serialize)]
struct ChoiceOut<'a> {
    finish_reason: &'static str,
    index: u32,
    logprobs: (),
    message: MessageOut<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum MessageOut<'a> {
    Assistant(AssistantOut<'a>),
    Other(Value),
}

/// `content` is null without text; `refusal` is always there, null without one.
#[derive(Serialize)]
struct AssistantOut<'a> {
    content: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<Cow<'a, str>>,
    refusal: Option<Cow<'a, str>>,
    role: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<CallOut<'a>>,
}

impl Default for AssistantOut<'_> {
    fn default() -> Self {
        Self {
            content: None,
            name: None,
            reasoning_content: None,
            refusal: None,
            role: "assistant",
            tool_calls: Vec::new(),
        }
    }
}

#[derive(Serialize)]
struct CallOut<'a> {
    function: FunctionOut<'a>,
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct FunctionOut<'a> {
    arguments: &'a str,
    name: &'a str,
}

#[derive(Serialize)]
struct UsageOut {
    completion_tokens: u64,
    completion_tokens_details: CompletionDetails,
    prompt_tokens: u64,
    prompt_tokens_details: PromptDetails,
    total_tokens: u64,
}

#[derive(Serialize)]
struct CompletionDetails {
    reasoning_tokens: u64,
}

/// `cache_write_tokens` only where there were some: not every OpenAI answer has it; hosts
/// that report cache writes put them here.
#[derive(Serialize)]
struct PromptDetails {
    #[serde(skip_serializing_if = "is_zero")]
    cache_write_tokens: u64,
    cached_tokens: u64,
}

fn is_zero(count: &u64) -> bool {
    *count == 0
}
