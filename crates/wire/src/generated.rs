//! Generated input for the tests that hold the typed readers and writers to the `Value`-tree
//! code they replaced: JSON documents of provider-like shapes with fields of every type
//! (missing, repeated, nested, numbers out of range), and canonical responses of every kind
//! of part.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::collection::vec;
use proptest::prelude::*;

use crate::canonical::pb::{self, content_part::Part};

/// Values of every JSON type, including numbers no field can hold and one `Value` refuses
/// (rarely, or few documents would parse).
pub(crate) fn leaf() -> BoxedStrategy<String> {
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

pub(crate) fn string_leaf() -> impl Strategy<Value = &'static str> {
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
pub(crate) fn text() -> BoxedStrategy<String> {
    prop_oneof![3 => string_leaf().prop_map(str::to_owned), 1 => leaf()].boxed()
}

/// A small count most of the time.
pub(crate) fn count() -> BoxedStrategy<String> {
    prop_oneof![3 => (0u32..3).prop_map(|n| n.to_string()), 1 => leaf()].boxed()
}

/// The proper shape most of the time, any value otherwise.
pub(crate) fn either(proper: BoxedStrategy<String>) -> BoxedStrategy<String> {
    prop_oneof![3 => proper, 1 => leaf()].boxed()
}

/// One of `literals`, as they are: values a field accepts, so that whole documents parse and
/// every field reaches the reader's output.
pub(crate) fn one_of(literals: &'static [&'static str]) -> BoxedStrategy<String> {
    proptest::sample::select(literals)
        .prop_map(str::to_owned)
        .boxed()
}

/// One of `names` as a JSON string, most of the time.
pub(crate) fn name(names: &'static [&'static str]) -> BoxedStrategy<String> {
    either(
        proptest::sample::select(names)
            .prop_map(|n| format!("\"{n}\""))
            .boxed(),
    )
}

pub(crate) fn array(item: BoxedStrategy<String>) -> BoxedStrategy<String> {
    vec(item, 0..3)
        .prop_map(|items| format!("[{}]", items.join(",")))
        .boxed()
}

