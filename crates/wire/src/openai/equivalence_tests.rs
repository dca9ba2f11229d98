//! The typed readers and writer against the `Value`-tree ones they replaced (`legacy.rs`):
//! generated answers and chunks (fields of every type, missing, repeated, nested, numbers
//! out of range) must parse to the same canonical answer or events, or fail with the same
//! error; generated canonical responses must render to the same bytes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;

use super::legacy::{LegacyEvents, legacy_parse_response, legacy_render_response};
use super::stream::OpenAiEvents;
use super::{parse_response, render_response};
use crate::canonical::StreamEvent;
use crate::error::WireError;
use crate::generated::{array, count, either, leading, leaf, object, response, text};
use crate::sse::{SseEvent, SseEvents};

fn usage() -> BoxedStrategy<String> {
    let details = || {
        either(object(vec![
            ("cached_tokens", count()),
            ("cache_write_tokens", count()),
            ("reasoning_tokens", count()),
            ("x", leaf()),
        ]))
    };
    either(object(vec![
        ("prompt_tokens", count()),
        ("completion_tokens", count()),
        ("total_tokens", count()),
        ("prompt_tokens_details", details()),
        ("completion_tokens_details", details()),
        ("prompt_cache_hit_tokens", count()),
        ("cached_tokens", count()),
        ("x", leaf()),
    ]))
}

fn tool_calls() -> BoxedStrategy<String> {
    let function = either(object(vec![
        ("name", text()),
        ("arguments", text()),
        ("x", leaf()),
    ]));
    either(array(either(object(vec![
        ("index", count()),
        ("id", text()),
        ("type", text()),
        ("function", function),
    ]))))
}

/// A message (`message` of an answer, `delta` of a chunk).
fn message() -> BoxedStrategy<String> {
    either(object(vec![
        ("role", text()),
        ("content", text()),
        ("refusal", text()),
        ("reasoning_content", text()),
        ("reasoning", text()),
        ("tool_calls", tool_calls()),
        ("name", text()),
    ]))
}

/// An answer or a chunk: both readers get both kinds of fields.
fn document() -> BoxedStrategy<String> {
    let choice = either(object(vec![
        ("index", count()),
        ("message", message()),
        ("delta", message()),
        ("finish_reason", text()),
        ("logprobs", leaf()),
    ]));
    let error = either(object(vec![
        ("code", count()),
        ("type", text()),
        ("message", text()),
    ]));
    let choices = either(array(choice));
    let rest = object(vec![
        ("id", text()),
        ("model", text()),
        ("created", count()),
        ("object", leaf()),
        ("choices", choices.clone()),
        ("usage", usage()),
        ("error", error),
    ]);
    // Mostly with choices up front (the others may repeat or replace them).
    either(leading("choices", choices, rest))
}

fn decode_new(data: &str) -> (Result<(), WireError>, Vec<StreamEvent>) {
    let mut events = OpenAiEvents::default();
    let mut out = Vec::new();
    let mut result = Ok(());
    for data in [data, "[DONE]"] {
        if result.is_ok() && !events.closed() {
            let sse = SseEvent {
                data: data.to_owned(),
                ..SseEvent::default()
            };
            result = events.on_event(&sse, &mut out);
        }
    }
    (result, out)
}

fn decode_legacy(data: &str) -> (Result<(), WireError>, Vec<StreamEvent>) {
    let mut events = LegacyEvents::default();
    let mut out = Vec::new();
    let mut result = Ok(());
    for data in [data, "[DONE]"] {
        if result.is_ok() && !events.closed() {
            let sse = SseEvent {
                data: data.to_owned(),
                ..SseEvent::default()
            };
            result = events.handle(&sse, &mut out);
        }
    }
    (result, out)
}

fn same_reading(document: &str) {
    assert_eq!(
        parse_response(200, document.as_bytes()),
        legacy_parse_response(200, document.as_bytes()),
        "answer {document}"
    );
    assert_eq!(
        decode_new(document),
        decode_legacy(document),
        "chunk {document}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn answers_and_chunks_read_as_the_value_tree_read_them(document in document()) {
        same_reading(&document);
    }
}

#[test]
fn malformed_documents_fail_as_before() {
    // Past `serde_json`'s recursion limit.
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    for document in [
        "",
        "{",
        "{\"choices\":[}",
        "{\"choices\":[]} x",
        "{\"id\":\"a\",\"id\":tru}",
        "{\"x\":1e999,\"choices\":[]}",
        "{\"x\":\"\\uZZZZ\",\"choices\":[]}",
        "{\"x\":\"\\ud800\",\"choices\":[]}",
        "{\"x\":\"tab\there\",\"choices\":[]}",
        deep.as_str(),
        "{\"choices\":[{\"index\":4294967296}]}",
        "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":4294967296}]}}]}",
        "{\"error\":null}",
        // Counts whose sum is past u64: saturated, not an overflow.
        "{\"usage\":{\"completion_tokens\":18446744073709551615,\"prompt_tokens\":2},\"choices\":[]}",
        "\"just a string\"",
    ] {
        same_reading(document);
    }
    // Bytes that are not UTF-8, in a field nobody reads: `Value` refused them.
    let body = b"{\"x\":\"\xff\",\"choices\":[]}";
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
