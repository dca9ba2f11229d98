//! The Responses `input` and `tools` written straight into bytes (`egress_body`) against the
//! tree-building writers they replaced (`legacy_egress.rs`): for generated canonical requests
//! (reasoning with and without item ids and encrypted content, refusals, namespaced tools and
//! calls, hosted tools and namespace shells, stored or not), the same path, headers and bytes,
//! or the same error. Parameters that came non-compact are copied as they came, so there the
//! JSON must be the same rather than the bytes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;

use super::legacy_egress::legacy_build_request;
use super::{Endpoint, build_request};
use crate::canonical::pb::{self, content_part::Part};
use crate::egress_check::{Copied, assert_same, compact};
use crate::generated::chat_request;
use crate::responses::namespaced;

fn request() -> impl Strategy<Value = pb::ChatRequest> {
    let store = prop_oneof![Just(None), Just(Some(true)), Just(Some(false))];
    let summary = prop_oneof![Just(String::new()), Just("auto".to_owned())];
    let hosted = prop_oneof![
        Just(String::new()),
        Just(
            r#"[{"type":"web_search"},{"type":"namespace","name":"ns","description":"N"}]"#
                .to_owned()
        ),
        Just(r#"[{"type":"namespace","name":"ns","description":""}]"#.to_owned()),
        Just("{}".to_owned()),
    ];
    (
        chat_request(),
        store,
        summary,
        hosted,
        any::<bool>(),
        0..4usize,
    )
        .prop_map(
            |(mut request, store, reasoning_summary, hosted_tools_json, ids, namespaced_tools)| {
                request.responses = Some(pb::ResponsesOptions {
                    store,
                    reasoning_summary,
                    hosted_tools_json,
                    ..Default::default()
                });
                let namespace = namespaced_tools > 0;
                // 1: the first tool joins namespace `ns`; 2: both tools do; 3: the second
                // joins `other`.
                for (i, tool) in request.tools.iter_mut().take(namespaced_tools).enumerate() {
                    let space = if i == 1 && namespaced_tools == 3 {
                        "other"
                    } else {
                        "ns"
                    };
                    tool.namespace = space.into();
                    tool.name = namespaced(space, &tool.name);
                }
                for message in &mut request.messages {
                    for part in &mut message.content {
                        match &mut part.part {
                            Some(Part::Reasoning(reasoning)) if ids => reasoning.id = "rs_1".into(),
                            Some(Part::ToolCall(call)) if namespace => {
                                call.name = namespaced("ns", &call.name);
                            }
                            _ => {}
                        }
                    }
                }
                request
            },
        )
}

fn same_request(request: &pb::ChatRequest) {
    for endpoint in [Endpoint::OpenAi, Endpoint::Azure] {
        for (model, stream) in [("gpt-5", true), ("gpt-4o", false)] {
            let old = legacy_build_request(request, model, stream, endpoint);
            let new = build_request(request, model, stream, endpoint);
            assert_same(
                old,
                new,
                compact(request, Copied::default()),
                &format!("{endpoint:?} {model}"),
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
