//! Usage in full: every provider format's cache and reasoning counts come into canonical
//! usage by that provider's own inclusion rule, whole and streamed (split at every byte),
//! and each client dialect renders canonical usage by its own rule.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Factory, accumulate, bedrock_frame, decode, sse_events};
use keyroute_wire::anthropic::{self, AnthropicStreamRenderer};
use keyroute_wire::canonical::pb::{self, complete_stream_response::Event};
use keyroute_wire::canonical::{StreamDecoder, StreamEvent, StreamRenderer, delta, event};
use keyroute_wire::openai::{self, OpenAiStreamRenderer};
use keyroute_wire::responses::{self, ResponseContext, ResponsesStreamRenderer};
use keyroute_wire::{bedrock, gemini};
use serde_json::{Value, json};

/// The split every format below reports: 100 input (30 read from the cache, 20 written, 5 of
/// those for an hour), 50 output (10 of them reasoning).
fn expected() -> pb::Usage {
    pb::Usage {
        input_tokens: 100,
        output_tokens: 50,
        cache_read_tokens: 30,
        cache_write_tokens: 20,
        reasoning_tokens: 10,
        total_tokens: 150,
        cache_write_1h_tokens: 5,
    }
}

/// `expected()` without what a format cannot say.
fn without(one_hour: bool, writes: bool, reasoning: bool) -> pb::Usage {
    let mut usage = expected();
    if !writes {
        usage.cache_write_tokens = 0;
        usage.input_tokens -= 20;
        usage.total_tokens -= 20;
    }
    if !one_hour || !writes {
        usage.cache_write_1h_tokens = 0;
    }
    if !reasoning {
        usage.reasoning_tokens = 0;
    }
    usage
}

/// Decodes `bytes` split at every byte, and fed one byte at a time; every way gives `usage`.
fn assert_stream_usage(factory: Factory, bytes: &[u8], usage: pb::Usage) {
    for at in 0..=bytes.len() {
        let events = decode(factory, bytes, &[at]).unwrap();
        assert_eq!(accumulate(&events).usage, Some(usage), "split at {at}");
    }
    let every: Vec<usize> = (1..bytes.len()).collect();
    let events = decode(factory, bytes, &every).unwrap();
    assert_eq!(accumulate(&events).usage, Some(usage), "byte by byte");
}

fn sse(events: &[Value]) -> Vec<u8> {
    events
        .iter()
        .flat_map(|data| format!("data: {data}\n\n").into_bytes())
        .collect()
}

fn named_sse(events: &[Value]) -> Vec<u8> {
    events
        .iter()
        .flat_map(|data| {
            format!(
                "event: {}\ndata: {data}\n\n",
                data["type"].as_str().unwrap()
            )
            .into_bytes()
        })
        .collect()
}

fn openai_usage() -> Value {
    json!({ "prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150,
        "prompt_tokens_details": { "cached_tokens": 30, "cache_write_tokens": 20, "audio_tokens": 0 },
        "completion_tokens_details": { "reasoning_tokens": 10, "audio_tokens": 0 } })
}

fn openai_answer(usage: Value) -> Value {
    json!({ "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": "hi" }, "finish_reason": "stop" }],
        "usage": usage })
}

