//! The `generateContent` egress written straight into bytes (`egress_body`) against the
//! tree-building one it replaced (`legacy_egress.rs`): for generated canonical requests, both
//! flavours and models that do and do not sign their thoughts, the same path, headers and
//! bytes, or the same error. Call arguments, JSON tool results and schemas that came
//! non-compact are copied as they came, so there the JSON must be the same rather than the
//! bytes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;

use super::legacy_egress::legacy_build_request;
use super::{Flavor, build_request};
use crate::canonical::pb::{self, content_part::Part};
use crate::egress_check::{Copied, assert_same, compact};
use crate::generated::chat_request;

fn request() -> impl Strategy<Value = pb::ChatRequest> {
    let choice = proptest::option::of((0..5i32, Just("f".to_owned())));
    // Tool results whose text is a JSON object, other JSON, or spaced JSON.
    let outputs = prop_oneof![
        Just(None),
        Just(Some(r#"{"b":1,"a":"x"}"#)),
        Just(Some(" {\"a\": [1, 2]} ")),
        Just(Some("[1,2]")),
        Just(Some("12")),
        Just(Some("   ")),
    ];
    (
        chat_request(),
        choice,
        outputs,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(mut request, choice, output, signed, named)| {
            request.tool_choice = choice.map(|(mode, name)| pb::ToolChoice { mode, name });
            for message in &mut request.messages {
                for part in &mut message.content {
                    if !signed {
                        part.thought_signature.clear();
                    }
                    // Remote images: the media type is guessed from the extension.
                    if let Some(Part::Image(image)) = &mut part.part
                        && named
                        && matches!(image.source, Some(pb::image::Source::Url(_)))
                    {
                        image.source = Some(pb::image::Source::Url("https://x/y.PNG".into()));
                    }
                    if let Some(Part::ToolResult(result)) = &mut part.part {
                        if named {
                            result.name = "named".into();
                        }
                        if let Some(output) = output {
                            result.content.push(pb::ContentPart {
                                part: Some(Part::Text(output.into())),
                                ..Default::default()
                            });
                        }
                    }
                }
            }
            request
        })
}

fn same_request(request: &pb::ChatRequest) {
    let flavors = [
        Flavor::AiStudio,
        Flavor::Vertex {
            project: "p",
            location: "l",
        },
    ];
    for flavor in flavors {
        for model in [
            "gemini-2.5-flash",
            "gemini-3-pro-preview",
            "gemini-2.0-flash",
        ] {
            for stream in [true, false] {
                let old = legacy_build_request(request, model, stream, flavor);
                let new = build_request(request, model, stream, flavor);
                assert_same(
                    old,
                    new,
                    compact(
                        request,
                        Copied {
                            arguments: true,
                            results: true,
                        },
                    ),
                    &format!("{flavor:?} {model} {stream}"),
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
