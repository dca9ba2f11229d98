//! The recorded streams (Anthropic and OpenAI SSE, Gemini and Bedrock chunks) decode into
//! canonical deltas that add up to what each transcript contains; they decode the same when
//! split at every byte; and rendered back out as OpenAI chunks and as Anthropic events they
//! pass a strict check of that dialect and decode into the same content.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use base64 as _;
use keyroute_wire::anthropic::{AnthropicStreamDecoder, AnthropicStreamRenderer};
use keyroute_wire::bedrock::BedrockStreamDecoder;
use keyroute_wire::canonical::pb::content_part::Part;
use keyroute_wire::canonical::pb::{self, FinishReason};
use keyroute_wire::canonical::{Accumulator, StreamDecoder, StreamEvent, StreamRenderer};
use keyroute_wire::eventstream::{Frame, Header, HeaderValue};
use keyroute_wire::gemini::GeminiStreamDecoder;
use keyroute_wire::openai::{OpenAiStreamDecoder, OpenAiStreamRenderer};
use serde_json::{Value, json};

fn read(path: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(path),
    )
    .unwrap()
}

/// Gemini chunks (one JSON per line) as the SSE body `alt=sse` sends.
fn gemini_sse(path: &str) -> Vec<u8> {
    let text = String::from_utf8(read(path)).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .flat_map(|line| format!("data: {line}\r\n\r\n").into_bytes())
        .collect()
}

/// Bedrock ConverseStream events (one `{"eventName": payload}` per line) as event-stream frames.
fn bedrock_frames(path: &str) -> Vec<u8> {
    let text = String::from_utf8(read(path)).unwrap();
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let value: Value = serde_json::from_str(line).unwrap();
        let (name, payload) = value.as_object().unwrap().iter().next().unwrap();
        out.extend(bedrock_frame("event", name, payload));
    }
    out
}

fn bedrock_frame(message_type: &str, name: &str, payload: &Value) -> Vec<u8> {
    let type_header = if message_type == "event" {
        ":event-type"
    } else {
        ":exception-type"
    };
    let string = |name: &str, value: &str| Header {
        name: name.into(),
        value: HeaderValue::String(value.into()),
    };
    Frame {
        headers: vec![
            string(type_header, name),
            string(":content-type", "application/json"),
            string(":message-type", message_type),
        ],
        payload: serde_json::to_vec(payload).unwrap(),
    }
    .encode()
}

type Factory = fn() -> Box<dyn StreamDecoder>;

fn anthropic() -> Box<dyn StreamDecoder> {
    Box::new(AnthropicStreamDecoder::new())
}
fn openai() -> Box<dyn StreamDecoder> {
    Box::new(OpenAiStreamDecoder::new())
}
fn gemini() -> Box<dyn StreamDecoder> {
    Box::new(GeminiStreamDecoder::new())
}
fn bedrock() -> Box<dyn StreamDecoder> {
    Box::new(BedrockStreamDecoder::new())
}

fn decode(
    factory: Factory,
    bytes: &[u8],
    splits: &[usize],
) -> Result<Vec<StreamEvent>, keyroute_wire::error::WireError> {
    let mut decoder = factory();
    let mut out = Vec::new();
    let mut start = 0;
    for &split in splits.iter().chain(std::iter::once(&bytes.len())) {
        decoder.feed(&bytes[start..split], &mut out)?;
        start = split;
    }
    decoder.finish(&mut out)?;
    Ok(out)
}

fn accumulate(events: &[StreamEvent]) -> pb::ChatResponse {
    let mut accumulator = Accumulator::new();
    for event in events {
        accumulator.push(event);
    }
    assert!(accumulator.ended, "the stream has an end");
    assert!(accumulator.errors.is_empty(), "{:?}", accumulator.errors);
    accumulator.finish()
}

/// What a client reads off a response: the dialect-independent content.
#[derive(Debug, PartialEq)]
struct Summary {
    text: String,
    tool_calls: Vec<(String, Value)>,
    finish: FinishReason,
    usage: pb::Usage,
}

fn summarize(response: &pb::ChatResponse) -> Summary {
    let choice = &response.choices[0];
    let message = choice.message.as_ref().unwrap();
    assert_eq!(message.role, pb::Role::Assistant as i32);
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for part in &message.content {
        match &part.part {
            Some(Part::Text(t)) => text.push_str(t),
            Some(Part::ToolCall(call)) => {
                assert!(!call.id.is_empty(), "tool calls have ids");
                tool_calls.push((
                    call.name.clone(),
                    serde_json::from_str(&call.arguments_json).unwrap(),
                ));
            }
            _ => {}
        }
    }
    Summary {
        text,
        tool_calls,
        finish: choice.finish_reason(),
        usage: response.usage.unwrap_or_default(),
    }
}

