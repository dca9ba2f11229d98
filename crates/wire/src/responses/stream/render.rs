//! Rendering a canonical stream as Responses events, event by event: `response.created` and
//! `response.in_progress`, then each output item opened (`output_item.added`), filled
//! (text, refusal, reasoning summary or arguments deltas) and closed (the `.done` events with
//! the whole value), and finally `response.completed` (or `incomplete`, or `failed`) with the
//! whole response object. Every event carries a strictly increasing `sequence_number`.
//!
//! Canonical deltas interleave kinds; an item closes when another kind starts. Function calls
//! stay open side by side until something else starts, so fragments interleaved by
//! `tool_call.index` still land in their own call.
//!
//! A Gemini thought signature that comes with a call's first fragment goes out as a reasoning
//! item right before the call (see [`THOUGHT_SIGNATURE_PREFIX`]); one on a text part, or on a
//! later fragment of a call already announced, has nowhere to go and is dropped (Gemini
//! requires only function-call signatures back). Choices other than 0 are dropped: the
//! Responses API has one output.
//!
//! [`THOUGHT_SIGNATURE_PREFIX`]: super::super::THOUGHT_SIGNATURE_PREFIX

use serde::Serialize;
use serde_json::{Value, json};

use super::super::ResponseContext;
use super::super::response::{
    Echo, Head, Outcome, ResponseObject, content_part, encrypted_of, failure_code, function_item,
    item_id, message_item, reasoning_item, response_id, response_object, signature_item, status_of,
};
use crate::canonical::pb::{self, FinishReason, complete_stream_response::Event};
use crate::canonical::{StreamEvent, StreamRenderer};

/// Renders canonical events as Responses API server-sent events.
#[derive(Debug)]
pub struct ResponsesStreamRenderer {
    context: ResponseContext,
    /// The request's echo fields, written once for the three response objects.
    echo: Echo,
    head: Head,
    sequence: u64,
    started: bool,
    finished: bool,
    /// Closed items, in output order.
    output: Vec<Value>,
    /// The open message or reasoning item.
    current: Option<Current>,
    /// Open function calls.
    calls: Vec<OpenCall>,
    /// Canonical indexes of function calls already closed.
    closed_calls: Vec<u32>,
    usage: Option<pb::Usage>,
    finish: FinishReason,
}

#[derive(Debug)]
enum Current {
    Message {
        id: String,
        index: usize,
        /// Closed content parts.
        parts: Vec<Value>,
        /// The open part: whether it is a refusal, and its text so far.
        open: Option<(bool, String)>,
    },
    Reasoning {
        id: String,
        index: usize,
        text: String,
        signature: String,
        redacted: String,
    },
}

#[derive(Debug)]
struct OpenCall {
    canonical: u32,
    id: String,
    index: usize,
    call_id: String,
    name: String,
    arguments: String,
}

/// The body of every delta event; borrowed, so deltas are not copied.
#[derive(Serialize)]
struct DeltaOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence_number: u64,
    item_id: &'a str,
    output_index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_index: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary_index: Option<usize>,
    delta: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<[(); 0]>,
}

impl ResponsesStreamRenderer {
    /// `context` is the request's, from the Responses request parser.
    pub fn new(mut context: ResponseContext) -> Self {
        // Written once; the trees and the tools' text are not needed again.
        let echo = Echo::written(&context.echo, std::mem::take(&mut context.tools_json));
        context.echo = serde_json::Map::new();
        Self {
            echo,
            context,
            head: Head {
                id: response_id(""),
                ..Head::default()
            },
            sequence: 0,
            started: false,
            finished: false,
            output: Vec::new(),
            current: None,
            calls: Vec::new(),
            closed_calls: Vec::new(),
            usage: None,
            finish: FinishReason::Stop,
        }
    }

    fn next_sequence(&mut self) -> u64 {
        let sequence = self.sequence;
        self.sequence += 1;
        sequence
    }

    /// Writes one event whose body is built as JSON.
    fn emit(&mut self, kind: &str, mut body: Value, out: &mut Vec<u8>) {
        body["type"] = Value::String(kind.to_owned());
        body["sequence_number"] = Value::from(self.next_sequence());
        write(kind, &body, out);
    }

    fn emit_delta(&mut self, mut delta: DeltaOut<'_>, out: &mut Vec<u8>) {
        delta.sequence_number = self.next_sequence();
        write(delta.kind, &delta, out);
    }

