//! Whole-answer translation cost per provider: an upstream's non-streaming response parsed
//! into canonical form and rendered for the caller, as the gateway does for every
//! non-streaming call. `answer/<provider>/to_<dialect>`; `answer/<provider>/parse` and
//! `render/to_<dialect>` split the two halves. Heap allocations are printed first.
//!
//! Providers: `openai` (the chat completion `bench/nginx/mock.conf.in` answers, which the load
//! benchmark measures; also Azure, Mistral and every compatible host), `anthropic` (also
//! Vertex's Anthropic models), `gemini` (AI Studio and Vertex), `bedrock` (Converse) and
//! `responses` (the OpenAI Responses API).
//!
//! `cargo bench -p keyroute-wire --bench answers`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::alloc::System;
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use keyroute_wire::canonical::pb;
use keyroute_wire::error::WireError;
use keyroute_wire::responses::ResponseContext;
use keyroute_wire::{anthropic, bedrock, gemini, openai, responses};
use serde_json::Value;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[path = "../tests/common/mod.rs"]
mod common;

use common::read;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// What `bench/nginx/mock.conf.in` answers a non-streaming chat completion with.
const MOCK_ANSWER: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help?","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":14,"completion_tokens":7,"total_tokens":21},"system_fingerprint":"fp_bench"}"#;

/// A Messages API answer of the same size, in the shape Anthropic documents (written for
/// this benchmark).
const ANTHROPIC_ANSWER: &str = r#"{"id":"msg_013Zva2CMHLNnXjNJJKqJ2EF","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"text","text":"Hello! How can I help?"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":14,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},"output_tokens":7,"service_tier":"standard"}}"#;

type Parser = fn(&[u8]) -> Result<pb::ChatResponse, WireError>;
type Render = fn(&pb::ChatResponse) -> Vec<u8>;

/// The `response` of a recorded Responses stream's `response.completed` event.
fn responses_answer() -> Vec<u8> {
    let text = String::from_utf8(read(
        "vercel-ai/openai-responses/openai-reasoning-encrypted-content.1.chunks.txt",
    ))
    .unwrap();
    let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap();
    let event: Value = serde_json::from_str(last).unwrap();
    serde_json::to_vec(&event["response"]).unwrap()
}

fn answers() -> Vec<(&'static str, Vec<u8>, Parser)> {
    vec![
        ("openai", MOCK_ANSWER.as_bytes().to_vec(), |b| {
            openai::parse_response(200, b)
        }),
        ("anthropic", ANTHROPIC_ANSWER.as_bytes().to_vec(), |b| {
            anthropic::parse_response(200, b)
        }),
        ("gemini", read("vercel-ai/google/google-text.json"), |b| {
            gemini::parse_response(200, b)
        }),
        (
            "bedrock",
            read("vercel-ai/amazon-bedrock/amazon-bedrock-text.json"),
            |b| bedrock::parse_response(200, None, b),
        ),
        ("responses", responses_answer(), |b| {
            responses::parse_response(200, b)
        }),
    ]
}

fn dialects() -> [(&'static str, Render); 3] {
    [
        ("to_openai", openai::render_response),
        ("to_anthropic", anthropic::render_response),
        ("to_responses", |r| {
            responses::render_response(r, &ResponseContext::default())
        }),
    ]
}

fn allocations<T>(f: impl FnOnce() -> T) -> usize {
    let region = Region::new(GLOBAL);
    black_box(f());
    region.change().allocations
}

fn benches(c: &mut Criterion) {
    let answers = answers();
    for (provider, body, parse) in &answers {
        let response = parse(body).unwrap();
        print!(
            "answer/{provider}: {} bytes; parse {} allocations",
            body.len(),
            allocations(|| parse(body))
        );
        for (dialect, render) in dialects() {
            print!(", {dialect} {}", allocations(|| render(&response)));
        }
        println!();
    }

    let mut group = c.benchmark_group("answer");
    for (provider, body, parse) in &answers {
        group.bench_with_input(BenchmarkId::new(*provider, "parse"), body, |b, body| {
            b.iter(|| parse(black_box(body)).unwrap())
        });
        for (dialect, render) in dialects().into_iter().take(2) {
            group.bench_with_input(BenchmarkId::new(*provider, dialect), body, |b, body| {
                b.iter(|| render(&parse(black_box(body)).unwrap()))
            });
        }
    }
    group.finish();

    // Rendering alone, from the OpenAI answer's canonical form.
    let response = openai::parse_response(200, MOCK_ANSWER.as_bytes()).unwrap();
    let mut group = c.benchmark_group("render");
    for (dialect, render) in dialects() {
        group.bench_function(dialect, |b| b.iter(|| render(black_box(&response))));
    }
    group.finish();
}

criterion_group!(answers_group, benches);
criterion_main!(answers_group);
