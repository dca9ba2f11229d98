//! Recorded OpenAI Responses API streams (vercel/ai's fixtures, `testdata/vercel-ai/
//! openai-responses/`) decode into what they contain: reasoning with its id, summary and the
//! `encrypted_content` of its `output_item.done`, function calls numbered from 0 with their
//! namespace flattened, text, usage and finish reason; OpenAI's `error` + `response.failed`
//! into one canonical error. They decode the same split anywhere, and rendered back as a
//! Responses stream they decode into the same answer again.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use keyroute_wire::canonical::pb::complete_stream_response::Event;
use keyroute_wire::canonical::pb::content_part::Part;
use keyroute_wire::canonical::pb::{self, FinishReason};
use keyroute_wire::canonical::{Accumulator, StreamDecoder, StreamEvent, StreamRenderer};
use keyroute_wire::responses::{ResponseContext, ResponsesStreamDecoder, ResponsesStreamRenderer};
use serde_json::Value;

/// The streams in a fixture file (each begins at `response.created`), framed as OpenAI sends
/// them: `event: <type>` and `data: <json>`.
fn streams(name: &str) -> Vec<Vec<u8>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/vercel-ai/openai-responses")
        .join(name);
    let text = std::fs::read_to_string(path).unwrap();
    let mut streams: Vec<Vec<u8>> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let value: Value = serde_json::from_str(line).unwrap();
        let kind = value["type"].as_str().unwrap();
        if kind == "response.created" || streams.is_empty() {
            streams.push(Vec::new());
        }
        if let Some(stream) = streams.last_mut() {
            stream.extend(format!("event: {kind}\ndata: {line}\n\n").into_bytes());
        }
    }
    streams
}

fn decode(bytes: &[u8], splits: &[usize]) -> Vec<StreamEvent> {
    let mut decoder = ResponsesStreamDecoder::new();
    let mut out = Vec::new();
    let mut last = 0;
    for &split in splits {
        decoder.feed(&bytes[last..split], &mut out).unwrap();
        last = split;
    }
    decoder.feed(&bytes[last..], &mut out).unwrap();
    decoder.finish(&mut out).unwrap();
    out
}

fn accumulate(events: &[StreamEvent]) -> pb::ChatResponse {
    let mut accumulator = Accumulator::new();
    for event in events {
        accumulator.push(event);
    }
    accumulator.finish()
}

fn parts(answer: &pb::ChatResponse) -> Vec<Part> {
    answer.choices[0]
        .message
        .as_ref()
        .unwrap()
        .content
        .iter()
        .map(|p| p.part.clone().unwrap())
        .collect()
}

/// Renders canonical events as a Responses stream and decodes that again.
fn round_trip(events: &[StreamEvent]) -> pb::ChatResponse {
    let context = ResponseContext {
        encrypted_reasoning: true,
        ..Default::default()
    };
    let mut renderer = ResponsesStreamRenderer::new(context);
    let mut bytes = Vec::new();
    for event in events {
        renderer.render(event, &mut bytes);
    }
    accumulate(&decode(&bytes, &[]))
}

