//! `GET /v1/models` through the edge: plain and provider-pinned ids in both dialects' shapes,
//! with provider, key source, upstream name and whether discovery found them; a discovered
//! model the catalog lacks routes with the caller's own key; the key test lists models.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use keyroute_mock_providers::UNCATALOGED;
use serde_json::{Value, json};
use support::*;

fn entry<'v>(list: &'v Value, id: &str) -> Option<&'v Value> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
}

#[tokio::test]
async fn every_keys_ids_are_listed_in_both_shapes_and_route_where_they_say() {
    let gateway = gateway().await;
    gateway.grant(5_000_000).await;
    let token = Some(gateway.token.as_str());
    let (status, _, openai) = gateway
        .send(reqwest::Method::GET, "/v1/models", token, &[], None)
        .await;
    assert_eq!(status, 200, "{openai}");
    let pinned = entry(&openai, "openai/gpt-4o-mini").expect("pinned id listed");
    assert_eq!(
        (pinned["owned_by"].as_str(), pinned["key_source"].as_str()),
        (Some("openai"), Some("byok"))
    );
    let discovered = entry(&openai, &format!("openai/{UNCATALOGED}")).expect("discovered");
    assert_eq!(
        (
            discovered["discovered"].as_bool(),
            discovered["upstream"].as_str()
        ),
        (Some(true), Some(UNCATALOGED))
    );
    // The platform's Anthropic key: catalog models, pinned too; never an unpriced one.
    let managed: Vec<&str> = openai["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["key_source"] == "managed")
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(
        managed.iter().any(|id| id.starts_with("anthropic/claude")),
        "{managed:?}"
    );
    assert!(
        managed.iter().all(|id| !id.ends_with(UNCATALOGED)),
        "{managed:?}"
    );

    let (status, _, anthropic) = gateway
        .send(
            reqwest::Method::GET,
            "/v1/models",
            token,
            &[("anthropic-version", "2023-06-01")],
            None,
        )
        .await;
    assert_eq!(status, 200);
    let listed = entry(&anthropic, &format!("openai/{UNCATALOGED}")).unwrap();
    assert_eq!(listed["type"], "model");
    assert!(!listed["display_name"].as_str().unwrap().is_empty());
    assert_eq!(
        anthropic["data"].as_array().unwrap().len(),
        openai["data"].as_array().unwrap().len()
    );

    // The discovered model reaches OpenAI under its own name, with the caller's key.
    let (status, _, body) = gateway
        .send(
            reqwest::Method::POST,
            "/v1/chat/completions",
            token,
            &[],
            Some(
                json!({
                    "model": format!("openai/{UNCATALOGED}"),
                    "messages": [{ "role": "user", "content": "hi" }],
                })
                .to_string(),
            ),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let sent = gateway.mock.requests_for("openai");
    let last = sent.iter().rev().find(|r| r.method == "POST").unwrap();
    assert_eq!(last.json()["model"], UNCATALOGED);
}

#[tokio::test]
async fn the_key_test_shows_the_keys_models() {
    let gateway = gateway().await;
    let token = Some(gateway.token.as_str());
    let (_, _, keys) = gateway
        .send(reqwest::Method::GET, "/api/v1/keys", token, &[], None)
        .await;
    let id = keys["data"][0]["id"].as_str().unwrap().to_owned();
    let (status, _, tested) = gateway
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/keys/{id}/test"),
            token,
            &[],
            Some("{}".into()),
        )
        .await;
    assert_eq!(status, 200, "{tested}");
    assert_eq!(tested["ok"], true);
    let models: Vec<&str> = tested["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert!(
        models.contains(&"gpt-4o-mini") && models.contains(&UNCATALOGED),
        "{tested}"
    );
    assert_eq!(tested["models_message"], "");
}
