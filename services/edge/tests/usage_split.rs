//! `GET /api/v1/usage` shows what a managed call read from and wrote to the provider's cache
//! and spent on reasoning, per line and in the total, and the cost those parts came to at
//! the catalog's prices.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use keyroute_mock_providers::{
    CACHE_READ_TOKENS, CACHE_WRITE_1H_TOKENS, CACHE_WRITE_TOKENS, MOCK_CACHE_WORD, REASONING_TOKENS,
};
use keyroute_proto::router::v1::Usage;
use keyroute_wire::catalog::{Catalog, dollars};
use reqwest::Method;
use serde_json::{Value, json};
use support::{Gateway, gateway};

/// The usage API's answer once it counts `calls` calls.
async fn usage_report(gateway: &Gateway, calls: u64) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _, body) = gateway
            .send(
                Method::GET,
                "/api/v1/usage",
                Some(&gateway.token),
                &[],
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        if body["total"]["requests"].as_u64() >= Some(calls) {
            return body;
        }
        assert!(tokio::time::Instant::now() < deadline, "{body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_usage_api_shows_cache_and_reasoning_tokens_per_line_and_in_the_total() {
    let gateway = gateway().await;
    gateway.grant(5_000_000).await;
    // The platform's Anthropic key: cache read and written (1-hour hint), with thinking.
    let body = json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 4096,
        "thinking": { "type": "enabled", "budget_tokens": 2048 },
        "messages": [{ "role": "user", "content": [{
            "type": "text",
            "text": format!("{MOCK_CACHE_WORD} a long shared prompt"),
            "cache_control": { "type": "ephemeral", "ttl": "1h" },
        }]}],
    })
    .to_string();
    let (status, _, answer) = gateway
        .send(
            Method::POST,
            "/v1/messages",
            None,
            &[
                ("anthropic-version", "2023-06-01"),
                ("x-api-key", &gateway.token),
            ],
            Some(body),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    // Anthropic's input leaves out the cache; the ledger's includes it.
    let shown = &answer["usage"];
    let input = shown["input_tokens"].as_u64().unwrap()
        + shown["cache_read_input_tokens"].as_u64().unwrap()
        + shown["cache_creation_input_tokens"].as_u64().unwrap();
    let output = shown["output_tokens"].as_u64().unwrap();

    let report = usage_report(&gateway, 1).await;
    let line = &report["data"][0];
    assert_eq!(line["provider"], "anthropic", "{report}");
    assert_eq!(line["key_source"], "managed");
    let counts = |value: &Value| {
        [
            "requests",
            "input_tokens",
            "cache_read_tokens",
            "cache_write_tokens",
            "cache_write_1h_tokens",
            "output_tokens",
            "reasoning_tokens",
        ]
        .map(|field| value[field].as_u64().unwrap())
    };
    assert_eq!(
        counts(line),
        [
            1,
            input,
            CACHE_READ_TOKENS,
            CACHE_WRITE_TOKENS,
            CACHE_WRITE_1H_TOKENS,
            output,
            REASONING_TOKENS,
        ],
        "{report}"
    );
    assert_eq!(counts(&report["total"]), counts(line), "{report}");

    // The cost is the catalog's, each part at its own price.
    let catalog = Catalog::builtin().unwrap();
    let price = catalog.model("claude-sonnet-4-5").unwrap().offers[0].price();
    let cost = price.usage_cost(&Usage {
        input_tokens: input,
        output_tokens: output,
        cache_read_tokens: CACHE_READ_TOKENS,
        cache_write_tokens: CACHE_WRITE_TOKENS,
        cache_write_1h_tokens: CACHE_WRITE_1H_TOKENS,
        reasoning_tokens: REASONING_TOKENS,
        total_tokens: input + output,
    });
    let cost = i64::try_from(cost).unwrap();
    assert_eq!(line["cost_micros"], cost, "{report}");
    assert_eq!(report["total"]["cost_micros"], cost);
    assert_eq!(report["total"]["cost_usd"], dollars(cost));
    assert_eq!(report["total_cost_micros"], cost);
}
