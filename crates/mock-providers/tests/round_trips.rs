//! Round trips over real HTTP on loopback: canonical request -> each provider's wire request
//! -> the mock -> canonical response, non-streaming and streaming. Text, tool calls, tool
//! results, images and reasoning signatures survive two turns, for every provider format.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use keyroute_wire::canonical::pb::{self, content_part::Part};

#[tokio::test]
async fn two_turns_keep_text_tool_calls_results_images_and_signatures_everywhere() {
    let harness = Harness::start().await;
    for kind in ALL {
        for stream in [false, true] {
            let label = format!("{kind:?} stream={stream}");
            let mut request = first_turn(thinks(kind));
            let first = harness
                .call(kind, &request, stream, &[])
                .await
                .unwrap_or_else(|e| panic!("{label}: {e}"));
            assert_eq!(
                first.choices[0].finish_reason(),
                pb::FinishReason::ToolCalls,
                "{label}"
            );
            let call = content(&first)
                .iter()
                .find_map(|p| match &p.part {
                    Some(Part::ToolCall(call)) => Some(call.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| panic!("{label}: no tool call"));
            assert_eq!(call.name, "get_weather", "{label}");
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&call.arguments_json).unwrap(),
                serde_json::json!({ "query": "weather in Paris please" }),
                "{label}"
            );
            let usage = first.usage.unwrap_or_else(|| panic!("{label}: usage"));
            assert!(usage.input_tokens > 0 && usage.output_tokens > 0, "{label}");

            request
                .messages
                .push(first.choices[0].message.clone().unwrap());
            let result = pb::ToolResult {
                tool_call_id: call.id.clone(),
                name: String::new(),
                content: vec![text("18C and sunny")],
                is_error: false,
            };
            request.messages.push(pb::Message {
                role: pb::Role::Tool as i32,
                content: vec![pb::ContentPart {
                    part: Some(Part::ToolResult(result)),
                    ..Default::default()
                }],
                name: String::new(),
            });
            let second = harness
                .call(kind, &request, stream, &[])
                .await
                .unwrap_or_else(|e| panic!("{label} second turn: {e}"));
            let answer = answer_text(&second);
            assert!(
                answer.starts_with("echo: weather in Paris please"),
                "{label}: {answer}"
            );
            assert!(answer.contains("[images: 1]"), "{label}: {answer}");
            assert!(
                answer.contains("[tool results: 18C and sunny]"),
                "{label}: {answer}"
            );
            if thinks(kind) {
                assert!(
                    answer.contains("[signatures: mock-signature-"),
                    "{label}: signatures did not come back: {answer}"
                );
            }
            assert_eq!(
                second.choices[0].finish_reason(),
                pb::FinishReason::Stop,
                "{label}"
            );
        }
    }
}
