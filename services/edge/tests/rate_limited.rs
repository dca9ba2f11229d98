//! Rate limits as callers meet them: a call within its limits carries the provider's
//! rate-limit headers in the caller's dialect (OpenAI's `x-ratelimit-*`, Anthropic's
//! `anthropic-ratelimit-*`); a call beyond them is 429 in that dialect's error shape with
//! `retry-after`, and reaches no provider. Limits on the caller, on one key and on a managed
//! model; a call larger than a token limit is refused without a retry that could help.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use keyroute_proto::vault::v1::{
    CreateCredentialRequest, ListCredentialsRequest, RateLimitScope, SetRateLimitRequest,
};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use support::{Gateway, gateway};

async fn limit(gateway: &Gateway, scope: RateLimitScope, target: &str, rpm: u64, tpm: u64) {
    gateway
        .vault
        .client("admin")
        .set_rate_limit(SetRateLimitRequest {
            scope: scope as i32,
            target_id: target.to_owned(),
            requests_per_minute: rpm,
            tokens_per_minute: tpm,
        })
        .await
        .unwrap();
}

async fn openai_chat(gateway: &Gateway, max_tokens: u32) -> (u16, HeaderMap, Value) {
    let body = json!({
        "model": "gpt-4o-mini",
        "max_tokens": max_tokens,
        "messages": [{ "role": "user", "content": "hello" }],
    });
    gateway
        .send(
            Method::POST,
            "/v1/chat/completions",
            Some(&gateway.token),
            &[],
            Some(body.to_string()),
        )
        .await
}

async fn anthropic_message(gateway: &Gateway) -> (u16, HeaderMap, Value) {
    let body = json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "messages": [{ "role": "user", "content": "hello" }],
    });
    gateway
        .send(
            Method::POST,
            "/v1/messages",
            None,
            &[
                ("anthropic-version", "2023-06-01"),
                ("x-api-key", &gateway.token),
            ],
            Some(body.to_string()),
        )
        .await
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn a_principal_limit_counts_every_call_and_refuses_beyond_it_in_openai_terms() {
    let gateway = gateway().await;
    limit(&gateway, RateLimitScope::Principal, &gateway.user, 2, 0).await;
    // The caller sees it with their balance.
    let (status, _, balance) = gateway
        .send(
            Method::GET,
            "/api/v1/balance",
            Some(&gateway.token),
            &[],
            None,
        )
        .await;
    assert_eq!(status, 200, "{balance}");
    assert_eq!(balance["rate_limits"][0]["scope"], "principal", "{balance}");
    assert_eq!(
        balance["rate_limits"][0]["requests_per_minute"], 2,
        "{balance}"
    );

    let (status, headers, body) = openai_chat(&gateway, 16).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&headers, "x-ratelimit-limit-requests"), Some("2"));
    assert_eq!(
        header(&headers, "x-ratelimit-remaining-requests"),
        Some("1")
    );
    assert!(header(&headers, "x-ratelimit-reset-requests").is_some());
    assert!(header(&headers, "x-ratelimit-limit-tokens").is_none());
    assert!(header(&headers, "retry-after").is_none());

    let (status, headers, _) = openai_chat(&gateway, 16).await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "x-ratelimit-remaining-requests"),
        Some("0")
    );

    let served = gateway.mock.requests().len();
    let (status, headers, body) = openai_chat(&gateway, 16).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("requests per minute"), "{message}");
    let retry: u64 = header(&headers, "retry-after").unwrap().parse().unwrap();
    // At most two windows: into the next one until this one has faded enough.
    assert!((1..=120).contains(&retry), "{retry}");
    let retry_ms: u64 = header(&headers, "retry-after-ms").unwrap().parse().unwrap();
    assert!(
        retry_ms <= retry * 1000 && retry_ms > (retry - 1) * 1000,
        "{retry_ms} {retry} {headers:?}"
    );
    assert_eq!(header(&headers, "x-ratelimit-limit-requests"), Some("2"));
    assert_eq!(
        header(&headers, "x-ratelimit-remaining-requests"),
        Some("0")
    );
    assert_eq!(
        gateway.mock.requests().len(),
        served,
        "a refused call reached the provider"
    );
}

