//! `POST /v1/messages` over real HTTP through routers and the vault to the mock providers:
//! Anthropic's response and event shapes, both directions across dialects, `anthropic-beta`
//! passed through to Anthropic upstreams, and Anthropic-shaped errors for every bad input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use keyroute_proto::contract::header;
use reqwest::Method;
use serde_json::{Value, json};
use support::{BODY_LIMIT, Gateway, gateway, sse_events};

fn message(model: &str, stream: bool) -> String {
    json!({
        "model": model,
        "max_tokens": 256,
        "stream": stream,
        "messages": [{ "role": "user", "content": "hello messages" }],
    })
    .to_string()
}

async fn messages(
    gateway: &Gateway,
    token: Option<&str>,
    extra: &[(&str, &str)],
    body: String,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut headers = vec![("anthropic-version", "2023-06-01")];
    if let Some(token) = token {
        headers.push(("x-api-key", token));
    }
    headers.extend_from_slice(extra);
    gateway
        .send(Method::POST, "/v1/messages", None, &headers, Some(body))
        .await
}

fn assert_anthropic_error(body: &Value, error_type: &str) {
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], error_type, "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
}

#[tokio::test]
async fn messages_answer_and_stream_in_anthropics_shape_with_beta_flags_passed_on() {
    let gateway = gateway().await;
    gateway.grant(5_000_000).await;
    let (status, headers, body) = messages(
        &gateway,
        Some(&gateway.token),
        &[("anthropic-beta", "prompt-caching-2024-07-31")],
        message("claude-sonnet-4-5", false),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers[header::KEY_SOURCE], "managed");
    assert_eq!(headers[header::PROVIDER], "anthropic");
    assert_eq!(body["type"], "message");
    assert_eq!(body["role"], "assistant");
    assert!(body["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(body["content"][0]["type"], "text");
    assert_eq!(body["content"][0]["text"], "echo: hello messages");
    assert_eq!(body["stop_reason"], "end_turn");
    assert!(body["usage"]["input_tokens"].as_u64().unwrap() > 0);
    let upstream = gateway.mock.requests_for("anthropic");
    assert_eq!(
        upstream.last().unwrap().header("anthropic-beta"),
        Some("prompt-caching-2024-07-31"),
        "the beta flag reaches Anthropic"
    );

    let response = gateway
        .http
        .post(format!("{}/v1/messages", gateway.url))
        .header("x-api-key", &gateway.token)
        .header("anthropic-version", "2023-06-01")
        .body(message("claude-sonnet-4-5", true))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let events = sse_events(&response.text().await.unwrap());
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names.first(), Some(&"message_start"), "{names:?}");
    assert_eq!(names.last(), Some(&"message_stop"), "{names:?}");
    assert!(names.contains(&"content_block_delta"), "{names:?}");
    let text: String = events
        .iter()
        .filter(|(name, _)| name == "content_block_delta")
        .filter_map(|(_, data)| {
            let data: Value = serde_json::from_str(data).unwrap();
            data["delta"]["text"].as_str().map(str::to_owned)
        })
        .collect();
    assert_eq!(text, "echo: hello messages");
}

#[tokio::test]
async fn either_dialect_reaches_a_key_of_the_other_format() {
    let gateway = gateway().await;
    gateway.grant(5_000_000).await;
    // Anthropic in, OpenAI key upstream.
    let (status, headers, body) = messages(
        &gateway,
        Some(&gateway.token),
        &[],
        message("gpt-4o-mini", false),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers[header::PROVIDER], "openai");
    assert_eq!(body["type"], "message");
    assert_eq!(body["content"][0]["text"], "echo: hello messages");
    // OpenAI in, Anthropic (managed) key upstream.
    let chat = json!({
        "model": "claude-sonnet-4-5",
        "messages": [{ "role": "user", "content": "hello chat" }],
    })
    .to_string();
    let (status, headers, body) = gateway
        .send(
            Method::POST,
            "/v1/chat/completions",
            Some(&gateway.token),
            &[],
            Some(chat),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers[header::PROVIDER], "anthropic");
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["choices"][0]["message"]["content"], "echo: hello chat");
}

