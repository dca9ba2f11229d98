//! The typed readers against the `Value`-tree ones they replaced (`legacy.rs`): generated
//! responses and chunk sequences (fields of every type, missing, repeated, nested, numbers
//! out of range, function calls whole and streamed) must parse to the same canonical answer
//! or events, or fail with the same error.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::collection::vec;
use proptest::prelude::*;

use super::super::parse_response;
use super::GeminiEvents;
use super::legacy::{LegacyEvents, legacy_parse_response};
use crate::canonical::StreamEvent;
use crate::error::WireError;
use crate::generated::{array, count, either, leading, leaf, name, object, text};
use crate::sse::{SseEvent, SseEvents};

fn flag() -> BoxedStrategy<String> {
    either(prop_oneof![Just("true".to_owned()), Just("false".to_owned())].boxed())
}

fn usage() -> BoxedStrategy<String> {
    either(object(vec![
        ("promptTokenCount", count()),
        ("toolUsePromptTokenCount", count()),
        ("thoughtsTokenCount", count()),
        ("candidatesTokenCount", count()),
        ("cachedContentTokenCount", count()),
        ("totalTokenCount", count()),
        ("promptTokensDetails", leaf()),
    ]))
}

fn function_call() -> BoxedStrategy<String> {
    let partial = either(object(vec![
        (
            "jsonPath",
            name(&["$.a", "$.b[0]", "$['c d']", "$.a.b", "oops"]),
        ),
        ("stringValue", text()),
        ("numberValue", leaf()),
        ("boolValue", flag()),
        ("nullValue", leaf()),
        ("willContinue", flag()),
    ]));
    either(object(vec![
        ("name", name(&["get_weather", ""])),
        ("id", text()),
        ("args", leaf()),
        ("willContinue", flag()),
        ("partialArgs", either(array(partial))),
    ]))
}

fn part() -> BoxedStrategy<String> {
    either(object(vec![
        ("text", text()),
        ("thought", flag()),
        ("thoughtSignature", text()),
        ("functionCall", function_call()),
    ]))
}

fn chunk() -> BoxedStrategy<String> {
    let parts = either(array(part()));
    let content = either(leading(
        "parts",
        parts.clone(),
        object(vec![("parts", parts), ("role", text())]),
    ));
    let candidate = either(leading(
        "content",
        content.clone(),
        object(vec![
            ("index", count()),
            ("content", content),
            ("finishReason", name(&["STOP", "MAX_TOKENS", "SAFETY"])),
        ]),
    ));
    let error = either(object(vec![
        ("status", name(&["UNAVAILABLE", "RESOURCE_EXHAUSTED"])),
        ("code", count()),
        ("message", text()),
    ]));
    let candidates = either(array(candidate));
    let rest = object(vec![
        ("candidates", candidates.clone()),
        ("usageMetadata", usage()),
        ("responseId", text()),
        ("modelVersion", text()),
        (
            "promptFeedback",
            either(object(vec![("blockReason", text())])),
        ),
        ("error", error),
    ]);
    leading("candidates", candidates, rest)
}

fn decode_new(chunks: &[String]) -> (Result<(), WireError>, Vec<StreamEvent>) {
    let mut handler = GeminiEvents::default();
    let mut out = Vec::new();
    for data in chunks {
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
    let end = handler.on_end(&mut out);
    (end, out)
}

fn decode_legacy(chunks: &[String]) -> (Result<(), WireError>, Vec<StreamEvent>) {
    let mut handler = LegacyEvents::default();
    let mut out = Vec::new();
    for data in chunks {
        if handler.closed() {
            break;
        }
        let sse = SseEvent {
            data: data.clone(),
            ..SseEvent::default()
        };
        if let Err(error) = handler.handle(&sse, &mut out) {
            return (Err(error), out);
        }
    }
    let end = handler.on_end(&mut out);
    (end, out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn responses_read_as_the_value_tree_read_them(answer in chunk()) {
        prop_assert_eq!(
            parse_response(200, answer.as_bytes()),
            legacy_parse_response(200, answer.as_bytes()),
            "{}", answer
        );
    }

    #[test]
    fn chunks_read_as_the_value_tree_read_them(chunks in vec(chunk(), 1..6)) {
        prop_assert_eq!(decode_new(&chunks), decode_legacy(&chunks), "{:?}", chunks);
    }
}

#[test]
fn malformed_documents_fail_as_before() {
    for document in [
        "",
        "{\"candidates\":[",
        "{\"candidates\":[],\"x\":1e999}",
        "{\"candidates\":[]} trailing",
        "{\"candidates\":[{\"index\":4294967296}]}",
        "{\"usageMetadata\":{\"promptTokenCount\":18446744073709551615,\"candidatesTokenCount\":9}}",
        "{\"usageMetadata\":null}",
        "{\"error\":null}",
    ] {
        assert_eq!(
            parse_response(200, document.as_bytes()),
            legacy_parse_response(200, document.as_bytes()),
            "{document}"
        );
        let chunks = [document.to_owned()];
        assert_eq!(decode_new(&chunks), decode_legacy(&chunks), "{document}");
    }
    let body = b"{\"candidates\":[],\"x\":\"\xff\"}";
    assert_eq!(parse_response(200, body), legacy_parse_response(200, body));
    assert!(parse_response(200, body).is_err());
}