#[tokio::test]
async fn a_managed_model_limit_answers_in_anthropic_terms() {
    let gateway = gateway().await;
    gateway.grant(5_000_000).await;
    limit(
        &gateway,
        RateLimitScope::ManagedModel,
        "claude-sonnet-4-5",
        1,
        100_000,
    )
    .await;

    let (status, headers, body) = anthropic_message(&gateway).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        header(&headers, "anthropic-ratelimit-requests-limit"),
        Some("1")
    );
    assert_eq!(
        header(&headers, "anthropic-ratelimit-requests-remaining"),
        Some("0")
    );
    assert_eq!(
        header(&headers, "anthropic-ratelimit-tokens-limit"),
        Some("100000")
    );
    let reset = header(&headers, "anthropic-ratelimit-requests-reset").unwrap();
    assert!(reset.ends_with('Z') && reset.contains('T'), "{reset}");
    assert!(header(&headers, "x-ratelimit-limit-requests").is_none());

    let (status, headers, body) = anthropic_message(&gateway).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");
    assert!(header(&headers, "retry-after").is_some());
    assert_eq!(
        header(&headers, "anthropic-ratelimit-requests-remaining"),
        Some("0")
    );
}

#[tokio::test]
async fn a_key_limit_holds_that_key_back() {
    let gateway = gateway().await;
    let keys = gateway
        .vault
        .client("admin")
        .list_credentials(ListCredentialsRequest {
            owner_id: gateway.user.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .credentials;
    let key = &keys[0].id;
    limit(&gateway, RateLimitScope::Credential, key, 1, 0).await;

    let (status, _, body) = openai_chat(&gateway, 16).await;
    assert_eq!(status, 200, "{body}");
    let (status, headers, body) = openai_chat(&gateway, 16).await;
    assert_eq!(status, 429, "{body}");
    assert!(header(&headers, "retry-after").is_some());
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(key), "{message}");
}

#[tokio::test]
async fn a_key_at_its_limit_gives_way_to_the_callers_next_key() {
    let gateway = gateway().await;
    let second = "sk-edge-openai-second-0123456789";
    gateway.mock.add_key("openai", second);
    gateway
        .vault
        .client("admin")
        .create_credential(CreateCredentialRequest {
            owner_id: gateway.user.clone(),
            provider: "openai".into(),
            label: "second".into(),
            secret: second.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let keys = gateway
        .vault
        .client("admin")
        .list_credentials(ListCredentialsRequest {
            owner_id: gateway.user.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .credentials;
    let (first, other) = (&keys[0], &keys[1]);
    assert_eq!(other.label, "second");
    limit(&gateway, RateLimitScope::Credential, &first.id, 1, 0).await;

    let served_by =
        |headers: &HeaderMap| header(headers, "x-keyroute-credential").unwrap().to_owned();
    let (status, headers, body) = openai_chat(&gateway, 16).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(served_by(&headers), first.fingerprint.replace('…', "..."));
    assert_eq!(
        header(&headers, "x-ratelimit-remaining-requests"),
        Some("0")
    );
    for _ in 0..2 {
        let (status, headers, body) = openai_chat(&gateway, 16).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(served_by(&headers), other.fingerprint.replace('…', "..."));
        // The second key has no limit of its own: nothing to report.
        assert!(header(&headers, "x-ratelimit-limit-requests").is_none());
    }
}

#[tokio::test]
async fn a_call_larger_than_the_token_limit_is_refused_for_good() {
    let gateway = gateway().await;
    limit(&gateway, RateLimitScope::Principal, &gateway.user, 0, 1_000).await;

    let (status, headers, body) = openai_chat(&gateway, 100).await;
    assert_eq!(status, 200, "{body}");
    let remaining: u64 = header(&headers, "x-ratelimit-remaining-tokens")
        .unwrap()
        .parse()
        .unwrap();
    assert!(remaining < 1_000 - 100, "{remaining}");

    let (status, headers, body) = openai_chat(&gateway, 5_000).await;
    assert_eq!(status, 429, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("however long you wait"), "{message}");
    assert!(header(&headers, "retry-after").is_none());
}

/// Sends `call` until it is answered 200 (a refused call counts nowhere, so asking again is
/// free), for as long as the settlement of an earlier call may take to land.
async fn until_admitted<F, Fut>(call: F) -> HeaderMap
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = (u16, HeaderMap, Value)>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let (status, headers, body) = call().await;
        if status == 200 {
            return headers;
        }
        assert_eq!(status, 429, "{body}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "never admitted: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn token_estimates_settle_to_the_tokens_charged_streamed_or_not() {
    let gateway = gateway().await;
    limit(&gateway, RateLimitScope::Principal, &gateway.user, 0, 1_000).await;
    // Admitted at its estimate: the input and max_tokens 600.
    let (status, headers, body) = openai_chat(&gateway, 600).await;
    assert_eq!(status, 200, "{body}");
    let left: u64 = header(&headers, "x-ratelimit-remaining-tokens")
        .unwrap()
        .parse()
        .unwrap();
    assert!(left < 400, "{left}");
    let used = body["usage"]["total_tokens"].as_u64().unwrap();
    assert!(used < 100, "{body}");
    // Another 600 fits only once the first call gave back what it did not use.
    let headers = until_admitted(|| openai_chat(&gateway, 600)).await;
    let left: u64 = header(&headers, "x-ratelimit-remaining-tokens")
        .unwrap()
        .parse()
        .unwrap();
    assert!(left < 400, "{left}");

    // A stream settles when it ends.
    let streamed = || async {
        let body = json!({
            "model": "gpt-4o-mini",
            "max_tokens": 600,
            "stream": true,
            "messages": [{ "role": "user", "content": "hello" }],
        });
        let response = gateway
            .http
            .post(format!("{}/v1/chat/completions", gateway.url))
            .bearer_auth(&gateway.token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        (status, headers, Value::String(text))
    };
    let headers = until_admitted(streamed).await;
    assert!(header(&headers, "x-ratelimit-limit-tokens").is_some());
    until_admitted(streamed).await;
}

#[tokio::test]
async fn an_org_limit_counts_the_calls_served_with_the_orgs_keys() {
    let gateway = gateway().await;
    let org = gateway.vault.org("team", &gateway.user, &[]).await;
    let org_key = "sk-ant-org-ratelimit-0123456789";
    gateway.mock.add_key("anthropic", org_key);
    gateway
        .vault
        .client("admin")
        .create_credential(CreateCredentialRequest {
            owner_id: org.clone(),
            provider: "anthropic".into(),
            secret: org_key.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    limit(&gateway, RateLimitScope::Org, &org, 1, 0).await;

    let (status, headers, body) = anthropic_message(&gateway).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&headers, "x-keyroute-key-source"), Some("byok"));
    assert_eq!(
        header(&headers, "anthropic-ratelimit-requests-limit"),
        Some("1")
    );
    let (status, headers, body) = anthropic_message(&gateway).await;
    assert_eq!(status, 429, "{body}");
    assert!(header(&headers, "retry-after").is_some());
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(&format!("org:{org}")), "{message}");
    // The user's own OpenAI key is not the org's: its calls do not count there.
    let (status, headers, body) = openai_chat(&gateway, 16).await;
    assert_eq!(status, 200, "{body}");
    assert!(header(&headers, "x-ratelimit-limit-requests").is_none());
}

#[tokio::test]
async fn embeddings_count_against_the_callers_limit() {
    let gateway = gateway().await;
    limit(&gateway, RateLimitScope::Principal, &gateway.user, 1, 0).await;
    let embed = || {
        let body = json!({ "model": "text-embedding-3-small", "input": ["one", "two"] });
        gateway.send(
            Method::POST,
            "/v1/embeddings",
            Some(&gateway.token),
            &[],
            Some(body.to_string()),
        )
    };
    let (status, headers, body) = embed().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        header(&headers, "x-ratelimit-remaining-requests"),
        Some("0")
    );
    let (status, headers, body) = embed().await;
    assert_eq!(status, 429, "{body}");
    assert!(header(&headers, "retry-after").is_some());
}
