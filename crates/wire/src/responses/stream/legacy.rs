//! The Value-tree event reader that the typed one replaced, kept as the reference: for any
//! input, the typed path must give what this gave (the same events, the same error).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use serde_json::Value;

use super::super::super::PROVIDER;
use super::super::super::response::{created_of, error_of};
use super::{Item, ResponsesEvents, arguments, reasoning};
use crate::canonical::pb::{self, complete_stream_response::Event};
use crate::canonical::{StreamEvent, delta, error_event, event};
use crate::error::WireError;
use crate::generated::{array, count, either, leading, leaf, object, text};
use crate::json::{str_of, u64_of};
use crate::sse::{SseEvent, SseEvents};

impl ResponsesEvents {
    pub(super) fn legacy_handle(
        &mut self,
        sse: &SseEvent,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), WireError> {
        let data = sse.data.trim();
        if data.is_empty() || data == "[DONE]" {
            return Ok(());
        }
        let value: Value = serde_json::from_str(data).map_err(|error| {
            WireError::malformed(PROVIDER, format!("event is not JSON: {error}"))
        })?;
        let kind = match str_of(&value, "type") {
            "" => sse.event.as_str(),
            kind => kind,
        };
        if kind == "error" {
            let error = value
                .get("error")
                .filter(|e| e.is_object())
                .unwrap_or(&value);
            self.done = true;
            out.push(error_event(error_of(error)));
            return Ok(());
        }
        if !self.started {
            self.started = true;
            let response = value.get("response").unwrap_or(&Value::Null);
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
        let output_index = u64_of(&value, "output_index");
        match kind {
            "response.output_item.added" => {
                let item = value.get("item").unwrap_or(&Value::Null);
                self.added(output_index, item, out)?;
            }
            "response.output_item.done" => {
                let item = value.get("item").unwrap_or(&Value::Null);
                self.done_item(output_index, item, out);
            }
            "response.output_text.delta" | "response.refusal.delta" => {
                let piece = str_of(&value, "delta");
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
                let summary = u64_of(&value, "summary_index");
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
                let piece = str_of(&value, "delta");
                if let Some(Item::Reasoning { streamed, .. }) = self.items.get_mut(&output_index) {
                    *streamed |= !piece.is_empty();
                }
                if !piece.is_empty() {
                    out.push(reasoning(piece));
                }
            }
            "response.function_call_arguments.delta" => {
                let piece = str_of(&value, "delta");
                if let Some(Item::Call { index, streamed }) = self.items.get_mut(&output_index)
                    && !piece.is_empty()
                {
                    *streamed = true;
                    out.push(arguments(*index, piece));
                }
            }
            "response.completed" | "response.incomplete" => {
                let response = value.get("response").unwrap_or(&Value::Null);
                self.finish(response, out);
            }
            "response.failed" => {
                self.done = true;
                let response = value.get("response").unwrap_or(&Value::Null);
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
}

fn name(names: &'static [&'static str]) -> BoxedStrategy<String> {
    either(
        proptest::sample::select(names)
            .prop_map(|n| format!("\"{n}\""))
            .boxed(),
    )
}

fn item() -> BoxedStrategy<String> {
    let part = either(object(vec![
        ("type", name(&["output_text", "refusal", "summary_text"])),
        ("text", text()),
        ("refusal", text()),
    ]));
    either(leading(
        "type",
        name(&[
            "message",
            "message",
            "reasoning",
            "function_call",
            "web_search_call",
        ]),
        object(vec![
            ("id", text()),
            ("call_id", text()),
            ("name", text()),
            ("namespace", text()),
            ("arguments", text()),
            ("encrypted_content", text()),
            ("content", either(array(part.clone()))),
            ("summary", either(array(part))),
        ]),
    ))
}

fn response() -> BoxedStrategy<String> {
    let usage = either(object(vec![
        ("input_tokens", count()),
        ("output_tokens", count()),
        ("total_tokens", count()),
        (
            "input_tokens_details",
            either(object(vec![("cached_tokens", count())])),
        ),
    ]));
    let error = either(object(vec![
        (
            "code",
            name(&["rate_limit_exceeded", "invalid_prompt", "server_error"]),
        ),
        ("message", text()),
        ("type", text()),
    ]));
    either(object(vec![
        ("id", text()),
        ("model", text()),
        ("created_at", leaf()),
        ("status", name(&["completed", "incomplete", "failed"])),
        (
            "incomplete_details",
            either(object(vec![(
                "reason",
                name(&["max_output_tokens", "content_filter"]),
            )])),
        ),
        ("usage", usage),
        ("error", error),
    ]))
}

const KINDS: &[&str] = &[
    "response.created",
    "response.output_item.added",
    "response.output_item.added",
    "response.output_item.done",
    "response.output_text.delta",
    "response.output_text.delta",
    "response.output_text.delta",
    "response.output_text.delta",
    "response.refusal.delta",
    "response.reasoning_summary_part.added",
    "response.reasoning_summary_text.delta",
    "response.reasoning_text.delta",
    "response.function_call_arguments.delta",
    "response.completed",
    "response.incomplete",
    "response.failed",
    "error",
    "",
];

/// One event: its SSE name and its data.
fn sent() -> impl Strategy<Value = (String, String)> {
    let error = either(object(vec![("code", text()), ("message", text())]));
    let index = || either((0u32..2).prop_map(|i| i.to_string()).boxed());
    let rest = object(vec![
        ("delta", text()),
        ("output_index", index()),
        ("summary_index", count()),
        ("item", item()),
        ("response", response()),
        ("error", error),
        ("code", text()),
        ("message", text()),
        ("sequence_number", count()),
    ]);
    // The type, an index, a delta and an item in most events (the rest may repeat them).
    let data = leading(
        "type",
        name(KINDS),
        leading(
            "output_index",
            index(),
            leading("delta", text(), leading("item", item(), rest)),
        ),
    );
    let data = prop_oneof![10 => data, 1 => leaf(), 1 => Just("[DONE]".to_owned())];
    (
        proptest::sample::select(&["", "error", "response.output_text.delta"][..]),
        data,
    )
        .prop_map(|(event, data)| (event.to_owned(), data))
}

type Run = (Result<(), WireError>, Vec<StreamEvent>);

fn run(events: &[(String, String)], legacy: bool) -> Run {
    let mut handler = ResponsesEvents::default();
    let mut out = Vec::new();
    for (name, data) in events {
        if handler.closed() {
            break;
        }
        let sse = SseEvent {
            event: name.clone(),
            data: data.clone(),
            id: None,
        };
        let result = if legacy {
            handler.legacy_handle(&sse, &mut out)
        } else {
            handler.on_event(&sse, &mut out)
        };
        if let Err(error) = result {
            return (Err(error), out);
        }
    }
    let end = handler.on_end(&mut out);
    (end, out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn events_read_as_the_value_tree_read_them(events in vec(sent(), 1..10)) {
        prop_assert_eq!(run(&events, false), run(&events, true), "{:?}", events);
    }
}

#[test]
fn malformed_events_fail_as_before() {
    for data in [
        "{",
        "{\"type\":\"response.output_text.delta\",\"x\":1e999}",
        "{\"type\":\"response.output_text.delta\"} trailing",
        "\"just a string\"",
        "[1]",
    ] {
        for name in ["", "error"] {
            let events = [(name.to_owned(), data.to_owned())];
            assert_eq!(run(&events, false), run(&events, true), "{name} {data}");
        }
    }
}

#[test]
fn generated_events_reach_every_kind() {
    // The generator is only worth its cases if they parse and stream text.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut texts = 0;
    for _ in 0..500 {
        let events = vec(sent(), 1..10).new_tree(&mut runner).unwrap().current();
        texts += run(&events, false)
            .1
            .iter()
            .filter(|e| matches!(&e.event, Some(Event::Delta(d)) if !d.text.is_empty()))
            .count();
    }
    assert!(texts > 50, "{texts}");
}