    /// An event whose body is the whole response object.
    fn emit_response(
        &mut self,
        kind: &str,
        outcome: Outcome<'_>,
        output: Vec<Value>,
        out: &mut Vec<u8>,
    ) {
        let sequence_number = self.next_sequence();
        let usage = (outcome.status != "in_progress")
            .then_some(self.usage.as_ref())
            .flatten();
        let response = response_object(&self.head, outcome, output, usage, &self.echo);
        let event = ResponseEvent {
            response,
            sequence_number,
            kind,
        };
        write(kind, &event, out);
    }

    /// `response.created` and `response.in_progress`, once, before anything else.
    fn start(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        for kind in ["response.created", "response.in_progress"] {
            self.emit_response(kind, Outcome::IN_PROGRESS, Vec::new(), out);
        }
    }

    fn next_index(&self) -> usize {
        self.output.len() + usize::from(self.current.is_some()) + self.calls.len()
    }

    fn add_item(&mut self, index: usize, item: Value, out: &mut Vec<u8>) {
        self.emit(
            "response.output_item.added",
            json!({ "output_index": index, "item": item }),
            out,
        );
    }

    fn done_item(&mut self, index: usize, item: Value, out: &mut Vec<u8>) {
        self.emit(
            "response.output_item.done",
            json!({ "output_index": index, "item": item.clone() }),
            out,
        );
        self.output.push(item);
    }

    /// Closes the open content part of a message.
    fn close_part(&mut self, out: &mut Vec<u8>) {
        let Some(Current::Message {
            id,
            index,
            parts,
            open,
        }) = &mut self.current
        else {
            return;
        };
        let Some((refusal, text)) = open.take() else {
            return;
        };
        let (id, index, content_index) = (id.clone(), *index, parts.len());
        let part = content_part(&text, refusal);
        parts.push(part.clone());
        let (kind, mut body) = if refusal {
            ("response.refusal.done", json!({ "refusal": text }))
        } else {
            (
                "response.output_text.done",
                json!({ "text": text, "logprobs": [] }),
            )
        };
        for (key, value) in [
            ("item_id", Value::String(id)),
            ("output_index", Value::from(index)),
            ("content_index", Value::from(content_index)),
        ] {
            body[key] = value;
        }
        let mut part_done = json!({ "part": part });
        for key in ["item_id", "output_index", "content_index"] {
            part_done[key] = body[key].clone();
        }
        self.emit(kind, body, out);
        self.emit("response.content_part.done", part_done, out);
    }

    /// Closes the open message or reasoning item; `status` is the message's.
    fn close_current(&mut self, status: &str, out: &mut Vec<u8>) {
        self.close_part(out);
        match self.current.take() {
            Some(Current::Message {
                id, index, parts, ..
            }) => {
                let item = message_item(&id, status, parts);
                self.done_item(index, item, out);
            }
            Some(Current::Reasoning {
                id,
                index,
                text,
                signature,
                redacted,
            }) => {
                if !text.is_empty() {
                    let part = json!({ "type": "summary_text", "text": text });
                    let place = json!({ "item_id": id, "output_index": index, "summary_index": 0 });
                    let mut text_done = place.clone();
                    text_done["text"] = Value::String(text.clone());
                    self.emit("response.reasoning_summary_text.done", text_done, out);
                    let mut part_done = place;
                    part_done["part"] = part;
                    self.emit("response.reasoning_summary_part.done", part_done, out);
                }
                let encrypted = encrypted_of(&signature, &redacted, &self.context);
                let item = reasoning_item(&id, &text, encrypted);
                self.done_item(index, item, out);
            }
            None => {}
        }
    }

    fn close_calls(&mut self, status: &str, out: &mut Vec<u8>) {
        for call in std::mem::take(&mut self.calls) {
            self.emit(
                "response.function_call_arguments.done",
                json!({ "item_id": call.id, "output_index": call.index, "arguments": call.arguments }),
                out,
            );
            let item = function_item(
                &call.id,
                &call.call_id,
                &call.name,
                &call.arguments,
                status,
                &self.context,
            );
            self.done_item(call.index, item, out);
            self.closed_calls.push(call.canonical);
        }
    }

    fn close_all(&mut self, status: &str, out: &mut Vec<u8>) {
        self.close_current(status, out);
        self.close_calls(status, out);
    }

