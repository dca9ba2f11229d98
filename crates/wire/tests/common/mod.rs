//! Helpers shared by the wire crate's stream tests and benchmarks: the recorded test data,
//! framed the way each provider sends it, and decoding with arbitrary splits.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use keyroute_wire::anthropic::AnthropicStreamDecoder;
use keyroute_wire::bedrock::BedrockStreamDecoder;
use keyroute_wire::canonical::pb::content_part::Part;
use keyroute_wire::canonical::pb::{self, FinishReason};
use keyroute_wire::canonical::{Accumulator, StreamDecoder, StreamEvent, StreamRenderer};
use keyroute_wire::eventstream::{Frame, Header, HeaderValue};
use keyroute_wire::gemini::GeminiStreamDecoder;
use keyroute_wire::openai::OpenAiStreamDecoder;
use serde_json::{Value, json};

pub fn read(path: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(path),
    )
    .unwrap()
}

/// Gemini chunks (one JSON per line) as the SSE body `alt=sse` sends.
pub fn gemini_sse(path: &str) -> Vec<u8> {
    let text = String::from_utf8(read(path)).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .flat_map(|line| format!("data: {line}\r\n\r\n").into_bytes())
        .collect()
}

/// Bedrock ConverseStream events (one `{"eventName": payload}` per line) as event-stream frames.
pub fn bedrock_frames(path: &str) -> Vec<u8> {
    let text = String::from_utf8(read(path)).unwrap();
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let value: Value = serde_json::from_str(line).unwrap();
        let (name, payload) = value.as_object().unwrap().iter().next().unwrap();
        out.extend(bedrock_frame("event", name, payload));
    }
    out
}

