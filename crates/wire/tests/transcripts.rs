//! The recorded streams (Anthropic and OpenAI SSE, Gemini and Bedrock chunks) decode into
//! canonical deltas that add up to what each transcript contains; they decode the same when
//! split at every byte; and rendered back out as OpenAI chunks and as Anthropic events they
//! pass a strict check of that dialect and decode into the same content.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;

use base64 as _;
use keyroute_wire::anthropic::AnthropicStreamRenderer;
use keyroute_wire::canonical::pb::content_part::Part;
use keyroute_wire::openai::OpenAiStreamRenderer;
use serde_json::{Value, json};

#[test]
fn transcripts_decode_to_what_they_contain() {
    for transcript in transcripts() {
        let events = decode(transcript.decoder, &transcript.bytes, &[])
            .unwrap_or_else(|e| panic!("{}: {e}", transcript.name));
        assert_eq!(
            summarize(&accumulate(&events)),
            transcript.expected,
            "{}",
            transcript.name
        );
    }
}

#[test]
fn transcripts_decode_the_same_split_at_every_byte() {
    for transcript in transcripts() {
        let whole = accumulate(&decode(transcript.decoder, &transcript.bytes, &[]).unwrap());
        for split in 0..=transcript.bytes.len() {
            let events = decode(transcript.decoder, &transcript.bytes, &[split]).unwrap();
            assert_eq!(
                accumulate(&events),
                whole,
                "{} split at {split}",
                transcript.name
            );
        }
        let every: Vec<usize> = (1..transcript.bytes.len()).collect();
        assert_eq!(
            accumulate(&decode(transcript.decoder, &transcript.bytes, &every).unwrap()),
            whole,
            "{} byte by byte",
            transcript.name
        );
    }
}

/// The Chat Completions chunk schema, strictly: required fields present and typed.
fn check_openai_chunks(bytes: &[u8]) {
    let events = sse_events(bytes);
    assert_eq!(events.last().unwrap().data, "[DONE]");
    for event in &events[..events.len() - 1] {
        assert!(event.event.is_empty(), "openai chunks have no event names");
        let chunk: Value = serde_json::from_str(&event.data).unwrap();
        assert!(
            chunk["id"].as_str().is_some_and(|id| !id.is_empty()),
            "{chunk}"
        );
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert!(
            chunk["created"].is_i64() && chunk["model"].is_string(),
            "{chunk}"
        );
        assert!(
            chunk["usage"].is_null()
                || chunk["usage"]["prompt_tokens"].is_u64()
                    && chunk["usage"]["completion_tokens"].is_u64()
                    && chunk["usage"]["total_tokens"].is_u64()
        );
        let choices = chunk["choices"].as_array().unwrap();
        if chunk["usage"].is_object() {
            assert!(choices.is_empty(), "the usage chunk has no choices");
        }
        for choice in choices {
            assert!(
                choice["index"].is_u64() && choice["delta"].is_object(),
                "{choice}"
            );
            let finish = &choice["finish_reason"];
            assert!(
                finish.is_null()
                    || ["stop", "length", "tool_calls", "content_filter"]
                        .contains(&finish.as_str().unwrap())
            );
            for call in choice["delta"]["tool_calls"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                assert!(
                    call["index"].is_u64() && call["function"]["arguments"].is_string(),
                    "{call}"
                );
                if call.get("id").is_some() {
                    assert_eq!(call["type"], "function");
                    assert!(call["function"]["name"].is_string());
                }
            }
        }
    }
}

