//! Decoding an upstream's Responses stream (OpenAI, Azure): typed events, each naming its
//! output item by `output_index`. Text, refusal and reasoning summary deltas pass through;
//! a reasoning item's id goes out when it is added and its `encrypted_content` (as the
//! reasoning signature) when it is done; function calls become tool call deltas numbered from
//! 0; `response.completed` or `response.incomplete` gives the finish reason and usage, and
//! `response.failed` or `error` a canonical error. Hosted-tool items are skipped.

use std::collections::HashMap;

use serde_json::Value;

use super::super::PROVIDER;
use super::super::response::{
    call_name, created_of, error_of, finish_of, reasoning_text, usage_of,
};
use crate::canonical::pb::{self, complete_stream_response::Event};
use crate::canonical::{StreamEvent, delta, error_event, event};
use crate::error::WireError;
use crate::json::str_of;
use crate::lenient::{Obj, Text, Tree, Uint, lenient};
use crate::sse::{SseEvent, SseEvents, SseStream};

/// Decodes a Responses API stream into canonical events.
pub type ResponsesStreamDecoder = SseStream<ResponsesEvents>;

/// The most output items one stream may open: far beyond any real answer, and a bound on
/// what the decoder keeps for a hostile one.
const MAX_ITEMS: usize = 4096;

/// Reads Responses events; the SSE layer is shared.
#[derive(Debug, Default)]
pub struct ResponsesEvents {
    started: bool,
    done: bool,
    /// Open and finished items by `output_index`.
    items: HashMap<u64, Item>,
    /// Function calls seen, which numbers the next one.
    calls: u32,
}

#[derive(Debug)]
enum Item {
    /// Whether any text or refusal delta came for it.
    Message {
        streamed: bool,
    },
    /// Whether any summary text came, and the last summary part seen.
    Reasoning {
        streamed: bool,
        part: Option<u64>,
    },
    /// The canonical index, and whether any arguments came.
    Call {
        index: u32,
        streamed: bool,
    },
    Other,
}

impl ResponsesEvents {
    fn handle(&mut self, sse: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), WireError> {
        let data = sse.data.trim();
        if data.is_empty() || data == "[DONE]" {
            return Ok(());
        }
        let value: Obj<Sent<'_>> = serde_json::from_str(data).map_err(not_json)?;
        let kind = match value.kind.as_str() {
            "" => sse.event.as_str(),
            kind => kind,
        };
        if kind == "error" {
            self.done = true;
            let error = match value.error.0.as_ref().filter(|e| e.is_object()) {
                Some(error) => error_of(error),
                // The event itself is the error: read whole (only here).
                None => error_of(&serde_json::from_str::<Value>(data).map_err(not_json)?),
            };
            out.push(error_event(error));
            return Ok(());
        }
        let response = value.response.0.as_ref().unwrap_or(&Value::Null);
        if !self.started {
            self.started = true;
            out.push(event(Event::Start(pb::StreamStart {
                id: str_of(response, "id").to_owned(),
                model: str_of(response, "model").to_owned(),
                created: created_of(response),
            })));
            out.push(delta(pb::ChatDelta {
                role: pb::Role::Assistant as i32,
                ..Default::default()
            }));
        }
        let output_index = value.output_index.value();
        let item = value.item.0.as_ref().unwrap_or(&Value::Null);
        match kind {
            "response.output_item.added" => self.added(output_index, item, out)?,
            "response.output_item.done" => self.done_item(output_index, item, out),
            "response.output_text.delta" | "response.refusal.delta" => {
                let piece = value.delta.as_str();
                if let Some(Item::Message { streamed }) = self.items.get_mut(&output_index) {
                    *streamed = true;
                }
                if !piece.is_empty() {
                    let mut text = pb::ChatDelta::default();
                    if kind == "response.refusal.delta" {
                        text.refusal = piece.to_owned();
                    } else {
                        text.text = piece.to_owned();
                    }
                    out.push(delta(text));
                }
            }
            "response.reasoning_summary_part.added" => {
                let summary = value.summary_index.value();
                if let Some(Item::Reasoning { streamed, part }) = self.items.get_mut(&output_index)
                {
                    // Summary parts join with a blank line, as in a whole response.
                    if *streamed && *part != Some(summary) {
                        out.push(reasoning("\n\n"));
                    }
                    *part = Some(summary);
                }
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                let piece = value.delta.as_str();
                if let Some(Item::Reasoning { streamed, .. }) = self.items.get_mut(&output_index) {
                    *streamed |= !piece.is_empty();
                }
                if !piece.is_empty() {
                    out.push(reasoning(piece));
                }
            }
            "response.function_call_arguments.delta" => {
                let piece = value.delta.as_str();
                if let Some(Item::Call { index, streamed }) = self.items.get_mut(&output_index)
                    && !piece.is_empty()
                {
                    *streamed = true;
                    out.push(arguments(*index, piece));
                }
            }
            "response.completed" | "response.incomplete" => self.finish(response, out),
            "response.failed" => {
                self.done = true;
                let error = match response.get("error").filter(|e| e.is_object()) {
                    Some(error) => error_of(error),
                    None => {
                        WireError::from_status(PROVIDER, 500, "server_error", "the response failed")
                    }
                };
                out.push(error_event(error));
            }
            _ => {}
        }
        Ok(())
    }

