//! The mock's documented usage rule, read back through keyroute's own decoders for every
//! provider, whole and streamed: `mock-cache` gives 4 cache reads and 2 writes (1 of them
//! for an hour on a 1-hour hint; no writes where the provider reports none), thinking gives
//! 3 reasoning tokens inside the output; and JSON asks get JSON that fits.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use keyroute_mock_providers::{
    CACHE_READ_TOKENS, CACHE_WRITE_1H_TOKENS, CACHE_WRITE_TOKENS, MOCK_CACHE_WORD, REASONING_TOKENS,
};
use keyroute_wire::canonical::pb;
use serde_json::{Value, json};

fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// A plain question (no tools, no image) holding `prompt`.
fn asking(prompt: &str, thinking: bool) -> pb::ChatRequest {
    let mut request = first_turn(thinking);
    request.messages[1].content = vec![text(prompt)];
    request.tools.clear();
    request
}

fn reports_writes(kind: Kind) -> bool {
    !matches!(kind, Kind::Google | Kind::VertexGemini)
}

fn tells_lifetimes_apart(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Anthropic | Kind::VertexAnthropic | Kind::BedrockSigV4 | Kind::BedrockKey
    )
}

fn counts_reasoning(kind: Kind) -> bool {
    thinks(kind)
}

#[tokio::test]
async fn every_provider_reports_cache_and_reasoning_by_the_rule() {
    let harness = Harness::start().await;
    let prompt = format!("{MOCK_CACHE_WORD} read the shared prefix");
    for kind in ALL {
        for stream in [false, true] {
            for hour in [false, true] {
                let label = format!("{kind:?} stream={stream} hour={hour}");
                let thinking = thinks(kind);
                let mut request = asking(&prompt, thinking);
                if hour {
                    request.messages[1].content[0].cache = Some(pb::CacheHint { ttl: "1h".into() });
                }
                let response = harness
                    .call(kind, &request, stream, &[])
                    .await
                    .unwrap_or_else(|e| panic!("{label}: {e}"));
                let usage = response
                    .usage
                    .unwrap_or_else(|| panic!("{label}: no usage"));
                let writes = if reports_writes(kind) {
                    CACHE_WRITE_TOKENS
                } else {
                    0
                };
                assert_eq!(
                    usage.input_tokens,
                    words("Be brief.") + words(&prompt),
                    "{label}: input includes the cache"
                );
                assert_eq!(usage.cache_read_tokens, CACHE_READ_TOKENS, "{label}");
                assert_eq!(usage.cache_write_tokens, writes, "{label}");
                // Only the Anthropic request builder sends a TTL; Converse cache points carry none.
                let sends_ttl = matches!(kind, Kind::Anthropic | Kind::VertexAnthropic);
                let one_hour = hour && sends_ttl && tells_lifetimes_apart(kind);
                assert_eq!(
                    usage.cache_write_1h_tokens,
                    if one_hour { CACHE_WRITE_1H_TOKENS } else { 0 },
                    "{label}"
                );
                let reasoning = if thinking && counts_reasoning(kind) {
                    REASONING_TOKENS
                } else {
                    0
                };
                assert_eq!(usage.reasoning_tokens, reasoning, "{label}");
                let text = answer_text(&response);
                let thought = if thinking { REASONING_TOKENS } else { 0 };
                assert_eq!(
                    usage.output_tokens,
                    words(&text) + thought,
                    "{label}: {text}"
                );
                assert_eq!(
                    usage.total_tokens,
                    usage.input_tokens + usage.output_tokens,
                    "{label}"
                );
            }
        }
    }
}

#[tokio::test]
async fn without_the_word_nothing_is_cached() {
    let harness = Harness::start().await;
    for kind in ALL {
        let response = harness
            .call(kind, &asking("plain question", false), false, &[])
            .await
            .unwrap();
        let usage = response.usage.unwrap();
        assert_eq!(
            (
                usage.cache_read_tokens,
                usage.cache_write_tokens,
                usage.reasoning_tokens
            ),
            (0, 0, 0),
            "{kind:?}"
        );
    }
}

#[tokio::test]
async fn json_asks_get_json_that_fits() {
    let harness = Harness::start().await;
    let schema = json!({
        "type": "object",
        "properties": {
            "answer": { "type": "string" },
            "count": { "type": "integer" },
            "sure": { "type": "boolean" },
            "kind": { "type": "string", "enum": ["short", "long"] },
            "items": { "type": "array", "items": { "type": "string" } }
        },
        "required": ["answer", "count", "sure", "kind", "items"],
        "additionalProperties": false
    });
    let fitting = json!({
        "answer": "echo: answer in JSON [format=json_schema]", "count": 0, "sure": false,
        "kind": "short", "items": []
    });
    // Bedrock's request builder sends no response format; the rest send schemas.
    let schema_kinds = ALL
        .into_iter()
        .filter(|k| !matches!(k, Kind::BedrockSigV4 | Kind::BedrockKey));
    for kind in schema_kinds {
        for stream in [false, true] {
            let mut request = asking("answer in JSON", false);
            request.response_format = Some(pb::ResponseFormat {
                r#type: pb::ResponseFormatType::JsonSchema as i32,
                name: "answer".into(),
                schema_json: schema.to_string(),
                strict: true,
                ..Default::default()
            });
            let response = harness.call(kind, &request, stream, &[]).await.unwrap();
            let text = answer_text(&response);
            let value: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{kind:?}: {e}: {text}"));
            assert_eq!(value, fitting, "{kind:?} stream={stream}");
        }
    }
    // JSON mode where the provider has one (Anthropic has none: it answers prose).
    for kind in [
        Kind::OpenAi,
        Kind::Mistral,
        Kind::Azure,
        Kind::Compatible,
        Kind::Google,
        Kind::VertexGemini,
    ] {
        let mut request = asking("answer in JSON", false);
        request.response_format = Some(pb::ResponseFormat {
            r#type: pb::ResponseFormatType::JsonObject as i32,
            ..Default::default()
        });
        let response = harness.call(kind, &request, false, &[]).await.unwrap();
        let value: Value = serde_json::from_str(&answer_text(&response)).unwrap();
        assert_eq!(value, json!({ "echo": "answer in JSON" }), "{kind:?}");
    }
    // No JSON asked: prose, as before.
    let response = harness
        .call(Kind::OpenAi, &asking("answer in prose", false), false, &[])
        .await
        .unwrap();
    assert_eq!(answer_text(&response), "echo: answer in prose");
}
