//! Request translation cost per provider: parsing a client's OpenAI or Anthropic body into
//! canonical form, and building each provider's request from canonical form, with heap
//! allocations counted. `long/answer/responses` and `long/stream/responses` render a short
//! answer for the long turn sent as a Responses request, whose every response object repeats
//! the request's tools.
//!
//! `cargo bench -p keyroute-wire --bench requests`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::alloc::System;

use criterion::{Criterion, criterion_group, criterion_main};
use keyroute_bench::long_turn::long_turn;
use keyroute_wire::anthropic::{self, Flavor};
use keyroute_wire::canonical::{StreamDecoder, StreamRenderer, pb};
use keyroute_wire::http::HttpRequest;
use keyroute_wire::{bedrock, gemini, openai, responses};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// A typical agent turn: system prompt, a few messages, one tool call and result, two tools.
const CLIENT: &str = r#"{
  "model": "gpt-4o-mini", "stream": true, "stream_options": {"include_usage": true},
  "messages": [
    {"role": "system", "content": "You are a helpful assistant that answers briefly and uses tools when needed."},
    {"role": "user", "content": "What's the weather in Paris and in Berlin today? Please compare them."},
    {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\": 18, \"sky\": \"sunny\"}"},
    {"role": "user", "content": "And Berlin?"}
  ],
  "tools": [
    {"type": "function", "function": {"name": "get_weather", "description": "Current weather for a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
    {"type": "function", "function": {"name": "get_time", "description": "Local time for a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
  ],
  "temperature": 0.3, "max_completion_tokens": 512
}"#;

/// A short streamed chat completion, as an OpenAI upstream sends it.
const ANSWER_STREAM: &str = concat!(
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"gpt-5\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Done: the tests pass.\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"gpt-5\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":30000,\"completion_tokens\":6,\"total_tokens\":30006}}\n\n",
    "data: [DONE]\n\n",
);

/// The short answer, streamed as Responses events for a request with `context` (which the
/// edge hands the renderer, as here).
fn stream_as_responses(context: responses::ResponseContext) -> usize {
    let mut decoder = openai::OpenAiStreamDecoder::new();
    let mut events = Vec::new();
    decoder.feed(ANSWER_STREAM.as_bytes(), &mut events).unwrap();
    decoder.finish(&mut events).unwrap();
    let mut renderer = responses::ResponsesStreamRenderer::new(context);
    let mut out = Vec::new();
    for event in &events {
        renderer.render(event, &mut out);
    }
    out.len()
}

/// Builds one provider's request from canonical form.
type Builder = Box<dyn Fn(&pb::ChatRequest) -> HttpRequest>;

fn canonical(client: &str) -> pb::ChatRequest {
    openai::parse_request(client.as_bytes()).unwrap().request
}

fn report(name: &str, f: impl Fn() -> usize) {
    let region = Region::new(GLOBAL);
    let bytes = f();
    println!(
        "{name}: {bytes} bytes, {} allocations",
        region.change().allocations
    );
}

fn benches(c: &mut Criterion) {
    let request = canonical(CLIENT);
    let anthropic_body =
        anthropic::build_request(&request, "claude-sonnet-4-5", true, Flavor::Direct)
            .unwrap()
            .body;
    let long_client = long_turn();
    let long_request = canonical(&long_client);
    let long_anthropic_body =
        anthropic::build_request(&long_request, "claude-sonnet-4-5", true, Flavor::Direct)
            .unwrap()
            .body;
    let long_responses_body =
        responses::build_request(&long_request, "gpt-5", true, responses::Endpoint::OpenAi)
            .unwrap()
            .body;
    let builders: Vec<(&str, Builder)> = vec![
        (
            "openai",
            Box::new(|r| {
                openai::build_request(
                    r,
                    "gpt-4o-mini",
                    true,
                    openai::Endpoint::ChatCompletions,
                    openai::Quirks::OPENAI,
                )
                .unwrap()
            }),
        ),
        (
            "anthropic",
            Box::new(|r| {
                anthropic::build_request(r, "claude-sonnet-4-5", true, Flavor::Direct).unwrap()
            }),
        ),
        (
            "responses",
            Box::new(|r| {
                responses::build_request(r, "gpt-5", true, responses::Endpoint::OpenAi).unwrap()
            }),
        ),
        (
            "gemini",
            Box::new(|r| {
                gemini::build_request(r, "gemini-2.5-flash", true, gemini::Flavor::AiStudio)
                    .unwrap()
            }),
        ),
        (
            "bedrock",
            Box::new(|r| {
                bedrock::build_request(r, "anthropic.claude-3-5-sonnet-20240620-v1:0", true)
                    .unwrap()
            }),
        ),
    ];

    report("ingress/openai", || {
        openai::parse_request(CLIENT.as_bytes())
            .unwrap()
            .request
            .messages
            .len()
    });
    report("ingress/anthropic", || {
        anthropic::parse_request(&anthropic_body)
            .unwrap()
            .request
            .messages
            .len()
    });
    for (name, build) in &builders {
        report(&format!("egress/{name}"), || build(&request).body.len());
    }
    println!(
        "long turn: {} bytes as OpenAI, {} as Anthropic, {} as Responses",
        long_client.len(),
        long_anthropic_body.len(),
        long_responses_body.len()
    );
    report("long/ingress/openai", || {
        openai::parse_request(long_client.as_bytes())
            .unwrap()
            .request
            .messages
            .len()
    });
    report("long/ingress/anthropic", || {
        anthropic::parse_request(&long_anthropic_body)
            .unwrap()
            .request
            .messages
            .len()
    });
    report("long/ingress/responses", || {
        responses::parse_request(&long_responses_body)
            .unwrap()
            .request
            .messages
            .len()
    });
    for (name, build) in &builders {
        report(&format!("long/egress/{name}"), || {
            build(&long_request).body.len()
        });
    }
    let long_context = responses::parse_request(&long_responses_body)
        .unwrap()
        .context;
    let mut answer_events = Vec::new();
    let mut decoder = openai::OpenAiStreamDecoder::new();
    decoder
        .feed(ANSWER_STREAM.as_bytes(), &mut answer_events)
        .unwrap();
    decoder.finish(&mut answer_events).unwrap();
    let mut accumulated = keyroute_wire::canonical::Accumulator::default();
    for event in &answer_events {
        accumulated.push(event);
    }
    let answer = accumulated.finish();
    report("long/answer/responses", || {
        responses::render_response(&answer, &long_context).len()
    });
    let context = long_context.clone();
    let region = Region::new(GLOBAL);
    let bytes = stream_as_responses(context);
    println!(
        "long/stream/responses: {bytes} bytes, {} allocations",
        region.change().allocations
    );

    let mut group = c.benchmark_group("ingress");
    group.bench_function("openai", |b| {
        b.iter(|| openai::parse_request(CLIENT.as_bytes()).unwrap())
    });
    group.bench_function("anthropic", |b| {
        b.iter(|| anthropic::parse_request(&anthropic_body).unwrap())
    });
    group.finish();
    let mut group = c.benchmark_group("egress");
    for (name, build) in &builders {
        group.bench_function(*name, |b| b.iter(|| build(&request)));
    }
    group.finish();
    let mut group = c.benchmark_group("long");
    group.bench_function("ingress/openai", |b| {
        b.iter(|| openai::parse_request(long_client.as_bytes()).unwrap())
    });
    group.bench_function("ingress/anthropic", |b| {
        b.iter(|| anthropic::parse_request(&long_anthropic_body).unwrap())
    });
    group.bench_function("ingress/responses", |b| {
        b.iter(|| responses::parse_request(&long_responses_body).unwrap())
    });
    group.bench_function("answer/responses", |b| {
        b.iter(|| responses::render_response(&answer, &long_context))
    });
    group.bench_function("stream/responses", |b| {
        b.iter_batched(
            || long_context.clone(),
            stream_as_responses,
            criterion::BatchSize::SmallInput,
        )
    });
    for (name, build) in &builders {
        group.bench_function(format!("egress/{name}"), |b| {
            b.iter(|| build(&long_request))
        });
    }
    group.finish();
}

criterion_group!(requests, benches);
criterion_main!(requests);
