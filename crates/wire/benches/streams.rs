//! Stream translation cost per provider: decoding each recorded transcript into canonical
//! events, and rendering those events as OpenAI chunks and as Anthropic events. Also prints
//! the heap allocations each takes, counted with an instrumented allocator.
//!
//! `cargo bench -p keyroute-wire --bench streams`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::alloc::System;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use keyroute_wire::anthropic::{AnthropicStreamDecoder, AnthropicStreamRenderer};
use keyroute_wire::bedrock::BedrockStreamDecoder;
use keyroute_wire::canonical::{StreamEvent, StreamRenderer};
use keyroute_wire::gemini::GeminiStreamDecoder;
use keyroute_wire::openai::{OpenAiStreamDecoder, OpenAiStreamRenderer};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[path = "../tests/common/mod.rs"]
mod common;

use common::{Factory, bedrock_frames, gemini_sse, read};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

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