struct Transcript {
    name: &'static str,
    bytes: Vec<u8>,
    decoder: Factory,
    expected: Summary,
}

fn usage(input: u64, output: u64, reasoning: u64, total: u64) -> pb::Usage {
    pb::Usage {
        input_tokens: input,
        output_tokens: output,
        reasoning_tokens: reasoning,
        total_tokens: total,
        ..Default::default()
    }
}

fn transcripts() -> Vec<Transcript> {
    vec![
        Transcript {
            name: "anthropic basic",
            bytes: read("anthropic-sse/basic_response.txt"),
            decoder: anthropic,
            expected: Summary { text: "Hello there!".into(), tool_calls: vec![], finish: FinishReason::Stop, usage: usage(11, 6, 0, 17) },
        },
        Transcript {
            name: "anthropic tool use",
            bytes: read("anthropic-sse/tool_use_response.txt"),
            decoder: anthropic,
            expected: Summary {
                text: "I'll check the current weather in Paris for you.".into(),
                tool_calls: vec![("get_weather".into(), json!({ "location": "Paris" }))],
                finish: FinishReason::ToolCalls,
                usage: usage(377, 65, 0, 442),
            },
        },
        Transcript {
            name: "openai refusal",
            bytes: read("openai-sse/173417d553406f034f643e5db3f8d591fb691ebac56f5ae39a22cc7d455c5353.bin"),
            decoder: openai,
            expected: Summary { text: "I'm sorry, I can't assist with that request.".into(), tool_calls: vec![], finish: FinishReason::Stop, usage: usage(79, 11, 0, 90) },
        },
        Transcript {
            name: "openai tool call",
            bytes: read("openai-sse/2018feb66ae13fcf5333d61b95849decc68d3f63bd38172889367e1afb1e04f7.bin"),
            decoder: openai,
            expected: Summary {
                text: String::new(),
                tool_calls: vec![("get_weather".into(), json!({ "city": "New York City" }))],
                finish: FinishReason::ToolCalls,
                usage: usage(44, 16, 0, 60),
            },
        },
        Transcript {
            name: "gemini text",
            bytes: gemini_sse("vercel-ai/google/google-text.chunks.txt"),
            decoder: gemini,
            expected: Summary {
                text: "There are **3** \"r\"s in strawberry.\n\nst**r**awbe**rr**y".into(),
                tool_calls: vec![],
                finish: FinishReason::Stop,
                usage: usage(9, 23 + 185, 185, 217),
            },
        },
        Transcript {
            name: "gemini tool call",
            bytes: gemini_sse("vercel-ai/google/google-tool-call.chunks.txt"),
            decoder: gemini,
            expected: Summary {
                text: String::new(),
                tool_calls: vec![("weather".into(), json!({ "location": "San Francisco" }))],
                finish: FinishReason::ToolCalls,
                usage: usage(29, 15 + 45, 45, 89),
            },
        },
        Transcript {
            name: "bedrock text",
            bytes: bedrock_frames("vercel-ai/amazon-bedrock/amazon-bedrock-text.chunks.txt"),
            decoder: bedrock,
            expected: Summary {
                text: "Let me count the \"r\"s in \"strawberry\":\n\ns-t-**r**-a-w-b-e-**r**-**r**-y\n\nThere are **3** r's in \"strawberry.\"".into(),
                tool_calls: vec![],
                finish: FinishReason::Stop,
                usage: usage(22, 55, 0, 77),
            },
        },
        Transcript {
            name: "bedrock tool call",
            bytes: bedrock_frames("vercel-ai/amazon-bedrock/amazon-bedrock-tool-call.1.chunks.txt"),
            decoder: bedrock,
            expected: Summary {
                text: String::new(),
                tool_calls: vec![("test-tool".into(), json!({ "value": "Sparkle Day" }))],
                finish: FinishReason::ToolCalls,
                usage: usage(125, 45, 0, 170),
            },
        },
    ]
}

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

fn render(renderer: &mut dyn StreamRenderer, events: &[StreamEvent]) -> Vec<u8> {
    let mut out = Vec::new();
    for event in events {
        renderer.render(event, &mut out);
    }
    out
}

fn sse_events(bytes: &[u8]) -> Vec<keyroute_wire::sse::SseEvent> {
    let mut decoder = keyroute_wire::sse::SseDecoder::new();
    let mut out = Vec::new();
    decoder.feed(bytes, &mut out);
    decoder.finish(&mut out);
    out
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
        assert_eq!(
            summarize(&back),
            transcript.expected,
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
