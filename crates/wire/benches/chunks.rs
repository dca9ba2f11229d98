//! Per-chunk stream translation cost, per provider and client dialect: one upstream chunk
//! decoded into canonical events and rendered in the caller's dialect, the way the gateway
//! does it for every chunk it relays. Each stream is first taken to its steady state (start,
//! role and block openings fed and rendered), then one recorded text delta chunk is fed and
//! rendered per iteration, so the figures read as a table of cost per chunk:
//!
//! - `stream_chunk/<provider>/to_<dialect>`: one text delta chunk, steady state;
//! - `stream_transcript/<provider>/to_<dialect>`: a whole recorded stream (start, text or
//!   tool-call deltas, usage, end), one chunk at a time; the throughput is chunks per second,
//!   so its inverse is the mean cost of a chunk over a real stream.
//!
//! Providers are the stream formats the wire crate decodes (see `contract::Contract::decoder`):
//! `openai` (Chat Completions SSE: OpenAI, Azure, Mistral and every compatible host),
//! `anthropic` (Messages SSE: Anthropic, Vertex's Anthropic models), `gemini`
//! (`streamGenerateContent?alt=sse`: AI Studio and Vertex), `bedrock` (ConverseStream
//! event-stream frames), `bedrock_invoke` (Anthropic on Bedrock, base64 events in frames) and
//! `responses` (the OpenAI Responses API stream). Dialects are the client renderers: OpenAI
//! chat SSE, Anthropic SSE and Responses SSE. Heap allocations per chunk are printed first.
//!
//! `cargo bench -p keyroute-wire --bench chunks`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::alloc::System;
use std::hint::black_box;

use base64::Engine;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use keyroute_wire::anthropic::{
    AnthropicStreamDecoder, AnthropicStreamRenderer, BedrockInvokeStreamDecoder,
};
use keyroute_wire::bedrock::BedrockStreamDecoder;
use keyroute_wire::canonical::{StreamDecoder, StreamEvent, StreamRenderer};
use keyroute_wire::gemini::GeminiStreamDecoder;
use keyroute_wire::openai::{OpenAiStreamDecoder, OpenAiStreamRenderer};
use keyroute_wire::responses::{ResponseContext, ResponsesStreamDecoder, ResponsesStreamRenderer};
use serde_json::{Value, json};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[path = "../tests/common/mod.rs"]
mod common;

use common::{bedrock_frame, read};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

type Decoder = fn() -> Box<dyn StreamDecoder>;
type Renderer = fn() -> Box<dyn StreamRenderer>;

/// The stream `bench/nginx/mock.conf.in` answers (the load benchmark's upstream): an OpenAI
/// chat completion in four chunks, the last with usage.
const MOCK_STREAM: [&str; 5] = [
    r#"{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
    r#"{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Hello! "},"finish_reason":null}]}"#,
    r#"{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"How can I help?"},"finish_reason":null}]}"#,
    r#"{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":14,"completion_tokens":7,"total_tokens":21}}"#,
    "[DONE]",
];

/// One provider's stream, as wire-framed chunks.
struct Stream {
    provider: &'static str,
    decoder: Decoder,
    /// What comes before the steady state, chunk by chunk.
    opening: Vec<Vec<u8>>,
    /// One text delta chunk, repeated in the steady state.
    chunk: Vec<u8>,
    /// A whole recorded stream, chunk by chunk.
    transcript: Vec<Vec<u8>>,
}

fn sse(data: &str) -> Vec<u8> {
    format!("data: {data}\n\n").into_bytes()
}

fn sse_named(event: &str, data: &str) -> Vec<u8> {
    format!("event: {event}\ndata: {data}\n\n").into_bytes()
}

fn lines(path: &str) -> Vec<String> {
    String::from_utf8(read(path))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// An SSE body split into its events (each with its blank line), as they arrive.
fn sse_events(path: &str) -> Vec<Vec<u8>> {
    let text = String::from_utf8(read(path)).unwrap().replace("\r\n", "\n");
    text.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| format!("{e}\n\n").into_bytes())
        .collect()
}