pub fn bedrock_frame(message_type: &str, name: &str, payload: &Value) -> Vec<u8> {
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

pub type Factory = fn() -> Box<dyn StreamDecoder>;

pub fn anthropic() -> Box<dyn StreamDecoder> {
    Box::new(AnthropicStreamDecoder::new())
}
pub fn openai() -> Box<dyn StreamDecoder> {
    Box::new(OpenAiStreamDecoder::new())
}
pub fn gemini() -> Box<dyn StreamDecoder> {
    Box::new(GeminiStreamDecoder::new())
}
pub fn bedrock() -> Box<dyn StreamDecoder> {
    Box::new(BedrockStreamDecoder::new())
}

pub fn decode(
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

pub fn accumulate(events: &[StreamEvent]) -> pb::ChatResponse {
    let mut accumulator = Accumulator::new();
    for event in events {
        accumulator.push(event);
    }
    assert!(accumulator.ended, "the stream has an end");
    assert!(accumulator.errors.is_empty(), "{:?}", accumulator.errors);
    accumulator.finish()
}

pub fn render(renderer: &mut dyn StreamRenderer, events: &[StreamEvent]) -> Vec<u8> {
    let mut out = Vec::new();
    for event in events {
        renderer.render(event, &mut out);
    }
    out
}

pub fn sse_events(bytes: &[u8]) -> Vec<keyroute_wire::sse::SseEvent> {
    let mut decoder = keyroute_wire::sse::SseDecoder::new();
    let mut out = Vec::new();
    decoder.feed(bytes, &mut out);
    decoder.finish(&mut out);
    out
}

/// What a client reads off a response: the dialect-independent content.
#[derive(Debug, PartialEq)]
pub struct Summary {
    pub text: String,
    /// What the model said in refusing (OpenAI `refusal`), apart from the text.
    pub refusal: String,
    pub tool_calls: Vec<(String, Value)>,
    pub finish: FinishReason,
    pub usage: pb::Usage,
}

pub fn summarize(response: &pb::ChatResponse) -> Summary {
    let choice = &response.choices[0];
    let message = choice.message.as_ref().unwrap();
    assert_eq!(message.role, pb::Role::Assistant as i32);
    let mut text = String::new();
    let mut refusal = String::new();
    let mut tool_calls = Vec::new();
    for part in &message.content {
        match &part.part {
            Some(Part::Text(t)) if part.refusal => refusal.push_str(t),
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
        refusal,
        tool_calls,
        finish: choice.finish_reason(),
        usage: response.usage.unwrap_or_default(),
    }
}

pub struct Transcript {
    pub name: &'static str,
    pub bytes: Vec<u8>,
    pub decoder: Factory,
    pub expected: Summary,
}

pub fn usage(input: u64, output: u64, reasoning: u64, total: u64) -> pb::Usage {
    pb::Usage {
        input_tokens: input,
        output_tokens: output,
        reasoning_tokens: reasoning,
        total_tokens: total,
        ..Default::default()
    }
}

pub fn transcripts() -> Vec<Transcript> {
    vec![
        Transcript {
            name: "anthropic basic",
            bytes: read("anthropic-sse/basic_response.txt"),
            decoder: anthropic,
            expected: Summary { refusal: String::new(), text: "Hello there!".into(), tool_calls: vec![], finish: FinishReason::Stop, usage: usage(11, 6, 0, 17) },
        },
        Transcript {
            name: "anthropic tool use",
            bytes: read("anthropic-sse/tool_use_response.txt"),
            decoder: anthropic,
            expected: Summary {
                refusal: String::new(),
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
            expected: Summary { text: String::new(), refusal: "I'm sorry, I can't assist with that request.".into(), tool_calls: vec![], finish: FinishReason::Stop, usage: usage(79, 11, 0, 90) },
        },
        Transcript {
            name: "openai tool call",
            bytes: read("openai-sse/2018feb66ae13fcf5333d61b95849decc68d3f63bd38172889367e1afb1e04f7.bin"),
            decoder: openai,
            expected: Summary {
                refusal: String::new(),
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
                refusal: String::new(),
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
                refusal: String::new(),
                text: String::new(),
                tool_calls: vec![("weather".into(), json!({ "location": "San Francisco" }))],
                finish: FinishReason::ToolCalls,
                usage: usage(29, 15 + 45, 45, 89),
            },
        },
        Transcript {
            name: "gemini streamed arguments, two calls",
            bytes: gemini_sse("gemini-streamed-args/two-calls.chunks.txt"),
            decoder: gemini,
            expected: Summary {
                refusal: String::new(),
                text: "Booking both.".into(),
                tool_calls: vec![
                    (
                        "book_trip".into(),
                        json!({
                            "destination": { "city": "San Francisco, \"CA\" \u{e9}t\u{e9} \u{1F30D}", "nights": 3, "budget": 1250.5 },
                            "travellers": [
                                { "name": "Ada", "adult": true },
                                { "name": "Lin", "adult": false, "seat": null }
                            ],
                            "notes": ["window", "aisle"]
                        }),
                    ),
                    ("send_email".into(), json!({ "to": "ada@example.com", "urgent": false })),
                ],
                finish: FinishReason::ToolCalls,
                usage: usage(40, 30, 0, 70),
            },
        },
        Transcript {
            name: "gemini streamed arguments, no closing part",
            bytes: gemini_sse("gemini-streamed-args/no-closing-part.chunks.txt"),
            decoder: gemini,
            expected: Summary {
                refusal: String::new(),
                text: String::new(),
                tool_calls: vec![(
                    "write_items".into(),
                    json!({ "operations": [{ "action": "add", "price": 0.5 }, { "action": "remove" }] }),
                )],
                finish: FinishReason::ToolCalls,
                usage: usage(12, 8, 0, 20),
            },
        },
        Transcript {
            name: "bedrock text",
            bytes: bedrock_frames("vercel-ai/amazon-bedrock/amazon-bedrock-text.chunks.txt"),
            decoder: bedrock,
            expected: Summary {
                refusal: String::new(),
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
                refusal: String::new(),
                text: String::new(),
                tool_calls: vec![("test-tool".into(), json!({ "value": "Sparkle Day" }))],
                finish: FinishReason::ToolCalls,
                usage: usage(125, 45, 0, 170),
            },
        },
    ]
}
