//! The typed readers and writer against the `Value`-tree ones they replaced (`legacy.rs`):
//! generated answers and chunks (fields of every type, missing, repeated, nested, numbers
//! out of range) must parse to the same canonical answer or events, or fail with the same
//! error; generated canonical responses must render to the same bytes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::collection::vec;
use proptest::prelude::*;

use super::legacy::{LegacyEvents, legacy_parse_response, legacy_render_response};
use super::stream::OpenAiEvents;
use super::{parse_response, render_response};
use crate::canonical::StreamEvent;
use crate::canonical::pb::{self, content_part::Part};
use crate::error::WireError;
use crate::sse::{SseEvent, SseEvents};

/// Values of every JSON type, including numbers no field can hold and one `Value` refuses
/// (rarely, or few documents would parse).
fn leaf() -> BoxedStrategy<String> {
    prop_oneof![
        20 => prop_oneof![
            Just("null"),
            Just("true"),
            Just("false"),
            Just("-1"),
            Just("0"),
            Just("2"),
            Just("1.5"),
            Just("-0"),
            Just("4294967296"),
            Just("9223372036854775808"),
            Just("18446744073709551615"),
            Just("18446744073709551616"),
            Just("[]"),
            Just("{}"),
            Just(r#"[1,"x",{"y":[null]}]"#),
            Just(r#"{"x":{"content":"no"}}"#),
        ],
        20 => string_leaf(),
        1 => Just("1e999"),
    ]
    .prop_map(str::to_owned)
    .boxed()
}

fn string_leaf() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("\"\""),
        Just("\"stop\""),
        Just("\"tool_calls\""),
        Just("\"assistant\""),
        Just("\"call_1\""),
        Just(r#""a\"b\u00e9\n\ud83d\ude00""#),
    ]
}

/// A string most of the time.
fn text() -> BoxedStrategy<String> {
    prop_oneof![3 => string_leaf().prop_map(str::to_owned), 1 => leaf()].boxed()
}

/// A small count most of the time.
fn count() -> BoxedStrategy<String> {
    prop_oneof![3 => (0u32..3).prop_map(|n| n.to_string()), 1 => leaf()].boxed()
}

/// The proper shape most of the time, any value otherwise.
fn either(proper: BoxedStrategy<String>) -> BoxedStrategy<String> {
    prop_oneof![3 => proper, 1 => leaf()].boxed()
}

fn array(item: BoxedStrategy<String>) -> BoxedStrategy<String> {
    vec(item, 0..3)
        .prop_map(|items| format!("[{}]", items.join(",")))
        .boxed()
}

/// An object of some of `fields` (repeats included), in any order.
fn object(fields: Vec<(&'static str, BoxedStrategy<String>)>) -> BoxedStrategy<String> {
    let count = fields.len();
    vec(0..count, 0..7)
        .prop_flat_map(move |picks| {
            let members: Vec<BoxedStrategy<String>> = picks
                .iter()
                .map(|&i| {
                    let (key, value) = fields[i].clone();
                    value.prop_map(move |v| format!("\"{key}\":{v}")).boxed()
                })
                .collect();
            members.prop_map(|m| format!("{{{}}}", m.join(",")))
        })
        .boxed()
}

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
    let with_choices = (choices, rest).prop_map(|(choices, rest)| match rest.as_str() {
        "{}" => format!("{{\"choices\":{choices}}}"),
        _ => format!("{{\"choices\":{choices},{}", &rest[1..]),
    });
    either(with_choices.boxed())
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

fn words() -> BoxedStrategy<String> {
    prop_oneof![
        Just(String::new()),
        Just("Hello!".to_owned()),
        Just("quote \" back \\ newline \n control \u{1} é 😀".to_owned()),
    ]
    .boxed()
}

fn part() -> impl Strategy<Value = pb::ContentPart> {
    let kind = prop_oneof![
        Just(None),
        words().prop_map(|t| Some(Part::Text(t))),
        (words(), words(), words()).prop_map(|(text, signature, redacted)| {
            Some(Part::Reasoning(pb::Reasoning {
                text,
                signature,
                redacted,
                ..Default::default()
            }))
        }),
        (words(), words(), words()).prop_map(|(id, name, arguments_json)| {
            Some(Part::ToolCall(pb::ToolCall {
                id,
                name,
                arguments_json,
            }))
        }),
        words().prop_map(|url| Some(Part::Image(pb::Image {
            source: Some(pb::image::Source::Url(url)),
            ..Default::default()
        }))),
        (words(), words()).prop_map(|(id, t)| Some(Part::ToolResult(pb::ToolResult {
            tool_call_id: id,
            content: vec![pb::ContentPart {
                part: Some(Part::Text(t)),
                ..Default::default()
            }],
            ..Default::default()
        }))),
    ];
    (kind, any::<bool>()).prop_map(|(part, refusal)| pb::ContentPart {
        part,
        refusal,
        ..Default::default()
    })
}

fn response() -> impl Strategy<Value = pb::ChatResponse> {
    let message = (prop_oneof![Just(3), -1..9i32], words(), vec(part(), 0..5)).prop_map(
        |(role, name, content)| pb::Message {
            role,
            content,
            name,
        },
    );
    let choice = (any::<u32>(), -1..8i32, proptest::option::of(message)).prop_map(
        |(index, finish_reason, message)| pb::Choice {
            index,
            message,
            finish_reason,
            ..Default::default()
        },
    );
    let usage = proptest::array::uniform7(0u64..1_000_000).prop_map(|n| pb::Usage {
        input_tokens: n[0],
        output_tokens: n[1],
        cache_read_tokens: n[2],
        cache_write_tokens: n[3] % 3,
        reasoning_tokens: n[4],
        total_tokens: n[5] % 2 * n[5],
        cache_write_1h_tokens: n[6],
    });
    (
        words(),
        words(),
        any::<i64>(),
        vec(choice, 0..3),
        proptest::option::of(usage),
    )
        .prop_map(|(id, model, created, choices, usage)| pb::ChatResponse {
            id,
            model,
            choices,
            usage,
            created,
            ..Default::default()
        })
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