/// An object of some of `fields` (repeats included), in any order.
pub(crate) fn object(fields: Vec<(&'static str, BoxedStrategy<String>)>) -> BoxedStrategy<String> {
    let count = fields.len();
    if count == 0 {
        return Just("{}".to_owned()).boxed();
    }
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

/// `rest` (an object) with `key` first: the field a reader cannot do without, which the
/// rest may still repeat or replace.
pub(crate) fn leading(
    key: &'static str,
    value: BoxedStrategy<String>,
    rest: BoxedStrategy<String>,
) -> BoxedStrategy<String> {
    (value, rest)
        .prop_map(move |(value, rest)| match rest.as_str() {
            "{}" => format!("{{\"{key}\":{value}}}"),
            _ => format!("{{\"{key}\":{value},{}", &rest[1..]),
        })
        .boxed()
}

/// Text of the kinds that matter to writers: empty, plain, escaped, prefixed ids, JSON
/// arguments (unsorted, floats) and not-JSON.
pub(crate) fn words() -> BoxedStrategy<String> {
    prop_oneof![
        Just(String::new()),
        Just("Hello!".to_owned()),
        Just("quote \" back \\ newline \n control \u{1} é 😀".to_owned()),
        Just("msg_1".to_owned()),
        Just(r#"{"b":1.0,"a":[2,{"d":null,"c":"x"}]}"#.to_owned()),
        Just("{not json".to_owned()),
    ]
    .boxed()
}

pub(crate) fn part() -> impl Strategy<Value = pb::ContentPart> {
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
    (kind, any::<bool>(), words()).prop_map(|(part, refusal, thought_signature)| pb::ContentPart {
        part,
        refusal,
        thought_signature,
        ..Default::default()
    })
}

pub(crate) fn response() -> impl Strategy<Value = pb::ChatResponse> {
    let message = (prop_oneof![Just(3), -1..9i32], words(), vec(part(), 0..5)).prop_map(
        |(role, name, content)| pb::Message {
            role,
            content,
            name,
        },
    );
    let choice = (
        any::<u32>(),
        -1..8i32,
        proptest::option::of(message),
        words(),
    )
        .prop_map(
            |(index, finish_reason, message, stop_sequence)| pb::Choice {
                index,
                message,
                finish_reason,
                stop_sequence,
                ..Default::default()
            },
        );
    let usage = proptest::array::uniform7(0u64..1_000_000).prop_map(|n| pb::Usage {
        input_tokens: n[0],
        output_tokens: n[1],
        cache_read_tokens: n[2],
        cache_write_tokens: n[3] % 3,
        reasoning_tokens: n[4] % 2 * n[4],
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

/// Canonical requests for the egress writers: every role (and unknown ones), parts of every
/// kind with cache hints, tools whose parameters are compact, spaced or not JSON, provider
/// options that try to replace what the request set.
/// Parts [`part`] does not make: images as bytes with detail, tool results
/// holding several parts (an image among them).
fn rich_part() -> impl Strategy<Value = pb::ContentPart> {
    let image =
        (vec(any::<u8>(), 0..6), words(), words()).prop_map(|(data, media_type, detail)| {
            pb::ContentPart {
                part: Some(Part::Image(pb::Image {
                    source: Some(pb::image::Source::Data(data)),
                    media_type,
                    detail,
                })),
                ..Default::default()
            }
        });
    let result = (words(), vec(prop_oneof![part(), image.clone()], 0..3)).prop_map(
        |(tool_call_id, content)| pb::ContentPart {
            part: Some(Part::ToolResult(pb::ToolResult {
                tool_call_id,
                content,
                ..Default::default()
            })),
            ..Default::default()
        },
    );
    let cache =
        proptest::option::weighted(0.2, prop_oneof![Just(String::new()), Just("1h".to_owned())]);
    (
        prop_oneof![4 => part(), 1 => image, 1 => result],
        cache,
        any::<bool>(),
    )
        .prop_map(|(mut part, ttl, is_error)| {
            part.cache = ttl.map(|ttl| pb::CacheHint { ttl });
            if let Some(Part::ToolResult(result)) = &mut part.part {
                result.is_error = is_error;
            }
            part
        })
}

fn chat_message() -> impl Strategy<Value = pb::Message> {
    (
        prop_oneof![3 => 0..6i32, 1 => -1..9i32],
        prop_oneof![3 => Just(String::new()), 1 => words()],
        vec(rich_part(), 0..4),
    )
        .prop_map(|(role, name, content)| pb::Message {
            role,
            content,
            name,
        })
}

fn tool() -> impl Strategy<Value = pb::Tool> {
    let parameters = prop_oneof![
        Just(String::new()),
        Just(r#"{"properties":{"a":{"type":"string"}},"type":"object"}"#.to_owned()),
        Just(" {\"type\": \"object\",\n \"required\": [\"b\"], \"a\": 1.0}\n".to_owned()),
        Just("\t{\"a\":1}\r\n".to_owned()),
        Just("{\"type\":".to_owned()),
        Just("1e999".to_owned()),
        Just("[1,2] x".to_owned()),
        Just("\"s\"".to_owned()),
        words(),
    ];
    let cache = proptest::option::weighted(0.2, Just(pb::CacheHint::default()));
    (words(), words(), parameters, any::<bool>(), cache).prop_map(
        |(name, description, parameters_json, strict, cache)| pb::Tool {
            name,
            description,
            parameters_json,
            strict,
            cache,
            ..Default::default()
        },
    )
}

pub(crate) fn chat_request() -> impl Strategy<Value = pb::ChatRequest> {
    let options = prop_oneof![
        3 => Just(String::new()),
        1 => Just(r#"{"messages":[],"tools":[1],"top_k":3,"a":{"b":1},"zz":null}"#.to_owned()),
        1 => Just(r#"{"temperature":9,"model":"m"}"#.to_owned()),
        1 => Just("[1]".to_owned()),
    ];
    let sampling = (
        proptest::option::of(0.0..2.0f64),
        vec(words(), 0..3),
        proptest::option::of(any::<i64>()),
    )
        .prop_map(|(temperature, stop, seed)| pb::Sampling {
            temperature,
            stop,
            seed,
            max_tokens: Some(100),
            ..Default::default()
        });
    (
        vec(chat_message(), 1..6),
        vec(tool(), 0..3),
        options,
        proptest::option::of(sampling),
        words(),
        prop_oneof![Just(String::new()), Just("high".to_owned())],
    )
        .prop_map(
            |(messages, tools, provider_options_json, sampling, end_user, effort)| {
                pb::ChatRequest {
                    messages,
                    tools,
                    provider_options_json,
                    sampling,
                    end_user,
                    reasoning: Some(pb::ReasoningConfig {
                        enabled: !effort.is_empty(),
                        effort,
                        ..Default::default()
                    }),
                    ..Default::default()
                }
            },
        )
}