/// A ConverseStream line (`{"eventName": payload}`) as its event-stream frame.
fn converse_frame(line: &str) -> Vec<u8> {
    let value: Value = serde_json::from_str(line).unwrap();
    let (name, payload) = value.as_object().unwrap().iter().next().unwrap();
    bedrock_frame("event", name, payload)
}

/// An Anthropic SSE event as Bedrock's `InvokeModelWithResponseStream` frames it.
fn invoke_frame(event: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(event).unwrap();
    let data = text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
    let bytes = base64::engine::general_purpose::STANDARD.encode(data);
    bedrock_frame("event", "chunk", &json!({ "bytes": bytes }))
}

/// A Responses event line as SSE (`event:` is the event's type).
fn responses_event(line: &str) -> Vec<u8> {
    let value: Value = serde_json::from_str(line).unwrap();
    sse_named(value["type"].as_str().unwrap(), line)
}

fn streams() -> Vec<Stream> {
    let anthropic = sse_events("anthropic-sse/basic_response.txt");
    let anthropic_tools = sse_events("anthropic-sse/tool_use_response.txt");
    let gemini = lines("vercel-ai/google/google-text.chunks.txt");
    let bedrock = lines("vercel-ai/amazon-bedrock/amazon-bedrock-text.chunks.txt");
    let responses =
        lines("vercel-ai/openai-responses/openai-reasoning-encrypted-content.1.chunks.txt");
    // The fourth stream of the file: a text answer (lines 95 to the end).
    let answer = &responses[94..];
    vec![
        Stream {
            provider: "openai",
            decoder: || Box::new(OpenAiStreamDecoder::new()),
            opening: vec![sse(MOCK_STREAM[0])],
            chunk: sse(MOCK_STREAM[1]),
            transcript: sse_events(
                "openai-sse/2018feb66ae13fcf5333d61b95849decc68d3f63bd38172889367e1afb1e04f7.bin",
            ),
        },
        Stream {
            provider: "anthropic",
            decoder: || Box::new(AnthropicStreamDecoder::new()),
            // message_start, content_block_start, ping.
            opening: anthropic[..3].to_vec(),
            chunk: anthropic[4].clone(),
            transcript: anthropic_tools.clone(),
        },
        Stream {
            provider: "gemini",
            decoder: || Box::new(GeminiStreamDecoder::new()),
            opening: vec![sse(&gemini[0])],
            chunk: sse(&gemini[1]),
            transcript: lines("vercel-ai/google/google-tool-call.chunks.txt")
                .iter()
                .map(|l| sse(l))
                .collect(),
        },
        Stream {
            provider: "bedrock",
            decoder: || Box::new(BedrockStreamDecoder::new()),
            opening: vec![converse_frame(&bedrock[0])],
            chunk: converse_frame(&bedrock[2]),
            transcript: lines("vercel-ai/amazon-bedrock/amazon-bedrock-tool-call.1.chunks.txt")
                .iter()
                .map(|l| converse_frame(l))
                .collect(),
        },
        Stream {
            provider: "bedrock_invoke",
            decoder: || Box::new(BedrockInvokeStreamDecoder::new()),
            opening: anthropic[..3].iter().map(|e| invoke_frame(e)).collect(),
            chunk: invoke_frame(&anthropic[4]),
            transcript: anthropic_tools.iter().map(|e| invoke_frame(e)).collect(),
        },
        Stream {
            provider: "responses",
            decoder: || Box::new(ResponsesStreamDecoder::new()),
            // created, in_progress, the message item and its text part.
            opening: answer[..4].iter().map(|l| responses_event(l)).collect(),
            chunk: responses_event(&answer[5]),
            transcript: answer.iter().map(|l| responses_event(l)).collect(),
        },
    ]
}

