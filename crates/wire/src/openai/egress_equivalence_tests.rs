//! The Chat Completions egress written straight into bytes (`egress_body`) against the
//! tree-building one it replaced (`legacy_egress.rs`): for generated canonical requests, every
//! host's quirks and both endpoints, the same path, headers and bytes, or the same error. A
//! tool's parameters that came non-compact are copied as they came, so there the JSON must be
//! the same rather than the bytes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::Value;

use super::legacy_egress::legacy_build_request;
use super::{Endpoint, Quirks, build_request};
use crate::canonical::pb::{self, content_part::Part};
use crate::generated::{part, words};

const QUIRKS: [Quirks; 6] = [
    Quirks::OPENAI,
    Quirks::COMPATIBLE,
    Quirks::MISTRAL,
    Quirks::REASONING_HISTORY,
    Quirks::PERPLEXITY,
    Quirks::ZAI,
];

/// Parts the shared generator does not make: images as bytes with detail, tool results
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
    prop_oneof![4 => part(), 1 => image, 1 => result]
}

fn message() -> impl Strategy<Value = pb::Message> {
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
    (words(), words(), parameters, any::<bool>()).prop_map(
        |(name, description, parameters_json, strict)| pb::Tool {
            name,
            description,
            parameters_json,
            strict,
            ..Default::default()
        },
    )
}

fn request() -> impl Strategy<Value = pb::ChatRequest> {
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
        vec(message(), 1..6),
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

/// Whether every tool's parameters are as a `Value` would write them (or not JSON at all).
fn compact(request: &pb::ChatRequest) -> bool {
    request.tools.iter().all(
        |tool| match serde_json::from_str::<Value>(&tool.parameters_json) {
            Ok(value) => serde_json::to_string(&value).unwrap() == tool.parameters_json,
            Err(_) => true,
        },
    )
}

fn same_request(request: &pb::ChatRequest) {
    let endpoints = [
        Endpoint::ChatCompletions,
        Endpoint::Azure {
            deployment: "d",
            api_version: "",
        },
    ];
    for quirks in QUIRKS {
        for endpoint in endpoints {
            for (model, stream) in [("gpt-4o", true), ("o3", false), ("deepseek-reasoner", true)] {
                let old = legacy_build_request(request, model, stream, endpoint, quirks);
                let new = build_request(request, model, stream, endpoint, quirks);
                let (old, new) = match (old, new) {
                    (Ok(old), Ok(new)) => (old, new),
                    (Err(old), Err(new)) => {
                        assert_eq!(old.to_string(), new.to_string());
                        continue;
                    }
                    (old, new) => panic!("{quirks:?}: {old:?} against {new:?}"),
                };
                assert_eq!(
                    (old.method, &old.path, &old.headers),
                    (new.method, &new.path, &new.headers)
                );
                let text = |body: &[u8]| String::from_utf8(body.to_vec()).unwrap();
                if compact(request) {
                    assert_eq!(text(&old.body), text(&new.body), "{quirks:?} {model}");
                } else {
                    let json = |body: &[u8]| serde_json::from_slice::<Value>(body).unwrap();
                    assert_eq!(json(&old.body), json(&new.body), "{quirks:?} {model}");
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn requests_write_as_the_trees_wrote_them(request in request()) {
        same_request(&request);
    }
}

#[test]
fn parameters_are_copied_as_they_came_or_written_as_null() {
    let with = |parameters_json: &str| pb::ChatRequest {
        messages: vec![pb::Message {
            role: pb::Role::User as i32,
            content: vec![pb::ContentPart {
                part: Some(Part::Text("hi".into())),
                ..Default::default()
            }],
            ..Default::default()
        }],
        tools: vec![pb::Tool {
            name: "f".into(),
            parameters_json: parameters_json.into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let body = |parameters: &str| {
        let request = build_request(
            &with(parameters),
            "gpt-4o",
            false,
            Endpoint::ChatCompletions,
            Quirks::OPENAI,
        )
        .unwrap();
        let json: Value = serde_json::from_slice(&request.body).unwrap();
        json["tools"][0]["function"]["parameters"].to_string()
    };
    assert_eq!(
        body(" {\"b\": [1, 2],\n\"a\": 1.0} "),
        r#"{"a":1.0,"b":[1,2]}"#
    );
    let raw = build_request(
        &with("\t{\"a\": 1}\r\n"),
        "gpt-4o",
        false,
        Endpoint::ChatCompletions,
        Quirks::OPENAI,
    )
    .unwrap();
    let raw = String::from_utf8(raw.body).unwrap();
    assert!(
        raw.contains(r#""parameters":{"a": 1}}"#),
        "copied, trimmed: {raw}"
    );
    for refused in ["{", "1e999", "{} {}", "\"\\ud800\"x"] {
        assert_eq!(body(refused), "null", "{refused}");
    }
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    assert_eq!(body(&deep), "null", "a Value refuses nesting past 128");
    for request in [with(" {\"b\": 1} "), with("{"), with(&deep)] {
        same_request(&request);
    }
}
