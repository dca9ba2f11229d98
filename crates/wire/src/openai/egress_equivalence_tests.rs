//! The Chat Completions egress written straight into bytes (`egress_body`) against the
//! tree-building one it replaced (`legacy_egress.rs`): for generated canonical requests, every
//! host's quirks and both endpoints, the same path, headers and bytes, or the same error. A
//! tool's parameters that came non-compact are copied as they came, so there the JSON must be
//! the same rather than the bytes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use serde_json::Value;

use super::legacy_egress::legacy_build_request;
use super::{Endpoint, Quirks, build_request};
use crate::canonical::pb::{self, content_part::Part};
use crate::egress_check::{Copied, assert_same, compact};
use crate::generated::chat_request as request;

const QUIRKS: [Quirks; 6] = [
    Quirks::OPENAI,
    Quirks::COMPATIBLE,
    Quirks::MISTRAL,
    Quirks::REASONING_HISTORY,
    Quirks::PERPLEXITY,
    Quirks::ZAI,
];

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
                assert_same(
                    old,
                    new,
                    compact(request, Copied::default()),
                    &format!("{quirks:?} {endpoint:?} {model}"),
                );
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
