//! The typed readers and writer against the `Value`-tree ones they replaced (`legacy.rs`):
//! generated answers and event sequences (fields of every type, missing, repeated, nested,
//! numbers out of range, usage repeated across events) must parse to the same canonical
//! answer or events, or fail with the same error; generated canonical responses must render
//! to the same bytes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::Value;

use super::legacy::{LegacyEvents, legacy_parse_response, legacy_render_response};
use super::stream::AnthropicEvents;
use super::{PROVIDER, parse_response, render_response};
use crate::canonical::StreamEvent;
use crate::error::WireError;
use crate::generated::{array, count, either, leading, leaf, name, object, response, text};
use crate::sse::{SseEvent, SseEvents};

fn usage() -> BoxedStrategy<String> {
    either(object(vec![
        ("input_tokens", count()),
        ("output_tokens", count()),
        ("cache_read_input_tokens", count()),
        ("cache_creation_input_tokens", count()),
        (
            "cache_creation",
            either(object(vec![
                ("ephemeral_5m_input_tokens", count()),
                ("ephemeral_1h_input_tokens", count()),
            ])),
        ),
        (
            "output_tokens_details",
            either(object(vec![("thinking_tokens", count())])),
        ),
        ("service_tier", text()),
    ]))
}

fn block() -> BoxedStrategy<String> {
    let input = prop_oneof![
        Just(r#"{"b":1.0,"a":[2,{"d":null,"c":"x"}],"b":2}"#.to_owned()),
        Just(r#"{"city": "Paris"}"#.to_owned()),
        leaf(),
    ];
    let kinds = &["text", "tool_use", "thinking", "redacted_thinking", "image"];
    let rest = object(vec![
        ("type", name(kinds)),
        ("text", text()),
        ("id", text()),
        ("name", text()),
        ("input", input.boxed()),
        ("thinking", text()),
        ("signature", text()),
        ("data", text()),
    ]);
    either(leading("type", name(kinds), rest))
}

fn answer() -> BoxedStrategy<String> {
    let rest = object(vec![
        ("id", text()),
        ("model", text()),
        ("type", text()),
        ("content", either(array(block()))),
        (
            "stop_reason",
            name(&["end_turn", "tool_use", "refusal", "max_tokens"]),
        ),
        ("stop_sequence", text()),
        ("usage", usage()),
    ]);
    either(leading("content", either(array(block())), rest))
}

fn event() -> BoxedStrategy<String> {
    let delta = either(object(vec![
        (
            "type",
            name(&[
                "text_delta",
                "thinking_delta",
                "signature_delta",
                "input_json_delta",
            ]),
        ),
        ("text", text()),
        ("thinking", text()),
        ("signature", text()),
        ("partial_json", text()),
        (
            "stop_reason",
            name(&["end_turn", "tool_use", "stop_sequence"]),
        ),
        ("stop_sequence", text()),
    ]));
    let message = either(object(vec![
        ("id", text()),
        ("model", text()),
        ("usage", usage()),
    ]));
    let error = either(object(vec![
        ("type", name(&["overloaded_error", "api_error"])),
        ("message", text()),
    ]));
    let kinds = &[
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "message_delta",
        "message_stop",
        "error",
        "ping",
    ];
    let rest = object(vec![
        ("type", name(kinds)),
        ("message", message),
        ("index", count()),
        ("content_block", block()),
        ("delta", delta),
        ("usage", usage()),
        ("error", error),
    ]);
    leading("type", name(kinds), rest)
}

fn not_json(sse: &SseEvent, error: serde_json::Error) -> WireError {
    WireError::malformed(
        PROVIDER,
        format!("event {:?} is not JSON: {error}", sse.event),
    )
}

fn decode_new(events: &[String]) -> (Result<(), WireError>, Vec<StreamEvent>) {
    let mut handler = AnthropicEvents::default();
    let mut out = Vec::new();
    for data in events {
        if handler.closed() {
            break;
        }
        let sse = SseEvent {
            data: data.clone(),
            ..SseEvent::default()
        };
        if let Err(error) = handler.on_event(&sse, &mut out) {
            return (Err(error), out);
        }
    }
    (Ok(()), out)
}

fn decode_legacy(events: &[String]) -> (Result<(), WireError>, Vec<StreamEvent>) {
    let mut handler = LegacyEvents::default();
    let mut out = Vec::new();
    for data in events {
        if handler.closed() {
            break;
        }
        let sse = SseEvent {
            data: data.clone(),
            ..SseEvent::default()
        };
        let result = serde_json::from_str::<Value>(data)
            .map_err(|error| not_json(&sse, error))
            .and_then(|value| handler.handle(&value, &mut out));
        if let Err(error) = result {
            return (Err(error), out);
        }
    }
    (Ok(()), out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn answers_read_as_the_value_tree_read_them(answer in answer()) {
        prop_assert_eq!(
            parse_response(200, answer.as_bytes()),
            legacy_parse_response(200, answer.as_bytes()),
            "{}", answer
        );
    }

    #[test]
    fn events_read_as_the_value_tree_read_them(events in vec(event(), 1..8)) {
        prop_assert_eq!(decode_new(&events), decode_legacy(&events), "{:?}", events);
    }
}

#[test]
fn malformed_documents_fail_as_before() {
    for document in [
        "",
        "{\"content\":[",
        "{\"content\":[],\"x\":1e999}",
        "{\"content\":[{\"type\":\"tool_use\",\"input\":1e999}]}",
        "{\"content\":[]} trailing",
        "{\"content\":[],\"usage\":{\"input_tokens\":18446744073709551615,\"cache_read_input_tokens\":9}}",
    ] {
        assert_eq!(
            parse_response(200, document.as_bytes()),
            legacy_parse_response(200, document.as_bytes()),
            "{document}"
        );
        let events = [document.to_owned()];
        assert_eq!(decode_new(&events), decode_legacy(&events), "{document}");
    }
    let body = b"{\"content\":[],\"x\":\"\xff\"}";
    assert_eq!(parse_response(200, body), legacy_parse_response(200, body));
    assert!(parse_response(200, body).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn responses_render_to_the_bytes_the_value_tree_wrote(response in response()) {
        prop_assert_eq!(
            String::from_utf8(render_response(&response)).unwrap(),
            String::from_utf8(legacy_render_response(&response)).unwrap()
        );
    }
}