#[tokio::test]
async fn bad_input_gets_anthropic_errors_with_the_right_status() {
    let gateway = gateway().await;
    let token = Some(gateway.token.as_str());

    let (status, _, body) =
        messages(&gateway, None, &[], message("claude-sonnet-4-5", false)).await;
    assert_eq!(status, 401);
    assert_anthropic_error(&body, "authentication_error");
    let (status, _, body) = messages(
        &gateway,
        Some("kr_not-a-real-token-0123456789abcdef"),
        &[],
        message("claude-sonnet-4-5", false),
    )
    .await;
    assert_eq!(status, 401);
    assert_anthropic_error(&body, "authentication_error");

    let (status, _, body) = messages(&gateway, token, &[], "{\"model\":".into()).await;
    assert_eq!(status, 400);
    assert_anthropic_error(&body, "invalid_request_error");
    let missing = json!({ "model": "claude-sonnet-4-5", "messages": [] }).to_string();
    let (status, _, body) = messages(&gateway, token, &[], missing).await;
    assert_eq!(status, 400);
    assert_anthropic_error(&body, "invalid_request_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_tokens"),
        "{body}"
    );

    let (status, _, body) =
        messages(&gateway, token, &[], message("claude-sonet-4-5", false)).await;
    assert_eq!(status, 404);
    assert_anthropic_error(&body, "not_found_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("claude-sonnet-4-5"),
        "a close match is suggested: {body}"
    );

    // A managed-only model without credit: said plainly, in Anthropic's shape.
    let (status, _, body) =
        messages(&gateway, token, &[], message("claude-sonnet-4-5", false)).await;
    assert_eq!(status, 400, "{body}");
    assert_anthropic_error(&body, "invalid_request_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("balance"),
        "{body}"
    );

    let huge = json!({
        "model": "claude-sonnet-4-5", "max_tokens": 16,
        "messages": [{ "role": "user", "content": "x".repeat(BODY_LIMIT) }],
    })
    .to_string();
    let (status, _, body) = messages(&gateway, token, &[], huge).await;
    assert_eq!(status, 413);
    assert_anthropic_error(&body, "request_too_large");
    assert!(
        gateway.mock.requests_for("anthropic").is_empty(),
        "nothing reached the provider"
    );
}

#[tokio::test]
async fn tokens_are_counted_by_anthropic_where_its_key_serves_and_estimated_elsewhere() {
    let gateway = gateway().await;
    gateway.grant(5_000_000).await;
    let count = |model: &str| {
        json!({
            "model": model,
            "system": "be brief",
            "messages": [{ "role": "user", "content": "hello there messages" }],
        })
        .to_string()
    };
    let headers = [
        ("x-api-key", gateway.token.as_str()),
        ("anthropic-version", "2023-06-01"),
    ];
    let (status, response_headers, body) = gateway
        .send(
            Method::POST,
            "/v1/messages/count_tokens",
            None,
            &headers,
            Some(count("claude-sonnet-4-5")),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(response_headers[header::TOKEN_COUNT], "exact");
    // The mock counts a token per word and per message: 3 words + 1 message + 2 system words.
    assert_eq!(body, json!({ "input_tokens": 6 }));
    let counted = gateway.mock.requests_for("anthropic");
    assert_eq!(counted.last().unwrap().path, "/v1/messages/count_tokens");

    let (status, response_headers, body) = gateway
        .send(
            Method::POST,
            "/v1/messages/count_tokens",
            None,
            &headers,
            Some(count("gpt-4o-mini")),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(response_headers[header::TOKEN_COUNT], "estimate");
    assert_eq!(response_headers[header::PROVIDER], "openai");
    assert!(body["input_tokens"].as_u64().unwrap() > 0);
    assert!(
        gateway.mock.requests_for("openai").is_empty(),
        "an estimate calls no provider"
    );

    let (status, _, body) = gateway
        .send(
            Method::POST,
            "/v1/messages/count_tokens",
            None,
            &headers,
            Some("{\"model\":\"claude-sonnet-4-5\"}".into()),
        )
        .await;
    assert_eq!(status, 400);
    assert_anthropic_error(&body, "invalid_request_error");
}
