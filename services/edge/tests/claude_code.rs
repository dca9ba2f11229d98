//! `POST /v1/messages?beta=true` as Claude Code sends it, over real HTTP through a router to
//! the mock providers: the mid-conversation system message, adaptive thinking and effort
//! arrive in each upstream's own terms; `anthropic-beta`, `context_management` and server
//! tools reach only Anthropic-format upstreams.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use reqwest::Method;
use serde_json::{Value, json};
use support::{Gateway, gateway};

const BETA: &str =
    "claude-code-20250219,mid-conversation-system-2026-04-07,context-management-2025-06-27";

fn claude_code(model: &str) -> String {
    json!({
        "model": model,
        "max_tokens": 4096,
        "system": [{ "type": "text", "text": "You are a coding agent." }],
        "messages": [
            { "role": "user", "content": "first question" },
            { "role": "assistant", "content": [{ "type": "text", "text": "a first answer" }] },
            { "role": "system", "content": "Answer in French." },
            { "role": "user", "content": [{ "type": "text", "text": "second question" }] }
        ],
        "tools": [
            { "name": "Bash", "input_schema": { "type": "object" } },
            { "type": "web_search_20250305", "name": "web_search", "max_uses": 5 }
        ],
        "tool_choice": { "type": "none" },
        "thinking": { "type": "adaptive" },
        "output_config": { "effort": "high" },
        "context_management": { "edits": [{ "type": "clear_thinking_20251015", "keep": "all" }] }
    })
    .to_string()
}

async fn send(gateway: &Gateway, model: &str) -> (u16, Value) {
    let headers = [
        ("anthropic-version", "2023-06-01"),
        ("x-api-key", gateway.token.as_str()),
        ("anthropic-beta", BETA),
    ];
    let (status, _, body) = gateway
        .send(
            Method::POST,
            "/v1/messages?beta=true",
            None,
            &headers,
            Some(claude_code(model)),
        )
        .await;
    (status, body)
}

fn answer_text(body: &Value) -> String {
    body["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "text")
        .filter_map(|b| b["text"].as_str())
        .collect()
}

#[tokio::test]
async fn claude_code_messages_reach_anthropic_and_openai_each_in_their_terms() {
    let gateway = gateway().await;
    gateway.grant(5_000_000).await;

    let (status, body) = send(&gateway, "claude-sonnet-4-6").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        answer_text(&body),
        "echo: second question [reasoning: thinking=adaptive effort=high] [system: Answer in French.]"
    );
    let upstream = gateway.mock.requests_for("anthropic").pop().unwrap();
    assert_eq!(upstream.header("anthropic-beta"), Some(BETA));
    let sent = upstream.json();
    assert_eq!(sent["messages"][2]["role"], "system", "{sent}");
    assert_eq!(sent["thinking"], json!({ "type": "adaptive" }));
    assert_eq!(sent["output_config"], json!({ "effort": "high" }));

    let (status, body) = send(&gateway, "o4-mini").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        answer_text(&body),
        "echo: second question [reasoning: reasoning_effort=high] [system: Answer in French.]"
    );
    let upstream = gateway.mock.requests_for("openai").pop().unwrap();
    assert_eq!(upstream.header("anthropic-beta"), None);
    let sent = upstream.json();
    assert_eq!(
        sent["messages"][3],
        json!({ "role": "system", "content": "Answer in French." })
    );
    assert_eq!(sent["reasoning_effort"], "high");
    for absent in ["context_management", "thinking", "output_config"] {
        assert!(sent.get(absent).is_none(), "{absent}: {sent}");
    }
    assert_eq!(
        sent["tools"].as_array().unwrap().len(),
        1,
        "no server tool: {sent}"
    );
}