fn openai_stream(usage: Value) -> Vec<u8> {
    let mut bytes = sse(&[
        json!({ "id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{ "index": 0, "delta": { "role": "assistant", "content": "hi" }, "finish_reason": null }] }),
        json!({ "id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{ "index": 0, "delta": {}, "finish_reason": "stop" }] }),
        json!({ "id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [], "usage": usage }),
    ]);
    bytes.extend_from_slice(b"data: [DONE]\n\n");
    bytes
}

#[test]
fn openai_chat_counts_cached_and_reasoning_tokens_inside() {
    let whole = openai::parse_response(200, openai_answer(openai_usage()).to_string().as_bytes());
    assert_eq!(whole.unwrap().usage, Some(without(false, true, true)));
    assert_stream_usage(
        common::openai,
        &openai_stream(openai_usage()),
        without(false, true, true),
    );
}

#[test]
fn deepseek_and_moonshot_cache_hits_are_cache_reads() {
    let deepseek = json!({ "prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150,
        "prompt_cache_hit_tokens": 30, "prompt_cache_miss_tokens": 70,
        "completion_tokens_details": { "reasoning_tokens": 10 } });
    let moonshot = json!({ "prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150,
        "cached_tokens": 30, "completion_tokens_details": { "reasoning_tokens": 10 } });
    // These hosts' prompt counts are the whole input; they report no writes.
    let mut want = without(false, false, true);
    want.input_tokens = 100;
    want.total_tokens = 150;
    for usage in [deepseek, moonshot] {
        let whole =
            openai::parse_response(200, openai_answer(usage.clone()).to_string().as_bytes());
        assert_eq!(whole.unwrap().usage, Some(want));
        assert_stream_usage(common::openai, &openai_stream(usage), want);
    }
}

fn responses_usage() -> Value {
    json!({ "input_tokens": 100, "input_tokens_details": { "cached_tokens": 30, "cache_write_tokens": 20 },
        "output_tokens": 50, "output_tokens_details": { "reasoning_tokens": 10 }, "total_tokens": 150 })
}

#[test]
fn responses_counts_cached_and_reasoning_tokens_inside() {
    let body = json!({ "id": "resp_1", "object": "response", "created_at": 1, "status": "completed", "model": "m",
        "output": [{ "type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
            "content": [{ "type": "output_text", "text": "hi", "annotations": [] }] }],
        "usage": responses_usage() });
    let whole = responses::parse_response(200, body.to_string().as_bytes()).unwrap();
    assert_eq!(whole.usage, Some(without(false, true, true)));
    let response = json!({ "id": "resp_1", "object": "response", "created_at": 1, "model": "m", "output": [] });
    let mut completed = response.clone();
    completed["status"] = json!("completed");
    completed["usage"] = responses_usage();
    let stream = named_sse(&[
        json!({ "type": "response.created", "sequence_number": 0, "response": response }),
        json!({ "type": "response.output_text.delta", "sequence_number": 1, "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": "hi" }),
        json!({ "type": "response.completed", "sequence_number": 2, "response": completed }),
    ]);
    assert_stream_usage(
        || Box::new(responses::ResponsesStreamDecoder::new()) as Box<dyn StreamDecoder>,
        &stream,
        without(false, true, true),
    );
}

/// Anthropic's own counts for `expected()`: `input_tokens` leaves the cache out.
fn anthropic_usage() -> Value {
    json!({ "input_tokens": 50, "cache_read_input_tokens": 30, "cache_creation_input_tokens": 20,
        "cache_creation": { "ephemeral_5m_input_tokens": 15, "ephemeral_1h_input_tokens": 5 },
        "output_tokens": 50, "output_tokens_details": { "thinking_tokens": 10 } })
}

fn anthropic_stream() -> Vec<u8> {
    let mut start_usage = anthropic_usage();
    start_usage["output_tokens"] = json!(1);
    start_usage
        .as_object_mut()
        .unwrap()
        .remove("output_tokens_details");
    named_sse(&[
        json!({ "type": "message_start", "message": { "id": "msg_1", "type": "message", "role": "assistant",
            "model": "claude", "content": [], "stop_reason": null, "stop_sequence": null, "usage": start_usage } }),
        json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } }),
        json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": "hi" } }),
        json!({ "type": "content_block_stop", "index": 0 }),
        // Cumulative: the final counts, input side repeated.
        json!({ "type": "message_delta", "delta": { "stop_reason": "end_turn", "stop_sequence": null },
            "usage": { "input_tokens": 50, "cache_read_input_tokens": 30, "cache_creation_input_tokens": 20,
                "output_tokens": 50, "output_tokens_details": { "thinking_tokens": 10 } } }),
        json!({ "type": "message_stop" }),
    ])
}

#[test]
fn anthropic_adds_cache_reads_and_writes_to_its_input() {
    let body = json!({ "id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
        "content": [{ "type": "text", "text": "hi" }], "stop_reason": "end_turn", "stop_sequence": null,
        "usage": anthropic_usage() });
    let whole = anthropic::parse_response(200, body.to_string().as_bytes()).unwrap();
    assert_eq!(whole.usage, Some(expected()));
    assert_stream_usage(common::anthropic, &anthropic_stream(), expected());
}

#[test]
fn anthropic_stream_usage_from_message_start_survives_a_short_message_delta() {
    // Only `output_tokens` is required in message_delta: the start's input side stays.
    let stream = String::from_utf8(anthropic_stream()).unwrap().replace(
        r#""usage":{"cache_creation_input_tokens":20,"cache_read_input_tokens":30,"input_tokens":50,"output_tokens":50,"output_tokens_details":{"thinking_tokens":10}}"#,
        r#""usage":{"output_tokens":50,"output_tokens_details":{"thinking_tokens":10}}"#,
    );
    assert!(
        stream.contains(r#""usage":{"output_tokens":50"#),
        "{stream}"
    );
    assert_stream_usage(common::anthropic, stream.as_bytes(), expected());
    // The input side is known before any text: a first usage follows the start.
    let events = decode(common::anthropic, stream.as_bytes(), &[]).unwrap();
    let first = events
        .iter()
        .position(|e| matches!(e.event, Some(Event::Usage(_))))
        .unwrap();
    let text = events
        .iter()
        .position(|e| matches!(&e.event, Some(Event::Delta(d)) if !d.text.is_empty()))
        .unwrap();
    assert!(first < text);
}

#[test]
fn anthropic_on_bedrock_invoke_reads_the_same_usage() {
    use base64::Engine;
    let bytes: Vec<u8> = sse_events(&anthropic_stream())
        .iter()
        .flat_map(|event| {
            let encoded = base64::engine::general_purpose::STANDARD.encode(event.data.as_bytes());
            bedrock_frame("event", "chunk", &json!({ "bytes": encoded }))
        })
        .collect();
    assert_stream_usage(
        || Box::new(anthropic::BedrockInvokeStreamDecoder::new()) as Box<dyn StreamDecoder>,
        &bytes,
        expected(),
    );
}

fn gemini_usage() -> Value {
    // promptTokenCount includes the cached content; thoughts are apart from candidates.
    json!({ "promptTokenCount": 80, "cachedContentTokenCount": 30, "candidatesTokenCount": 40,
        "thoughtsTokenCount": 10, "totalTokenCount": 130 })
}

#[test]
fn gemini_counts_cached_content_inside_and_thoughts_apart() {
    let mut usage = without(false, false, true);
    usage.total_tokens = 130;
    let body = json!({ "candidates": [{ "content": { "role": "model", "parts": [{ "text": "hi" }] },
        "finishReason": "STOP", "index": 0 }], "usageMetadata": gemini_usage(), "modelVersion": "gemini" });
    let whole = gemini::parse_response(200, body.to_string().as_bytes()).unwrap();
    assert_eq!(whole.usage, Some(usage));
    // Usage comes on every chunk; the last one counts.
    let mut early = gemini_usage();
    early["candidatesTokenCount"] = json!(1);
    let stream: Vec<u8> = [
        json!({ "candidates": [{ "content": { "role": "model", "parts": [{ "text": "hi" }] }, "index": 0 }], "usageMetadata": early }),
        json!({ "candidates": [{ "content": { "role": "model", "parts": [{ "text": "" }] }, "finishReason": "STOP", "index": 0 }], "usageMetadata": gemini_usage() }),
    ]
    .iter()
    .flat_map(|chunk| format!("data: {chunk}\r\n\r\n").into_bytes())
    .collect();
    assert_stream_usage(common::gemini, &stream, usage);
}

fn bedrock_usage() -> Value {
    // inputTokens leaves the cache out; totalTokens counts it.
    json!({ "inputTokens": 50, "outputTokens": 50, "totalTokens": 150, "cacheReadInputTokens": 30,
        "cacheWriteInputTokens": 20, "cacheDetails": [{ "ttl": "1h", "inputTokens": 5 }, { "ttl": "5m", "inputTokens": 15 }] })
}

#[test]
fn bedrock_converse_adds_cache_reads_and_writes_to_its_input() {
    let usage = without(true, true, false);
    let body = json!({ "output": { "message": { "role": "assistant", "content": [{ "text": "hi" }] } },
        "stopReason": "end_turn", "usage": bedrock_usage(), "metrics": { "latencyMs": 1 } });
    let whole = bedrock::parse_response(200, None, body.to_string().as_bytes()).unwrap();
    assert_eq!(whole.usage, Some(usage));
    let mut stream = Vec::new();
    for (name, payload) in [
        ("messageStart", json!({ "role": "assistant" })),
        (
            "contentBlockDelta",
            json!({ "contentBlockIndex": 0, "delta": { "text": "hi" } }),
        ),
        ("contentBlockStop", json!({ "contentBlockIndex": 0 })),
        ("messageStop", json!({ "stopReason": "end_turn" })),
        (
            "metadata",
            json!({ "usage": bedrock_usage(), "metrics": { "latencyMs": 1 } }),
        ),
    ] {
        stream.extend(bedrock_frame("event", name, &payload));
    }
    assert_stream_usage(common::bedrock, &stream, usage);
}

/// A canonical answer streaming `expected()` usage.
fn canonical_events() -> Vec<StreamEvent> {
    vec![
        event(Event::Start(pb::StreamStart {
            id: "x".into(),
            model: "m".into(),
            created: 1,
        })),
        delta(pb::ChatDelta {
            text: "hi".into(),
            ..Default::default()
        }),
        delta(pb::ChatDelta {
            finish_reason: pb::FinishReason::Stop as i32,
            ..Default::default()
        }),
        event(Event::Usage(expected())),
        event(Event::End(pb::StreamEnd::default())),
    ]
}

fn canonical_response() -> pb::ChatResponse {
    accumulate(&canonical_events())
}

fn render(renderer: &mut dyn StreamRenderer, events: &[StreamEvent]) -> Vec<Value> {
    sse_events(&common::render(renderer, events))
        .iter()
        .filter(|e| e.data != "[DONE]")
        .map(|e| serde_json::from_str(&e.data).unwrap())
        .collect()
}

#[test]
fn openai_chat_renders_cache_inside_prompt_tokens() {
    let want = json!({ "prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150,
        "prompt_tokens_details": { "cached_tokens": 30, "cache_write_tokens": 20 },
        "completion_tokens_details": { "reasoning_tokens": 10 } });
    let whole: Value =
        serde_json::from_slice(&openai::render_response(&canonical_response())).unwrap();
    assert_eq!(whole["usage"], want);
    let chunks = render(&mut OpenAiStreamRenderer::new(true), &canonical_events());
    assert_eq!(chunks.last().unwrap()["usage"], want);
    assert_eq!(chunks.last().unwrap()["choices"], json!([]));
}

#[test]
fn responses_renders_cache_inside_input_tokens() {
    let want = responses_usage();
    let context = ResponseContext::default();
    let whole: Value =
        serde_json::from_slice(&responses::render_response(&canonical_response(), &context))
            .unwrap();
    assert_eq!(whole["usage"], want);
    let events = render(
        &mut ResponsesStreamRenderer::new(context),
        &canonical_events(),
    );
    let completed = events
        .iter()
        .find(|e| e["type"] == "response.completed")
        .unwrap();
    assert_eq!(completed["response"]["usage"], want);
}

#[test]
fn anthropic_renders_cache_apart_from_input_tokens() {
    let want = anthropic_usage();
    let whole: Value =
        serde_json::from_slice(&anthropic::render_response(&canonical_response())).unwrap();
    assert_eq!(whole["usage"], want);

    // Usage only at the end (an OpenAI upstream): message_delta carries all of it.
    let events = render(&mut AnthropicStreamRenderer::new(), &canonical_events());
    let delta = events
        .iter()
        .find(|e| e["type"] == "message_delta")
        .unwrap();
    assert_eq!(delta["usage"], want);
    let start = events
        .iter()
        .find(|e| e["type"] == "message_start")
        .unwrap();
    assert_eq!(start["message"]["usage"]["input_tokens"], 0);

    // Usage known from the start (an Anthropic upstream): message_start carries the input side.
    let mut early = expected();
    early.output_tokens = 1;
    early.reasoning_tokens = 0;
    let mut with_opening = canonical_events();
    with_opening.insert(1, event(Event::Usage(early)));
    let events = render(&mut AnthropicStreamRenderer::new(), &with_opening);
    assert_eq!(events[0]["type"], "message_start");
    let opening = &events[0]["message"]["usage"];
    assert_eq!(opening["input_tokens"], 50);
    assert_eq!(opening["cache_read_input_tokens"], 30);
    assert_eq!(opening["cache_creation_input_tokens"], 20);
    assert_eq!(opening["cache_creation"]["ephemeral_1h_input_tokens"], 5);
    assert_eq!(events[0]["message"]["id"], "msg_x");
    let delta = events
        .iter()
        .find(|e| e["type"] == "message_delta")
        .unwrap();
    assert_eq!(delta["usage"], want);
}

#[test]
fn anthropic_through_anthropic_keeps_every_figure() {
    // Decode an Anthropic stream and render it for an Anthropic client: same usage both ends.
    let events = decode(common::anthropic, &anthropic_stream(), &[]).unwrap();
    let rendered = render(&mut AnthropicStreamRenderer::new(), &events);
    let start = &rendered[0]["message"]["usage"];
    assert_eq!(start["input_tokens"], 50);
    assert_eq!(start["cache_creation"]["ephemeral_5m_input_tokens"], 15);
    let delta = rendered
        .iter()
        .find(|e| e["type"] == "message_delta")
        .unwrap();
    assert_eq!(delta["usage"], anthropic_usage());
}