/// The Messages stream grammar, strictly: names match types, blocks open before their
/// deltas with matching delta types, close before `message_delta`, and `message_stop` ends.
fn check_anthropic_events(bytes: &[u8]) {
    let events = sse_events(bytes);
    let mut open: std::collections::HashMap<u64, String> = std::collections::HashMap::new();
    let mut next_index = 0;
    for (position, event) in events.iter().enumerate() {
        let data: Value = serde_json::from_str(&event.data).unwrap();
        assert_eq!(
            data["type"],
            event.event.as_str(),
            "event name and type agree"
        );
        match event.event.as_str() {
            "message_start" => {
                assert_eq!(position, 0);
                let message = &data["message"];
                assert!(message["id"].as_str().unwrap().starts_with("msg_"));
                assert_eq!(message["role"], "assistant");
                assert_eq!(message["content"], json!([]));
                assert!(
                    message["usage"]["input_tokens"].is_u64()
                        && message["usage"]["output_tokens"].is_u64()
                );
            }
            "content_block_start" => {
                let index = data["index"].as_u64().unwrap();
                assert_eq!(index, next_index, "block indexes count up from 0");
                next_index += 1;
                let block = &data["content_block"];
                let kind = block["type"].as_str().unwrap().to_owned();
                match kind.as_str() {
                    "text" => assert_eq!(block["text"], ""),
                    "tool_use" => assert!(
                        block["id"].is_string()
                            && block["name"].is_string()
                            && block["input"] == json!({})
                    ),
                    "thinking" => {
                        assert!(block["thinking"].is_string() && block["signature"].is_string())
                    }
                    "redacted_thinking" => assert!(block["data"].is_string()),
                    other => panic!("unexpected block type {other}"),
                }
                open.insert(index, kind);
            }
            "content_block_delta" => {
                let kind = open
                    .get(&data["index"].as_u64().unwrap())
                    .expect("delta for an open block");
                let delta_kind = data["delta"]["type"].as_str().unwrap();
                let allowed: &[&str] = match kind.as_str() {
                    "text" => &["text_delta"],
                    "tool_use" => &["input_json_delta"],
                    "thinking" => &["thinking_delta", "signature_delta"],
                    _ => &[],
                };
                assert!(
                    allowed.contains(&delta_kind),
                    "{delta_kind} in a {kind} block"
                );
            }
            "content_block_stop" => {
                assert!(
                    open.remove(&data["index"].as_u64().unwrap()).is_some(),
                    "stop for an open block"
                );
            }
            "message_delta" => {
                assert!(open.is_empty(), "all blocks closed before message_delta");
                let reason = data["delta"]["stop_reason"].as_str().unwrap();
                assert!(
                    [
                        "end_turn",
                        "max_tokens",
                        "stop_sequence",
                        "tool_use",
                        "pause_turn",
                        "refusal"
                    ]
                    .contains(&reason)
                );
                assert!(data["usage"]["output_tokens"].is_u64());
            }
            "message_stop" => {
                assert_eq!(position, events.len() - 1, "message_stop ends the stream")
            }
            other => panic!("unexpected event {other}"),
        }
    }
}

#[test]
fn transcripts_render_as_strict_openai_and_anthropic_streams() {
    for transcript in transcripts() {
        let events = decode(transcript.decoder, &transcript.bytes, &[]).unwrap();

        let openai_bytes = render(&mut OpenAiStreamRenderer::new(true), &events);
        check_openai_chunks(&openai_bytes);
        let back = accumulate(&decode(openai, &openai_bytes, &[]).unwrap());
        assert_eq!(
            summarize(&back),
            transcript.expected,
            "{} as openai",
            transcript.name
        );

        let anthropic_bytes = render(&mut AnthropicStreamRenderer::new(), &events);
        check_anthropic_events(&anthropic_bytes);
        let back = accumulate(&decode(anthropic, &anthropic_bytes, &[]).unwrap());
        // Anthropic has no refusal field: the refusal is text, and the stop reason `refusal`.
        let mut expected = transcript.expected;
        if !expected.refusal.is_empty() {
            expected
                .text
                .push_str(&std::mem::take(&mut expected.refusal));
            expected.finish = keyroute_wire::canonical::pb::FinishReason::ContentFilter;
        }
        assert_eq!(
            summarize(&back),
            expected,
            "{} as anthropic",
            transcript.name
        );
    }
}

#[test]
fn gemini_thought_signatures_stay_on_their_parts() {
    let events = decode(
        gemini,
        &gemini_sse("vercel-ai/google/google-tool-call.chunks.txt"),
        &[],
    )
    .unwrap();
    let response = accumulate(&events);
    let content = &response.choices[0].message.as_ref().unwrap().content;
    let call = content
        .iter()
        .find(|p| matches!(p.part, Some(Part::ToolCall(_))))
        .unwrap();
    assert!(
        call.thought_signature.starts_with("EqUCCqICAb4+"),
        "the signature rides on the function call"
    );
    let text_signature = decode(
        gemini,
        &gemini_sse("vercel-ai/google/google-text.chunks.txt"),
        &[],
    )
    .unwrap();
    let response = accumulate(&text_signature);
    let last = response.choices[0]
        .message
        .as_ref()
        .unwrap()
        .content
        .last()
        .unwrap();
    assert!(
        !last.thought_signature.is_empty(),
        "a trailing signature on the text answer is kept"
    );
}

#[test]
fn gemini_streamed_arguments_are_one_call_each_sent_as_argument_deltas() {
    let events = decode(
        gemini,
        &gemini_sse("gemini-streamed-args/two-calls.chunks.txt"),
        &[],
    )
    .unwrap();
    let calls: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.event {
            Some(keyroute_wire::canonical::pb::complete_stream_response::Event::Delta(d)) => {
                d.tool_call.clone()
            }
            _ => None,
        })
        .collect();
    let named: Vec<_> = calls.iter().filter(|c| !c.name.is_empty()).collect();
    assert_eq!(named.len(), 2, "one named start per function");
    assert!(named.iter().all(|c| !c.id.is_empty()));
    assert!(
        calls.iter().filter(|c| c.index == 0).count() > 5,
        "the arguments arrive as fragments"
    );
    let response = accumulate(&events);
    let content = &response.choices[0].message.as_ref().unwrap().content;
    let call = content
        .iter()
        .find(|p| matches!(p.part, Some(Part::ToolCall(_))))
        .unwrap();
    assert_eq!(
        call.thought_signature, "c2lnLTE=",
        "the signature stays on its call"
    );
}
