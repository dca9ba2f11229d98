//! The canonical side of every translation: `keyroute.router.v1` messages, the stream
//! decoder and renderer interfaces, and an accumulator that folds a delta stream into the
//! response it describes.

use std::collections::HashMap;

pub use keyroute_proto::router::v1 as pb;
use pb::complete_stream_response::Event;
use pb::content_part::Part;

use crate::error::WireError;

/// One canonical stream event.
pub type StreamEvent = pb::CompleteStreamResponse;

/// Decodes a provider's streaming body into canonical events, incrementally.
pub trait StreamDecoder {
    /// Feeds the next bytes (split anywhere) and appends the events they complete.
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), WireError>;
    /// The body ended: flushes what is pending and checks the stream was complete.
    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), WireError>;
}

/// Renders canonical events in a client dialect, event by event.
pub trait StreamRenderer {
    /// Appends the bytes for `event` to `out`.
    fn render(&mut self, event: &StreamEvent, out: &mut Vec<u8>);
}

/// A `data:` URL's media type and base64 payload, for providers that take images inline.
pub(crate) fn data_url(url: &str) -> Option<(&str, &str)> {
    url.strip_prefix("data:")?.split_once(";base64,")
}

pub fn event(event: Event) -> StreamEvent {
    StreamEvent { event: Some(event) }
}

pub fn delta(delta: pb::ChatDelta) -> StreamEvent {
    event(Event::Delta(delta))
}

/// A provider's mid-stream error as a canonical event.
pub fn error_event(error: WireError) -> StreamEvent {
    event(Event::Error(pb::StreamError {
        status: u32::from(error.status),
        r#type: error.error_type,
        message: error.message,
        retryable: error.retryable,
    }))
}

/// Folds stream events into the response they describe: what a client that concatenates
/// the stream ends up with.
#[derive(Debug, Default)]
pub struct Accumulator {
    response: pb::ChatResponse,
    /// Per choice, where each tool call (by its stream index) sits in the content.
    tool_parts: HashMap<(u32, u32), usize>,
    pub errors: Vec<pb::StreamError>,
    pub ended: bool,
}

impl Accumulator {
    pub fn new() -> Self {
        Self::default()
    }

    fn choice(&mut self, index: u32) -> &mut pb::Choice {
        let choices = &mut self.response.choices;
        let position = match choices.iter().position(|c| c.index == index) {
            Some(position) => position,
            None => {
                // Whatever a stream carries, its message is the assistant's.
                let message = pb::Message {
                    role: pb::Role::Assistant as i32,
                    ..Default::default()
                };
                choices.push(pb::Choice {
                    index,
                    message: Some(message),
                    ..Default::default()
                });
                choices.sort_by_key(|c| c.index);
                choices
                    .iter()
                    .position(|c| c.index == index)
                    .unwrap_or_default()
            }
        };
        &mut choices[position]
    }

    pub fn push(&mut self, event: &StreamEvent) {
        match &event.event {
            Some(Event::Start(start)) => {
                self.response.id.clone_from(&start.id);
                self.response.model.clone_from(&start.model);
                self.response.created = start.created;
            }
            Some(Event::Delta(delta)) => self.push_delta(delta),
            Some(Event::Usage(usage)) => self.response.usage = Some(*usage),
            Some(Event::Error(error)) => self.errors.push(error.clone()),
            Some(Event::End(end)) => {
                self.ended = true;
                if end.served_by.is_some() {
                    self.response.served_by.clone_from(&end.served_by);
                }
            }
            None => {}
        }
    }

    fn push_delta(&mut self, delta: &pb::ChatDelta) {
        let index = delta.choice_index;
        let tool_key = delta.tool_call.as_ref().map(|call| (index, call.index));
        let known_tool = tool_key.and_then(|key| self.tool_parts.get(&key).copied());
        let choice = self.choice(index);
        if delta.finish_reason != 0 {
            choice.finish_reason = delta.finish_reason;
            choice.stop_sequence.clone_from(&delta.stop_sequence);
            choice
                .native_finish_reason
                .clone_from(&delta.native_finish_reason);
        }
        let Some(message) = choice.message.as_mut() else {
            return;
        };
        if delta.role != 0 {
            message.role = delta.role;
        }
        let content = &mut message.content;
        // Text and refusal each continue a text part of their own kind.
        for (piece, refusal) in [(&delta.text, false), (&delta.refusal, true)] {
            if piece.is_empty() {
                continue;
            }
            match content.last_mut() {
                Some(pb::ContentPart {
                    part: Some(Part::Text(text)),
                    refusal: last,
                    ..
                }) if *last == refusal => text.push_str(piece),
                _ => content.push(pb::ContentPart {
                    part: Some(Part::Text(piece.clone())),
                    refusal,
                    ..Default::default()
                }),
            }
        }
        if !delta.reasoning.is_empty()
            || !delta.reasoning_signature.is_empty()
            || !delta.reasoning_id.is_empty()
        {
            // An id starts a new reasoning item; a signature closes one.
            let open = delta.reasoning_id.is_empty()
                && matches!(content.last(), Some(pb::ContentPart { part: Some(Part::Reasoning(r)), .. }) if r.signature.is_empty() && r.redacted.is_empty());
            if !open {
                content.push(pb::ContentPart {
                    part: Some(Part::Reasoning(pb::Reasoning::default())),
                    ..Default::default()
                });
            }
            if let Some(pb::ContentPart {
                part: Some(Part::Reasoning(reasoning)),
                ..
            }) = content.last_mut()
            {
                if !delta.reasoning_id.is_empty() {
                    reasoning.id.clone_from(&delta.reasoning_id);
                }
                reasoning.text.push_str(&delta.reasoning);
                reasoning.signature.push_str(&delta.reasoning_signature);
            }
        }
        if !delta.redacted_reasoning.is_empty() {
            let reasoning = pb::Reasoning {
                redacted: delta.redacted_reasoning.clone(),
                ..Default::default()
            };
            content.push(pb::ContentPart {
                part: Some(Part::Reasoning(reasoning)),
                ..Default::default()
            });
        }
        let mut touched = None;
        if let Some(call) = &delta.tool_call {
            let position = match known_tool {
                Some(position) => position,
                None => {
                    content.push(pb::ContentPart {
                        part: Some(Part::ToolCall(pb::ToolCall::default())),
                        ..Default::default()
                    });
                    content.len() - 1
                }
            };
            if let Some(pb::ContentPart {
                part: Some(Part::ToolCall(tool)),
                ..
            }) = content.get_mut(position)
            {
                if !call.id.is_empty() {
                    tool.id.clone_from(&call.id);
                }
                if !call.name.is_empty() {
                    tool.name.clone_from(&call.name);
                }
                tool.arguments_json.push_str(&call.arguments_fragment);
            }
            touched = Some(position);
        }
        if !delta.thought_signature.is_empty() {
            let position = touched.unwrap_or(content.len().saturating_sub(1));
            match content.get_mut(position) {
                Some(part) => part.thought_signature.clone_from(&delta.thought_signature),
                None => content.push(pb::ContentPart {
                    part: Some(Part::Text(String::new())),
                    thought_signature: delta.thought_signature.clone(),
                    ..Default::default()
                }),
            }
        }
        if let (Some(key), Some(position), None) = (tool_key, touched, known_tool) {
            self.tool_parts.insert(key, position);
        }
    }

    pub fn finish(self) -> pb::ChatResponse {
        self.response
    }
}