    /// Text or refusal: continues the open message, or opens one.
    fn text(&mut self, piece: &str, refusal: bool, out: &mut Vec<u8>) {
        self.close_calls("completed", out);
        if !matches!(self.current, Some(Current::Message { .. })) {
            self.close_current("completed", out);
            let index = self.next_index();
            let id = item_id("msg", &self.head.id, index);
            self.add_item(index, message_item(&id, "in_progress", Vec::new()), out);
            self.current = Some(Current::Message {
                id,
                index,
                parts: Vec::new(),
                open: None,
            });
        }
        if matches!(&self.current, Some(Current::Message { open: Some((kind, _)), .. }) if *kind != refusal)
        {
            self.close_part(out);
        }
        let Some(Current::Message {
            id,
            index,
            parts,
            open,
        }) = &mut self.current
        else {
            return;
        };
        let (id, index, content_index) = (id.clone(), *index, parts.len());
        let opened = open.is_none();
        open.get_or_insert_with(|| (refusal, String::new()))
            .1
            .push_str(piece);
        if opened {
            let part = content_part("", refusal);
            let body = json!({ "item_id": id, "output_index": index, "content_index": content_index, "part": part });
            self.emit("response.content_part.added", body, out);
        }
        self.emit_delta(
            DeltaOut {
                kind: if refusal {
                    "response.refusal.delta"
                } else {
                    "response.output_text.delta"
                },
                sequence_number: 0,
                item_id: &id,
                output_index: index,
                content_index: Some(content_index),
                summary_index: None,
                delta: piece,
                logprobs: (!refusal).then_some([]),
            },
            out,
        );
    }

    fn open_reasoning(&mut self, id: &str, out: &mut Vec<u8>) {
        self.close_all("completed", out);
        let index = self.next_index();
        let id = match id {
            "" => item_id("rs", &self.head.id, index),
            id => id.to_owned(),
        };
        self.add_item(index, reasoning_item(&id, "", None), out);
        self.current = Some(Current::Reasoning {
            id,
            index,
            text: String::new(),
            signature: String::new(),
            redacted: String::new(),
        });
    }

    fn reasoning(&mut self, delta: &pb::ChatDelta, out: &mut Vec<u8>) {
        let open = matches!(self.current, Some(Current::Reasoning { .. }));
        if !delta.reasoning_id.is_empty() || !open {
            self.open_reasoning(&delta.reasoning_id, out);
        }
        if !delta.reasoning.is_empty()
            && let Some(Current::Reasoning {
                id, index, text, ..
            }) = &mut self.current
        {
            let first = text.is_empty();
            text.push_str(&delta.reasoning);
            let (id, index) = (id.clone(), *index);
            if first {
                let body = json!({ "item_id": id, "output_index": index, "summary_index": 0, "part": { "type": "summary_text", "text": "" } });
                self.emit("response.reasoning_summary_part.added", body, out);
            }
            self.emit_delta(
                DeltaOut {
                    kind: "response.reasoning_summary_text.delta",
                    sequence_number: 0,
                    item_id: &id,
                    output_index: index,
                    content_index: None,
                    summary_index: Some(0),
                    delta: &delta.reasoning,
                    logprobs: None,
                },
                out,
            );
        }
        if !delta.reasoning_signature.is_empty() {
            if let Some(Current::Reasoning { signature, .. }) = &mut self.current {
                signature.push_str(&delta.reasoning_signature);
            }
            // A signature ends its reasoning block.
            self.close_current("completed", out);
        }
    }

    fn redacted(&mut self, data: &str, out: &mut Vec<u8>) {
        self.open_reasoning("", out);
        if let Some(Current::Reasoning { redacted, .. }) = &mut self.current {
            redacted.push_str(data);
        }
        self.close_current("completed", out);
    }

    fn tool_call(&mut self, delta: &pb::ChatDelta, call: &pb::ToolCallDelta, out: &mut Vec<u8>) {
        self.close_current("completed", out);
        let position = match self.calls.iter().position(|c| c.canonical == call.index) {
            Some(position) => position,
            // A fragment of a call already closed cannot be sent any more; well-behaved
            // upstreams never interleave a call with text or reasoning.
            None if self.closed_calls.contains(&call.index) => return,
            None => {
                if !delta.thought_signature.is_empty() {
                    let index = self.next_index();
                    let id = item_id("rs", &self.head.id, index);
                    let item = signature_item(&id, &delta.thought_signature);
                    self.add_item(index, item.clone(), out);
                    self.done_item(index, item, out);
                }
                let index = self.next_index();
                let id = item_id("fc", &self.head.id, index);
                let call_id = match call.id.as_str() {
                    "" => item_id("call", &self.head.id, index),
                    call_id => call_id.to_owned(),
                };
                let item =
                    function_item(&id, &call_id, &call.name, "", "in_progress", &self.context);
                self.add_item(index, item, out);
                self.calls.push(OpenCall {
                    canonical: call.index,
                    id,
                    index,
                    call_id,
                    name: call.name.clone(),
                    arguments: String::new(),
                });
                self.calls.len() - 1
            }
        };
        if call.arguments_fragment.is_empty() {
            return;
        }
        let Some(open) = self.calls.get_mut(position) else {
            return;
        };
        open.arguments.push_str(&call.arguments_fragment);
        let (id, index) = (open.id.clone(), open.index);
        self.emit_delta(
            DeltaOut {
                kind: "response.function_call_arguments.delta",
                sequence_number: 0,
                item_id: &id,
                output_index: index,
                content_index: None,
                summary_index: None,
                delta: &call.arguments_fragment,
                logprobs: None,
            },
            out,
        );
    }

