//! The mock on request: OpenAI-format providers refuse (`mock-refuse` in the prompt) with
//! `refusal`, whole and streamed, and Gemini streams a call's arguments as `partialArgs`
//! (`mock-stream-args`), which decode into one call with whole arguments.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use keyroute_wire::canonical::pb::{self, content_part::Part};

fn asking(words: &str, tools: bool) -> pb::ChatRequest {
    let mut request = first_turn(false);
    request.messages[1].content = vec![text(words)];
    if !tools {
        request.tools.clear();
    }
    request
}

#[tokio::test]
async fn openai_format_providers_refuse_with_refusal_when_asked() {
    let harness = Harness::start().await;
    for kind in [Kind::OpenAi, Kind::Compatible, Kind::Azure] {
        for stream in [false, true] {
            let label = format!("{kind:?} stream={stream}");
            let response = harness
                .call(kind, &asking("mock-refuse this", false), stream, &[])
                .await
                .unwrap_or_else(|e| panic!("{label}: {e}"));
            let parts = content(&response);
            assert!(!parts.is_empty(), "{label}");
            for part in parts {
                assert!(part.refusal, "{label}: {part:?}");
                assert!(
                    matches!(&part.part, Some(Part::Text(t)) if t.contains("mock-refuse this")),
                    "{label}"
                );
            }
            let plain = harness
                .call(kind, &asking("hello", false), stream, &[])
                .await
                .unwrap();
            assert!(content(&plain).iter().all(|p| !p.refusal), "{label}");
        }
    }
}

#[tokio::test]
async fn gemini_streams_arguments_when_asked_and_they_decode_to_one_call() {
    let harness = Harness::start().await;
    for kind in [Kind::Google, Kind::VertexGemini] {
        let request = asking("mock-stream-args weather in Paris", true);
        let mut http = harness.build(kind, &request, true);
        harness.authorize(kind, &mut http, None);
        let url = harness.url(kind, &http);
        let (status, _, body) = harness.send_to(&url, &http, &[]).await;
        assert_eq!(status, 200, "{kind:?}");
        let body = String::from_utf8(body).unwrap();
        assert!(body.contains("\"partialArgs\""), "{kind:?}: {body}");
        assert!(body.contains("\"willContinue\":true"), "{kind:?}");

        let response = harness.call(kind, &request, true, &[]).await.unwrap();
        let calls: Vec<_> = content(&response)
            .iter()
            .filter_map(|p| match &p.part {
                Some(Part::ToolCall(call)) => Some(call.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(calls.len(), 1, "{kind:?}: one call per function");
        assert_eq!(calls[0].name, "get_weather");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&calls[0].arguments_json).unwrap(),
            serde_json::json!({ "query": "mock-stream-args weather in Paris" })
        );
        assert_eq!(
            response.choices[0].finish_reason(),
            pb::FinishReason::ToolCalls
        );
    }
}

#[tokio::test]
async fn keyroute_asks_vertex_gemini_3_for_streamed_arguments_and_assembles_them() {
    let harness = Harness::start().await;
    let request = asking("weather in Paris", true);
    let mut http = keyroute_wire::gemini::build_request(
        &request,
        "gemini-3-pro-preview",
        true,
        keyroute_wire::gemini::Flavor::Vertex {
            project: "p1",
            location: "us-central1",
        },
    )
    .unwrap();
    let sent: serde_json::Value = serde_json::from_slice(&http.body).unwrap();
    assert_eq!(
        sent["toolConfig"]["functionCallingConfig"]["streamFunctionCallArguments"],
        true
    );
    harness.authorize(Kind::VertexGemini, &mut http, None);
    let url = harness.url(Kind::VertexGemini, &http);
    let (status, _, body) = harness.send_to(&url, &http, &[]).await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("\"partialArgs\""));
    let mut decoder = decoder(Kind::VertexGemini);
    let mut events = Vec::new();
    for piece in body.chunks(5) {
        decoder.feed(piece, &mut events).unwrap();
    }
    decoder.finish(&mut events).unwrap();
    let mut accumulator = keyroute_wire::canonical::Accumulator::new();
    events.iter().for_each(|e| accumulator.push(e));
    let response = accumulator.finish();
    let calls: Vec<_> = content(&response)
        .iter()
        .filter_map(|p| match &p.part {
            Some(Part::ToolCall(call)) => Some(call.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&calls[0].arguments_json).unwrap(),
        serde_json::json!({ "query": "weather in Paris" })
    );
}
