//! Streams that go wrong: errors mid-stream become canonical errors and render in each
//! client dialect; cut, corrupt or unknown upstream data is an error or skipped, never a
//! panic; Anthropic on Bedrock decodes like the direct API.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use keyroute_wire::anthropic::AnthropicStreamRenderer;
use keyroute_wire::canonical::pb::{self, FinishReason};
use keyroute_wire::canonical::{Accumulator, StreamDecoder, StreamEvent};
use keyroute_wire::openai::OpenAiStreamRenderer;
use serde_json::{Value, json};

fn error_of(events: &[StreamEvent]) -> pb::StreamError {
    let mut accumulator = Accumulator::new();
    events.iter().for_each(|e| accumulator.push(e));
    accumulator
        .errors
        .first()
        .cloned()
        .expect("a canonical error event")
}

#[test]
fn mid_stream_errors_become_canonical_errors() {
    let anthropic_bytes = b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"m\",\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\nevent: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    let error = error_of(&decode(anthropic, anthropic_bytes, &[]).unwrap());
    assert_eq!(
        (
            error.status,
            error.r#type.as_str(),
            error.message.as_str(),
            error.retryable
        ),
        (529, "overloaded_error", "Overloaded", true)
    );

    let openai_bytes = b"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\ndata: {\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\",\"code\":null}}\n\n";
    let error = error_of(&decode(openai, openai_bytes, &[]).unwrap());
    assert_eq!(
        (error.status, error.message.as_str(), error.retryable),
        (500, "The server had an error", true)
    );

    let gemini_bytes = b"data: {\"error\":{\"code\":429,\"message\":\"Resource exhausted\",\"status\":\"RESOURCE_EXHAUSTED\"}}\r\n\r\n";
    let error = error_of(&decode(gemini, gemini_bytes, &[]).unwrap());
    assert_eq!(
        (error.status, error.r#type.as_str(), error.retryable),
        (429, "RESOURCE_EXHAUSTED", true)
    );

    let mut bedrock_bytes = bedrock_frame("event", "messageStart", &json!({ "role": "assistant" }));
    bedrock_bytes.extend(bedrock_frame(
        "exception",
        "modelStreamErrorException",
        &json!({ "message": "Model Stream Error", "originalStatusCode": 500 }),
    ));
    let error = error_of(&decode(bedrock, &bedrock_bytes, &[]).unwrap());
    assert_eq!(
        (error.status, error.r#type.as_str(), error.message.as_str()),
        (424, "modelStreamErrorException", "Model Stream Error")
    );

    // Rendered for clients in either dialect.
    let events = decode(anthropic, anthropic_bytes, &[]).unwrap();
    let rendered = sse_events(&render(&mut OpenAiStreamRenderer::new(false), &events));
    let error: Value = serde_json::from_str(&rendered.last().unwrap().data).unwrap();
    assert_eq!(
        error,
        json!({ "error": { "message": "Overloaded", "type": "server_error", "code": "overloaded_error" } })
    );
    let rendered = sse_events(&render(&mut AnthropicStreamRenderer::new(), &events));
    let last = rendered.last().unwrap();
    assert_eq!(last.event, "error");
    let error: Value = serde_json::from_str(&last.data).unwrap();
    assert_eq!(
        error,
        json!({ "type": "error", "error": { "type": "overloaded_error", "message": "Overloaded" } })
    );
}

#[test]
fn bad_upstream_data_is_an_error_or_skipped_never_a_panic() {
    for transcript in transcripts() {
        // Cut short: every decoder notices the missing end.
        let cut = &transcript.bytes[..transcript.bytes.len() * 2 / 3];
        let error = decode(transcript.decoder, cut, &[]).unwrap_err();
        assert_eq!(error.status, 502, "{}: {error}", transcript.name);
    }
    // Truncated JSON inside a complete SSE event.
    let error = decode(openai, b"data: {\"id\":\"c\",\"choi\n\n", &[]).unwrap_err();
    assert!(error.message.contains("not JSON"));
    // Unknown event types are skipped.
    let mut with_unknown = b"event: brand_new\ndata: {\"type\":\"brand_new\",\"x\":1}\n\n".to_vec();
    with_unknown.extend(read("anthropic-sse/basic_response.txt"));
    assert_eq!(
        summarize(&accumulate(&decode(anthropic, &with_unknown, &[]).unwrap())).text,
        "Hello there!"
    );
    let mut bedrock_unknown = bedrock_frame("event", "somethingNew", &json!({ "p": "padding" }));
    bedrock_unknown.extend(bedrock_frames(
        "vercel-ai/amazon-bedrock/amazon-bedrock-tool-call.1.chunks.txt",
    ));
    assert_eq!(
        summarize(&accumulate(
            &decode(bedrock, &bedrock_unknown, &[]).unwrap()
        ))
        .finish,
        FinishReason::ToolCalls
    );
    // A frame with a bad CRC.
    let mut corrupt = bedrock_frames("vercel-ai/amazon-bedrock/amazon-bedrock-text.chunks.txt");
    corrupt[30] ^= 0xff;
    assert!(decode(bedrock, &corrupt, &[]).is_err());
}

#[test]
fn anthropic_on_bedrock_invoke_streams_decode_like_the_direct_api() {
    use base64::Engine;
    use keyroute_wire::anthropic::BedrockInvokeStreamDecoder;
    // The recorded Anthropic events, each wrapped as Bedrock wraps them.
    let direct = read("anthropic-sse/tool_use_response.txt");
    let mut framed = Vec::new();
    for event in sse_events(&direct) {
        let bytes = base64::engine::general_purpose::STANDARD.encode(event.data.as_bytes());
        framed.extend(bedrock_frame("event", "chunk", &json!({ "bytes": bytes })));
    }
    fn invoke() -> Box<dyn StreamDecoder> {
        Box::new(BedrockInvokeStreamDecoder::new())
    }
    let expected = accumulate(&decode(anthropic, &direct, &[]).unwrap());
    for split in (0..=framed.len()).step_by(7) {
        assert_eq!(
            accumulate(&decode(invoke, &framed, &[split]).unwrap()),
            expected,
            "split at {split}"
        );
    }
    let cut = &framed[..framed.len() / 2];
    assert_eq!(
        decode(invoke, cut, &[]).unwrap_err().error_type,
        "truncated_stream"
    );
}