#[test]
fn reasoning_with_encrypted_content_then_function_calls_then_text() {
    let streams = streams("openai-reasoning-encrypted-content.1.chunks.txt");
    assert_eq!(streams.len(), 4);

    let first = accumulate(&decode(&streams[0], &[]));
    assert_eq!(
        first.id,
        "resp_01830d662ab3856501693c321345c88190b0de00f3b9975691"
    );
    assert_eq!(first.model, "gpt-5.1-codex-max");
    assert_eq!(first.created, 1_765_552_659);
    let choice = &first.choices[0];
    assert_eq!(choice.finish_reason, FinishReason::ToolCalls as i32);
    let content = parts(&first);
    assert_eq!(content.len(), 2, "{content:?}");
    let Part::Reasoning(reasoning) = &content[0] else {
        panic!("{content:?}");
    };
    assert_eq!(
        reasoning.id,
        "rs_01830d662ab3856501693c321405c88190be3ab04d5782d5f9"
    );
    assert!(
        reasoning
            .text
            .starts_with("**Calculating step-by-step using calculator**\n\nI'll compute 12 plus 7"),
        "{}",
        reasoning.text
    );
    // The done item's `encrypted_content`, not the (possibly incomplete) added one's.
    assert!(
        reasoning
            .signature
            .starts_with("gAAAAABpPDIVOKrsHNZ0GwsoEKA_"),
        "{}",
        reasoning.signature
    );
    assert_eq!(
        content[1],
        Part::ToolCall(pb::ToolCall {
            id: "call_AB6AaRZ1FYZB2RwS6A5vbdqn".into(),
            name: "calculator".into(),
            arguments_json: r#"{"a":12,"b":7,"op":"add"}"#.into(),
        })
    );
    assert_eq!(
        first.usage,
        Some(pb::Usage {
            input_tokens: 134,
            output_tokens: 28,
            total_tokens: 162,
            ..Default::default()
        })
    );

    let second = accumulate(&decode(&streams[1], &[]));
    assert_eq!(
        parts(&second),
        [Part::ToolCall(pb::ToolCall {
            id: "call_Q6pW65MUgW9vF59BmItYGos3".into(),
            name: "calculator".into(),
            arguments_json: r#"{"a":19,"b":3,"op":"multiply"}"#.into(),
        })]
    );

    let last = accumulate(&decode(&streams[3], &[]));
    assert_eq!(last.choices[0].finish_reason, FinishReason::Stop as i32);
    assert_eq!(
        parts(&last),
        [Part::Text("The final result is **570**.".into())]
    );
}

#[test]
fn a_function_call_in_a_namespace_after_hosted_items() {
    let streams = streams("openai-tool-search.1.chunks.txt");
    assert_eq!(streams.len(), 1);
    let answer = accumulate(&decode(&streams[0], &[]));
    let content = parts(&answer);
    // The tool_search_call and tool_search_output items are the host's own: skipped.
    assert_eq!(
        content,
        [Part::ToolCall(pb::ToolCall {
            id: "call_pddfxhfOx4gY56zn4vIIEbFp".into(),
            name: "get_weather__get_weather".into(),
            arguments_json: r#"{"location":"San Francisco, CA","unit":"fahrenheit"}"#.into(),
        })]
    );
    assert_eq!(
        answer.choices[0].finish_reason,
        FinishReason::ToolCalls as i32
    );
    let usage = answer.usage.unwrap();
    assert_eq!((usage.input_tokens, usage.reasoning_tokens), (640, 20));
}

#[test]
fn an_error_event_then_response_failed_is_one_canonical_error() {
    let streams = streams("openai-error.1.chunks.txt");
    let events = decode(&streams[0], &[]);
    let errors: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.event {
            Some(Event::Error(error)) => Some(error),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 1, "{events:?}");
    assert_eq!(errors[0].status, 429);
    assert_eq!(errors[0].r#type, "insufficient_quota");
    assert!(
        errors[0]
            .message
            .starts_with("You exceeded your current quota")
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e.event, Some(Event::End(_))))
    );
}

#[test]
fn fixtures_decode_the_same_split_anywhere_and_survive_a_round_trip() {
    for name in [
        "openai-reasoning-encrypted-content.1.chunks.txt",
        "openai-tool-search.1.chunks.txt",
        "openai-error.1.chunks.txt",
    ] {
        for (n, stream) in streams(name).iter().enumerate() {
            let events = decode(stream, &[]);
            let whole = accumulate(&events);
            for split in (0..=stream.len()).step_by(13) {
                assert_eq!(
                    accumulate(&decode(stream, &[split])),
                    whole,
                    "{name} #{n} split at {split}"
                );
            }
            let chunks: Vec<usize> = (1..stream.len()).step_by(5).collect();
            assert_eq!(accumulate(&decode(stream, &chunks)), whole, "{name} #{n}");
            if whole.choices.is_empty() {
                continue;
            }
            assert_eq!(round_trip(&events), whole, "{name} #{n} round trip");
        }
    }
}