    fn added(
        &mut self,
        output_index: u64,
        item: &Value,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), WireError> {
        if self.items.len() >= MAX_ITEMS && !self.items.contains_key(&output_index) {
            return Err(WireError::malformed(
                PROVIDER,
                format!("a stream opened more than {MAX_ITEMS} output items"),
            ));
        }
        let state = match str_of(item, "type") {
            "message" => Item::Message { streamed: false },
            "reasoning" => {
                let id = str_of(item, "id");
                if !id.is_empty() {
                    out.push(delta(pb::ChatDelta {
                        reasoning_id: id.to_owned(),
                        ..Default::default()
                    }));
                }
                Item::Reasoning {
                    streamed: false,
                    part: None,
                }
            }
            "function_call" => {
                let index = self.calls;
                self.calls += 1;
                let arguments = str_of(item, "arguments");
                out.push(delta(pb::ChatDelta {
                    tool_call: Some(pb::ToolCallDelta {
                        index,
                        id: str_of(item, "call_id").to_owned(),
                        name: call_name(item),
                        arguments_fragment: arguments.to_owned(),
                    }),
                    ..Default::default()
                }));
                Item::Call {
                    index,
                    streamed: !arguments.is_empty(),
                }
            }
            _ => Item::Other,
        };
        self.items.insert(output_index, state);
        Ok(())
    }

    /// An item is done: what never came as deltas comes from the whole item, and a
    /// reasoning item's `encrypted_content` closes it.
    fn done_item(&mut self, output_index: u64, item: &Value, out: &mut Vec<StreamEvent>) {
        match self.items.get(&output_index) {
            Some(Item::Message { streamed: false }) => {
                for part in item
                    .get("content")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                {
                    let mut text = pb::ChatDelta::default();
                    match str_of(part, "type") {
                        "output_text" => text.text = str_of(part, "text").to_owned(),
                        "refusal" => text.refusal = str_of(part, "refusal").to_owned(),
                        _ => continue,
                    }
                    if !text.text.is_empty() || !text.refusal.is_empty() {
                        out.push(delta(text));
                    }
                }
            }
            Some(Item::Reasoning { streamed, .. }) => {
                let mut closing = pb::ChatDelta {
                    reasoning_signature: str_of(item, "encrypted_content").to_owned(),
                    ..Default::default()
                };
                if !streamed {
                    closing.reasoning = reasoning_text(item);
                }
                if !closing.reasoning.is_empty() || !closing.reasoning_signature.is_empty() {
                    out.push(delta(closing));
                }
            }
            Some(Item::Call {
                index,
                streamed: false,
            }) => {
                let whole = str_of(item, "arguments");
                if !whole.is_empty() {
                    out.push(arguments(*index, whole));
                }
            }
            _ => {}
        }
        if let Some(Item::Message { streamed } | Item::Call { streamed, .. }) =
            self.items.get_mut(&output_index)
        {
            *streamed = true;
        }
    }

    fn finish(&mut self, response: &Value, out: &mut Vec<StreamEvent>) {
        self.done = true;
        let (reason, native) = finish_of(response, self.calls > 0);
        out.push(delta(pb::ChatDelta {
            finish_reason: reason as i32,
            native_finish_reason: native,
            ..Default::default()
        }));
        if let Some(usage) = response.get("usage").filter(|u| u.is_object()) {
            out.push(event(Event::Usage(usage_of(usage))));
        }
        out.push(event(Event::End(pb::StreamEnd::default())));
    }
}

lenient! {
    /// One event, read as far as the deltas need; the item and response objects, which
    /// existing readers take whole and which come a few times a stream, stay trees.
    struct Sent<'a> {
        kind = "type": Text<'a>,
        delta: Text<'a>,
        output_index: Uint,
        summary_index: Uint,
        item: Tree,
        response: Tree,
        error: Tree,
    }
}

fn not_json(error: serde_json::Error) -> WireError {
    WireError::malformed(PROVIDER, format!("event is not JSON: {error}"))
}

fn reasoning(piece: &str) -> StreamEvent {
    delta(pb::ChatDelta {
        reasoning: piece.to_owned(),
        ..Default::default()
    })
}

fn arguments(index: u32, piece: &str) -> StreamEvent {
    delta(pb::ChatDelta {
        tool_call: Some(pb::ToolCallDelta {
            index,
            arguments_fragment: piece.to_owned(),
            ..Default::default()
        }),
        ..Default::default()
    })
}

impl SseEvents for ResponsesEvents {
    const PROVIDER: &'static str = PROVIDER;

    fn on_event(&mut self, sse: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), WireError> {
        self.handle(sse, out)
    }

    fn closed(&self) -> bool {
        self.done
    }

    fn on_end(&mut self, _out: &mut Vec<StreamEvent>) -> Result<(), WireError> {
        if self.done {
            return Ok(());
        }
        Err(WireError::truncated(PROVIDER, "response.completed"))
    }
}

#[cfg(test)]
#[path = "legacy.rs"]
mod legacy;
