//! Failed gateway token checks at the edge, on real servers: a refused token is refused
//! again from the edge's memory (no router or vault round trip: the vault may even be down),
//! and an address that fails too often is answered 429 with `retry-after`, in the route's
//! shape, while tokens the edge saw verified keep working.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use reqwest::Method;
use serde_json::{Value, json};
use support::{Gateway, gateway_configured};

fn chat() -> Option<String> {
    Some(
        json!({ "model": "gpt-4o-mini", "messages": [{ "role": "user", "content": "hi" }] })
            .to_string(),
    )
}

/// A well-formed token the vault never issued.
fn unknown_token(n: u32) -> String {
    format!("kr_{n:0>43}")
}

async fn chat_as(gateway: &Gateway, token: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    gateway
        .send(
            Method::POST,
            "/v1/chat/completions",
            Some(token),
            &[],
            chat(),
        )
        .await
}

async fn refusals(gateway: &Gateway, reason: &str) -> u64 {
    let text = gateway
        .http
        .get(format!("{}/metrics", gateway.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = format!("keyroute_edge_token_refusals_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(series.as_str()))
        .map_or(0, |value| value.parse().unwrap())
}

#[tokio::test]
async fn refused_tokens_are_refused_from_memory_and_failing_addresses_wait() {
    let mut gateway = gateway_configured(1, |s| s.auth_limit.failures = 5).await;
    let (_, second_token) = gateway.vault.user_with_token("second").await;
    let (status, _, _) = chat_as(&gateway, &gateway.token).await;
    assert_eq!(status, 200, "the user's token is verified once");

    let bad = unknown_token(1);
    let (status, _, body) = chat_as(&gateway, &bad).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(refusals(&gateway, "checked").await, 1);

    // With the vault down, only the edge's memory can refuse the token (a router would
    // answer 503): no round trip is made for a token refused a moment ago.
    gateway.vault.stop().await;
    let (status, _, body) = chat_as(&gateway, &bad).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "invalid_api_key", "{body}");
    let (status, _, body) = gateway
        .send(Method::GET, "/api/v1/keys", Some(&bad), &[], None)
        .await;
    assert_eq!(status, 401, "the management API too: {body}");
    assert_eq!(body["error"]["code"], "unauthenticated", "{body}");
    assert_eq!(refusals(&gateway, "cached").await, 2);
    assert_eq!(refusals(&gateway, "checked").await, 1);
    gateway.vault.start_again().await;

    // Five failures from this address in the window: two more guesses reach the limit.
    for n in 2..4 {
        let (status, _, body) = chat_as(&gateway, &unknown_token(n)).await;
        assert_eq!(status, 401, "{body}");
    }
    let (status, headers, body) = chat_as(&gateway, &unknown_token(4)).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded", "{body}");
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let (status, headers, body) = gateway
        .send(
            Method::GET,
            "/api/v1/keys",
            Some(&unknown_token(5)),
            &[],
            None,
        )
        .await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    assert!(headers.contains_key("retry-after"));
    let (status, _, body) = gateway
        .send(
            Method::POST,
            "/v1/messages",
            Some(&unknown_token(6)),
            &[("anthropic-version", "2023-06-01")],
            Some(
                json!({ "model": "claude-sonnet-4-5", "max_tokens": 8,
                "messages": [{ "role": "user", "content": "hi" }] })
                .to_string(),
            ),
        )
        .await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["type"], "error", "in Anthropic's shape: {body}");

    // A valid token never verified here waits too; the verified one is served.
    let (status, _, _) = chat_as(&gateway, &second_token).await;
    assert_eq!(status, 429);
    let (status, _, body) = chat_as(&gateway, &gateway.token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(refusals(&gateway, "limited").await, 4);
}

#[tokio::test]
async fn a_disabled_user_is_refused_by_both_apis_within_a_second() {
    use keyroute_proto::vault::v1::SetPrincipalDisabledRequest;
    let gateway = support::gateway().await;
    let (status, _, body) = chat_as(&gateway, &gateway.token).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = gateway
        .send(Method::GET, "/api/v1/keys", Some(&gateway.token), &[], None)
        .await;
    assert_eq!(status, 200, "{body}");

    // The router has the token cached; the vault pushes the disable and the router drops it.
    let mut dropped = gateway.routers[0].leases.invalidations();
    dropped.borrow_and_update();
    gateway
        .vault
        .client("admin")
        .set_principal_disabled(SetPrincipalDisabledRequest {
            principal_id: gateway.user.clone(),
            disabled: true,
        })
        .await
        .unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(1), dropped.changed())
        .await
        .expect("the router applies the disable within a second")
        .unwrap();
    let (status, _, body) = chat_as(&gateway, &gateway.token).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("disabled"),
        "{body}"
    );
    let (status, _, body) = gateway
        .send(Method::GET, "/api/v1/keys", Some(&gateway.token), &[], None)
        .await;
    assert_eq!(status, 401, "{body}");
}
