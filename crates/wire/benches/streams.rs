//! Stream translation cost per provider: decoding each recorded transcript into canonical
//! events, and rendering those events as OpenAI chunks and as Anthropic events. Also prints
//! the heap allocations each takes, counted with an instrumented allocator.
//!
//! `cargo bench -p keyroute-wire --bench streams`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::alloc::System;
use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use keyroute_wire::anthropic::{AnthropicStreamDecoder, AnthropicStreamRenderer};
use keyroute_wire::bedrock::BedrockStreamDecoder;
use keyroute_wire::canonical::{StreamDecoder, StreamEvent, StreamRenderer};
use keyroute_wire::eventstream::{Frame, Header, HeaderValue};
use keyroute_wire::gemini::GeminiStreamDecoder;
use keyroute_wire::openai::{OpenAiStreamDecoder, OpenAiStreamRenderer};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn read(path: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(path),
    )
    .unwrap()
}

fn lines(path: &str) -> Vec<String> {
    String::from_utf8(read(path))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

fn gemini_sse(path: &str) -> Vec<u8> {
    lines(path)
        .iter()
        .flat_map(|line| format!("data: {line}\r\n\r\n").into_bytes())
        .collect()
}

fn bedrock_frames(path: &str) -> Vec<u8> {
    let string = |name: &str, value: &str| Header {
        name: name.into(),
        value: HeaderValue::String(value.into()),
    };
    lines(path)
        .iter()
        .flat_map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            let (name, payload) = value.as_object().unwrap().iter().next().unwrap();
            Frame {
                headers: vec![
                    string(":event-type", name),
                    string(":content-type", "application/json"),
                    string(":message-type", "event"),
                ],
                payload: serde_json::to_vec(payload).unwrap(),
            }
            .encode()
        })
        .collect()
}

type Factory = fn() -> Box<dyn StreamDecoder>;

fn cases() -> Vec<(&'static str, Vec<u8>, Factory)> {
    vec![
        (
            "anthropic_tool_use",
            read("anthropic-sse/tool_use_response.txt"),
            || Box::new(AnthropicStreamDecoder::new()),
        ),
        (
            "openai_tool_call",
            read("openai-sse/2018feb66ae13fcf5333d61b95849decc68d3f63bd38172889367e1afb1e04f7.bin"),
            || Box::new(OpenAiStreamDecoder::new()),
        ),
        (
            "gemini_text",
            gemini_sse("vercel-ai/google/google-text.chunks.txt"),
            || Box::new(GeminiStreamDecoder::new()),
        ),
        (
            "bedrock_text",
            bedrock_frames("vercel-ai/amazon-bedrock/amazon-bedrock-text.chunks.txt"),
            || Box::new(BedrockStreamDecoder::new()),
        ),
    ]
}

fn decode(factory: Factory, bytes: &[u8]) -> Vec<StreamEvent> {
    let mut decoder = factory();
    let mut out = Vec::with_capacity(64);
    // Network-sized pieces, as a body arrives.
    for chunk in bytes.chunks(512) {
        decoder.feed(chunk, &mut out).unwrap();
    }
    decoder.finish(&mut out).unwrap();
    out
}

fn render(renderer: &mut dyn StreamRenderer, events: &[StreamEvent]) -> usize {
    let mut out = Vec::with_capacity(4096);
    for event in events {
        renderer.render(event, &mut out);
    }
    out.len()
}

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    for (name, bytes, factory) in cases() {
        let region = Region::new(GLOBAL);
        let events = decode(factory, &bytes);
        let stats = region.change();
        println!(
            "decode/{name}: {} bytes -> {} events, {} allocations",
            bytes.len(),
            events.len(),
            stats.allocations
        );
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &bytes, |b, bytes| {
            b.iter(|| decode(factory, bytes))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("render");
    for (name, bytes, factory) in cases() {
        let events = decode(factory, &bytes);
        let region = Region::new(GLOBAL);
        render(&mut OpenAiStreamRenderer::new(true), &events);
        let openai = region.change().allocations;
        let region = Region::new(GLOBAL);
        render(&mut AnthropicStreamRenderer::new(), &events);
        let anthropic = region.change().allocations;
        println!(
            "render/{name}: {} events; openai {openai} allocations, anthropic {anthropic}",
            events.len()
        );
        group.bench_with_input(BenchmarkId::new("openai", name), &events, |b, events| {
            b.iter(|| render(&mut OpenAiStreamRenderer::new(true), events))
        });
        group.bench_with_input(BenchmarkId::new("anthropic", name), &events, |b, events| {
            b.iter(|| render(&mut AnthropicStreamRenderer::new(), events))
        });
    }
    group.finish();
}

criterion_group!(streams, benches);
criterion_main!(streams);