    fn delta(&mut self, delta: &pb::ChatDelta, out: &mut Vec<u8>) {
        if delta.choice_index != 0 {
            return;
        }
        if !delta.reasoning_id.is_empty()
            || !delta.reasoning.is_empty()
            || !delta.reasoning_signature.is_empty()
        {
            self.reasoning(delta, out);
        }
        if !delta.redacted_reasoning.is_empty() {
            self.redacted(&delta.redacted_reasoning, out);
        }
        if !delta.text.is_empty() {
            self.text(&delta.text, false, out);
        }
        if !delta.refusal.is_empty() {
            self.text(&delta.refusal, true, out);
        }
        if let Some(call) = &delta.tool_call {
            self.tool_call(delta, call, out);
        }
        if delta.finish_reason != 0 {
            self.finish = FinishReason::try_from(delta.finish_reason).unwrap_or(FinishReason::Stop);
        }
    }

    fn end(&mut self, out: &mut Vec<u8>) {
        let (status, incomplete) = status_of(self.finish);
        // The item being written when the model stopped short is incomplete.
        let item_status = if incomplete.is_some() {
            "incomplete"
        } else {
            "completed"
        };
        self.close_all(item_status, out);
        let kind = match status {
            "incomplete" => "response.incomplete",
            "failed" => "response.failed",
            _ => "response.completed",
        };
        let outcome = Outcome {
            status,
            incomplete,
            error: (status == "failed")
                .then_some(("server_error", "the model stopped with an error")),
        };
        let output = self.output.clone();
        self.emit_response(kind, outcome, output, out);
    }

    /// An `error` event (both the documented top-level fields and the `error` object OpenAI
    /// sends, which the `openai` SDK raises), then `response.failed`.
    fn fail(&mut self, error: &pb::StreamError, out: &mut Vec<u8>) {
        let code = failure_code(error.status, &error.r#type);
        let kind = match error.r#type.as_str() {
            "" => code.as_str(),
            kind => kind,
        };
        let body = json!({
            "code": code,
            "message": error.message,
            "param": null,
            "error": { "type": kind, "code": code, "message": error.message, "param": null },
        });
        self.emit("error", body, out);
        let outcome = Outcome {
            status: "failed",
            incomplete: None,
            error: Some((&code, &error.message)),
        };
        let output = self.output.clone();
        self.emit_response("response.failed", outcome, output, out);
    }
}

/// A `response.*` event: its keys in the order a `Map` keeps them.
#[derive(Serialize)]
struct ResponseEvent<'a> {
    response: ResponseObject<'a>,
    sequence_number: u64,
    #[serde(rename = "type")]
    kind: &'a str,
}

/// One `event:` line and its `data:` line.
fn write<T: Serialize>(kind: &str, body: &T, out: &mut Vec<u8>) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    // Serializing strings, numbers and JSON values into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, body);
    out.extend_from_slice(b"\n\n");
}

impl StreamRenderer for ResponsesStreamRenderer {
    fn render(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        if let Some(Event::Start(start)) = &event.event
            && !self.started
        {
            self.head = Head {
                id: response_id(&start.id),
                model: start.model.clone(),
                created: start.created,
            };
        }
        self.start(out);
        match &event.event {
            Some(Event::Delta(delta)) => self.delta(delta, out),
            Some(Event::Usage(usage)) => self.usage = Some(*usage),
            Some(Event::End(_)) => {
                self.finished = true;
                self.end(out);
            }
            Some(Event::Error(error)) => {
                self.finished = true;
                self.fail(error, out);
            }
            Some(Event::Start(_)) | None => {}
        }
    }
}
