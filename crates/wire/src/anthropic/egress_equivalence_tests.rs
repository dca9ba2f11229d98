//! The Messages egress written straight into bytes (`egress_body`) against the tree-building
//! one it replaced (`legacy_egress.rs`): for generated canonical requests, each flavour, with
//! and without the mid-conversation-system beta and Anthropic options, the same path, headers
//! and bytes, or the same error. Tool inputs and schemas that came non-compact are copied as
//! they came, so there the JSON must be the same rather than the bytes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;

use super::legacy_egress::legacy_build_request;
use super::{Flavor, MID_CONVERSATION_SYSTEM_BETA, build_request};
use crate::canonical::pb::{self, content_part::Part};
use crate::egress_check::{Copied, assert_same, compact};
use crate::generated::chat_request;
use crate::responses::THOUGHT_SIGNATURE_PREFIX;

fn request() -> impl Strategy<Value = pb::ChatRequest> {
    let options = prop_oneof![
        3 => Just(String::new()),
        1 => Just(r#"{"tools":[{"type":"web_search_20250305","name":"web_search"}],"messages":1,"system":"s","container":"c"}"#.to_owned()),
        1 => Just(r#"{"tools":[],"top_k":3}"#.to_owned()),
        1 => Just(r#"{"tools":{"not":"a list"},"system":[{"type":"text","text":"from options"}]}"#.to_owned()),
        1 => Just("[1]".to_owned()),
    ];
    let beta = prop_oneof![
        Just(Vec::new()),
        Just(vec![MID_CONVERSATION_SYSTEM_BETA.to_owned()]),
        Just(vec![
            "other-beta".to_owned(),
            MID_CONVERSATION_SYSTEM_BETA.to_owned()
        ]),
    ];
    (chat_request(), options, beta, 0..3u32, any::<bool>()).prop_map(
        |(mut request, anthropic_options_json, anthropic_beta, choice_count, carrier)| {
            request.anthropic_options_json = anthropic_options_json;
            request.anthropic_beta = anthropic_beta;
            request.choice_count = choice_count % 2 + u32::from(choice_count == 2);
            if carrier {
                // Some reasoning carries a Gemini thought signature, which is not sent back.
                for message in &mut request.messages {
                    for part in &mut message.content {
                        if let Some(Part::Reasoning(reasoning)) = &mut part.part {
                            reasoning.signature = format!("{THOUGHT_SIGNATURE_PREFIX}x");
                        }
                    }
                }
            }
            request
        },
    )
}

fn same_request(request: &pb::ChatRequest) {
    let flavors = [
        Flavor::Direct,
        Flavor::Bedrock,
        Flavor::Vertex {
            project: "p",
            region: "r",
        },
    ];
    for flavor in flavors {
        for stream in [true, false] {
            let old = legacy_build_request(request, "claude-sonnet-4-5", stream, flavor);
            let new = build_request(request, "claude-sonnet-4-5", stream, flavor);
            assert_same(
                old,
                new,
                compact(
                    request,
                    Copied {
                        arguments: true,
                        results: false,
                    },
                ),
                &format!("{flavor:?} {stream}"),
            );
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

fn text(role: pb::Role, text: &str) -> pb::Message {
    pb::Message {
        role: role as i32,
        content: vec![pb::ContentPart {
            part: Some(Part::Text(text.into())),
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[test]
fn turns_merge_and_system_prompts_go_where_they_went() {
    let call = |arguments: &str| pb::ContentPart {
        part: Some(Part::ToolCall(pb::ToolCall {
            id: "c1".into(),
            name: "f".into(),
            arguments_json: arguments.into(),
        })),
        ..Default::default()
    };
    let mut assistant = text(pb::Role::Assistant, "");
    assistant.content.push(call(" {\"b\": 1, \"a\": [2]} "));
    let mut request = pb::ChatRequest {
        messages: vec![
            text(pb::Role::System, "be brief"),
            text(pb::Role::User, "a"),
            text(pb::Role::Assistant, ""),
            text(pb::Role::User, "b"),
            text(pb::Role::Developer, "mid"),
            assistant,
            text(pb::Role::Assistant, "c"),
            text(pb::Role::System, "late"),
        ],
        ..Default::default()
    };
    let body = |request: &pb::ChatRequest| {
        let http = build_request(request, "m", false, Flavor::Direct).unwrap();
        String::from_utf8(http.body).unwrap()
    };
    assert_eq!(
        body(&request),
        concat!(
            r#"{"max_tokens":4096,"messages":[{"content":[{"text":"a","type":"text"},{"text":"b","type":"text"}],"role":"user"},"#,
            r#"{"content":[{"id":"c1","input":{"b": 1, "a": [2]},"name":"f","type":"tool_use"},{"text":"c","type":"text"}],"role":"assistant"}],"#,
            r#""model":"m","system":[{"text":"be brief","type":"text"},{"text":"mid","type":"text"},{"text":"late","type":"text"}]}"#
        )
    );
    same_request(&request);
    request.anthropic_beta = vec![MID_CONVERSATION_SYSTEM_BETA.into()];
    assert!(body(&request).contains(
        r#"{"content":[{"text":"mid","type":"text"}],"role":"system"},{"content":[{"id":"c1""#
    ));
    same_request(&request);
    request.messages[5].content[1] = call("{not json");
    let error = build_request(&request, "m", false, Flavor::Direct).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("tool call c1 has arguments that are not JSON")
    );
    same_request(&request);

    // A lone system block that is not text: an image without a source was written as empty
    // text, so its `text` is the prompt; any other gives `null`.
    for (source, system) in [
        (None, r#""system":"""#),
        (
            Some(pb::image::Source::Url("https://x/y.png".into())),
            r#""system":null"#,
        ),
    ] {
        let image = pb::ContentPart {
            part: Some(Part::Image(pb::Image {
                source,
                ..Default::default()
            })),
            ..Default::default()
        };
        let request = pb::ChatRequest {
            messages: vec![
                pb::Message {
                    role: pb::Role::System as i32,
                    content: vec![image],
                    ..Default::default()
                },
                text(pb::Role::User, "a"),
            ],
            ..Default::default()
        };
        assert!(body(&request).contains(system), "{}", body(&request));
        same_request(&request);
    }
}
