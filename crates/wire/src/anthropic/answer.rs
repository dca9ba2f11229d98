//! Rendering a canonical response as a Messages body for a client, from borrowed structs
//! straight into one pre-sized buffer: this runs once per non-streaming answer, and a `Value`
//! tree cost a map node and an owned key and string per field.
//!
//! The bytes are those the `Value` tree wrote, which clients and tests see: `serde_json`
//! maps (without `preserve_order`) write their keys sorted, so every struct here declares its
//! fields in byte order of their keys. Tool input stays a `Value`: it is the arguments parsed
//! and written again, keys sorted, as before.

use std::borrow::Cow;

use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};
use serde_json::Value;

use super::render::UsageOut;
use super::stop_reason;
use crate::canonical::pb::{self, content_part::Part};
use crate::responses::THOUGHT_SIGNATURE_PREFIX;

/// Renders a canonical response as a Messages body for a client (choice 0).
pub fn render_response(response: &pb::ChatResponse) -> Vec<u8> {
    let fallback = pb::Choice::default();
    let choice = response.choices.first().unwrap_or(&fallback);
    let parts = choice
        .message
        .as_ref()
        .map(|m| m.content.as_slice())
        .unwrap_or_default();
    let mut capacity = 384 + response.id.len() + response.model.len();
    let mut content = Vec::with_capacity(parts.len());
    for part in parts {
        blocks_of(part, &mut content, &mut capacity);
    }
    // A refusal reads as text, and the answer stops with `refusal`.
    let reason = match parts.iter().any(|p| p.refusal) {
        true => pb::FinishReason::ContentFilter,
        false => pb::FinishReason::try_from(choice.finish_reason).unwrap_or(pb::FinishReason::Stop),
    };
    let id = if response.id.starts_with("msg_") {
        Cow::Borrowed(response.id.as_str())
    } else {
        Cow::Owned(format!("msg_{}", response.id))
    };
    let body = AnswerOut {
        content,
        id,
        model: &response.model,
        role: "assistant",
        stop_reason: stop_reason(reason, &choice.stop_sequence),
        stop_sequence: (!choice.stop_sequence.is_empty()).then_some(&choice.stop_sequence),
        kind: "message",
        usage: SortedUsage(UsageOut::of(&response.usage.unwrap_or_default())),
    };
    let mut out = Vec::with_capacity(capacity);
    // Structs of strings and numbers (and `Value`s with string keys) always serialize.
    let _ = serde_json::to_writer(&mut out, &body);
    out
}

/// A part's blocks: a tool call Gemini signed is preceded by an empty thinking block that
/// carries the signature (the client sends it back, and ingress puts it on the call again);
/// empty text (Gemini's signature-only parts) is not a block.
fn blocks_of<'a>(part: &'a pb::ContentPart, out: &mut Vec<BlockOut<'a>>, capacity: &mut usize) {
    if let Some(Part::ToolCall(_)) = &part.part
        && !part.thought_signature.is_empty()
    {
        *capacity += 96 + part.thought_signature.len();
        out.push(BlockOut::Thinking {
            signature: Cow::Owned(format!(
                "{THOUGHT_SIGNATURE_PREFIX}{}",
                part.thought_signature
            )),
            thinking: "",
            kind: "thinking",
        });
    }
    let block = match &part.part {
        Some(Part::Text(text)) if text.is_empty() => return,
        Some(Part::Text(text)) => {
            *capacity += 32 + text.len();
            BlockOut::Text { text, kind: "text" }
        }
        Some(Part::ToolCall(call)) => {
            *capacity += 64 + call.id.len() + call.name.len() + call.arguments_json.len();
            let input = serde_json::from_str(&call.arguments_json)
                .unwrap_or_else(|_| Value::Object(serde_json::Map::new()));
            BlockOut::ToolUse {
                id: &call.id,
                input,
                name: &call.name,
                kind: "tool_use",
            }
        }
        Some(Part::Reasoning(r)) if !r.redacted.is_empty() => {
            *capacity += 48 + r.redacted.len();
            BlockOut::Redacted {
                data: &r.redacted,
                kind: "redacted_thinking",
            }
        }
        Some(Part::Reasoning(r)) => {
            *capacity += 64 + r.text.len() + r.signature.len();
            BlockOut::Thinking {
                signature: Cow::Borrowed(&r.signature),
                thinking: &r.text,
                kind: "thinking",
            }
        }
        _ => return,
    };
    out.push(block);
}

#[derive(Serialize)]
struct AnswerOut<'a> {
    content: Vec<BlockOut<'a>>,
    id: Cow<'a, str>,
    model: &'a str,
    role: &'static str,
    stop_reason: &'static str,
    stop_sequence: Option<&'a String>,
    #[serde(rename = "type")]
    kind: &'static str,
    usage: SortedUsage,
}

#[derive(Serialize)]
#[serde(untagged)]
enum BlockOut<'a> {
    Text {
        text: &'a str,
        #[serde(rename = "type")]
        kind: &'static str,
    },
    ToolUse {
        id: &'a str,
        input: Value,
        name: &'a str,
        #[serde(rename = "type")]
        kind: &'static str,
    },
    Redacted {
        data: &'a str,
        #[serde(rename = "type")]
        kind: &'static str,
    },
    Thinking {
        signature: Cow<'a, str>,
        thinking: &'a str,
        #[serde(rename = "type")]
        kind: &'static str,
    },
}

/// The usage the stream renderer writes, with its keys in the order a `Value` wrote them.
struct SortedUsage(UsageOut);

impl Serialize for SortedUsage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Split<'a>(&'a UsageOut);
        impl Serialize for Split<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let split = &self.0.cache_creation;
                let mut out = serializer.serialize_struct("CacheCreation", 2)?;
                out.serialize_field(
                    "ephemeral_1h_input_tokens",
                    &split.ephemeral_1h_input_tokens,
                )?;
                out.serialize_field(
                    "ephemeral_5m_input_tokens",
                    &split.ephemeral_5m_input_tokens,
                )?;
                out.end()
            }
        }
        let usage = &self.0;
        let mut out = serializer.serialize_struct("Usage", 6)?;
        out.serialize_field("cache_creation", &Split(usage))?;
        out.serialize_field(
            "cache_creation_input_tokens",
            &usage.cache_creation_input_tokens,
        )?;
        out.serialize_field("cache_read_input_tokens", &usage.cache_read_input_tokens)?;
        out.serialize_field("input_tokens", &usage.input_tokens)?;
        out.serialize_field("output_tokens", &usage.output_tokens)?;
        if let Some(details) = &usage.output_tokens_details {
            out.serialize_field("output_tokens_details", details)?;
        }
        out.end()
    }
}
