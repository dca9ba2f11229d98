//! The Converse egress written straight into bytes (`egress_body`) against the tree-building
//! one it replaced (`legacy_egress.rs`): for generated canonical requests and each model
//! family, the same path, headers and bytes, or the same error. Tool inputs and schemas that
//! came non-compact are copied as they came, so there the JSON must be the same rather than
//! the bytes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;

use super::build_request;
use super::legacy_egress::legacy_build_request;
use crate::canonical::pb::{self, content_part::Part};
use crate::egress_check::{Copied, assert_same, compact};
use crate::generated::chat_request;

fn request() -> impl Strategy<Value = pb::ChatRequest> {
    let choice = proptest::option::of((
        0..5i32,
        prop_oneof![Just(String::new()), Just("f \"x\"".to_owned())],
    ));
    let images = prop_oneof![
        Just(None),
        Just(Some("data:image/png;base64,aGk=")),
        Just(Some("data:image/png;base64,!!")),
        Just(Some("data:text/plain;base64,aGk=")),
        Just(Some("data:image/svg+xml;base64,aGk=")),
        Just(Some("https://x/y.png")),
    ];
    (chat_request(), choice, images, 0..3u32).prop_map(
        |(mut request, choice, image, choice_count)| {
            request.tool_choice = choice.map(|(mode, name)| pb::ToolChoice { mode, name });
            request.choice_count = choice_count;
            // Images must be inline and of a known type: most generated ones are not.
            for message in &mut request.messages {
                for part in &mut message.content {
                    if let Some(Part::Image(picture)) = &mut part.part {
                        match image {
                            Some(url) => {
                                picture.source = Some(pb::image::Source::Url(url.to_owned()))
                            }
                            None => {
                                picture.media_type = "image/jpeg".into();
                                picture.source = Some(pb::image::Source::Data(vec![1, 2, 3]));
                            }
                        }
                    }
                }
            }
            request
        },
    )
}

fn same_request(request: &pb::ChatRequest) {
    for model in [
        "anthropic.claude-sonnet-4-5-v1:0",
        "amazon.nova-pro-v1:0",
        "meta.llama3-70b",
    ] {
        for stream in [true, false] {
            let old = legacy_build_request(request, model, stream);
            let new = build_request(request, model, stream);
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
                &format!("{model} {stream}"),
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