fn dialects() -> [(&'static str, Renderer); 3] {
    [
        ("to_openai", || Box::new(OpenAiStreamRenderer::new(true))),
        ("to_anthropic", || Box::new(AnthropicStreamRenderer::new())),
        ("to_responses", || {
            Box::new(ResponsesStreamRenderer::new(ResponseContext::default()))
        }),
    ]
}

/// Feeds one chunk and renders the events it completes; the buffers are the caller's, reused.
fn relay(
    decoder: &mut dyn StreamDecoder,
    renderer: &mut dyn StreamRenderer,
    chunk: &[u8],
    events: &mut Vec<StreamEvent>,
    out: &mut Vec<u8>,
) -> usize {
    events.clear();
    out.clear();
    decoder.feed(chunk, events).unwrap();
    for event in events.iter() {
        renderer.render(event, out);
    }
    out.len()
}

/// A decoder and renderer past the stream's opening.
fn steady(
    stream: &Stream,
    renderer: Renderer,
) -> (Box<dyn StreamDecoder>, Box<dyn StreamRenderer>) {
    let mut decoder = (stream.decoder)();
    let mut renderer = renderer();
    let (mut events, mut out) = (Vec::new(), Vec::new());
    for chunk in &stream.opening {
        relay(&mut *decoder, &mut *renderer, chunk, &mut events, &mut out);
    }
    (decoder, renderer)
}

/// A whole stream relayed chunk by chunk, ended as the body ends.
fn transcript(stream: &Stream, renderer: Renderer) -> usize {
    let mut decoder = (stream.decoder)();
    let mut renderer = renderer();
    let mut events = Vec::with_capacity(8);
    let mut out = Vec::with_capacity(1024);
    let mut written = 0;
    for chunk in &stream.transcript {
        written += relay(&mut *decoder, &mut *renderer, chunk, &mut events, &mut out);
    }
    events.clear();
    decoder.finish(&mut events).unwrap();
    for event in &events {
        renderer.render(event, &mut out);
    }
    written + out.len()
}

fn benches(c: &mut Criterion) {
    let streams = streams();
    for stream in &streams {
        for (dialect, renderer) in dialects() {
            let (mut decoder, mut renderer) = steady(stream, renderer);
            let (mut events, mut out) = (Vec::with_capacity(8), Vec::with_capacity(1024));
            // Once to size the buffers, then counted.
            relay(
                &mut *decoder,
                &mut *renderer,
                &stream.chunk,
                &mut events,
                &mut out,
            );
            let region = Region::new(GLOBAL);
            let bytes = relay(
                &mut *decoder,
                &mut *renderer,
                &stream.chunk,
                &mut events,
                &mut out,
            );
            println!(
                "stream_chunk/{}/{dialect}: {} bytes in, {} events, {bytes} bytes out, {} allocations",
                stream.provider,
                stream.chunk.len(),
                events.len(),
                region.change().allocations
            );
        }
    }

    let mut group = c.benchmark_group("stream_chunk");
    for stream in &streams {
        for (dialect, renderer) in dialects() {
            let (mut decoder, mut renderer) = steady(stream, renderer);
            let (mut events, mut out) = (Vec::with_capacity(8), Vec::with_capacity(1024));
            group.bench_function(BenchmarkId::new(stream.provider, dialect), |b| {
                b.iter(|| {
                    black_box(relay(
                        &mut *decoder,
                        &mut *renderer,
                        black_box(&stream.chunk),
                        &mut events,
                        &mut out,
                    ))
                })
            });
        }
    }
    group.finish();

    let mut group = c.benchmark_group("stream_transcript");
    for stream in &streams {
        group.throughput(Throughput::Elements(stream.transcript.len() as u64));
        for (dialect, renderer) in dialects().into_iter().take(2) {
            group.bench_function(BenchmarkId::new(stream.provider, dialect), |b| {
                b.iter(|| black_box(transcript(stream, renderer)))
            });
        }
    }
    group.finish();
}

criterion_group!(chunks, benches);
criterion_main!(chunks);
