//! `POST /v1/messages?beta=true` as Claude Code sends it, over real HTTP through a router to
//! the mock providers: the mid-conversation system message, adaptive thinking and effort
//! arrive in each upstream's own terms; `anthropic-beta`, `context_management` and server
//! tools reach only Anthropic-format upstreams; a tool loop on a Gemini model keeps Gemini's
//! thought signature through the Anthropic dialect; tool schemas and inputs reach each
//! upstream as the client wrote them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use keyroute_proto::vault::v1::CreateCredentialRequest;
use keyroute_test_support::with_token;
use reqwest::Method;
use serde_json::{Value, json};
use support::{Gateway, gateway, sse_events};

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

const GOOGLE_KEY: &str = "AIza-edge-google-0123456789";

/// Gives the user a Google key, so Gemini models are served by the mock's Gemini API.
async fn with_google_key(gateway: &Gateway) {
    gateway.mock.add_key("google", GOOGLE_KEY);
    gateway
        .vault
        .client("edge")
        .create_credential(with_token(
            CreateCredentialRequest {
                owner_id: gateway.user.clone(),
                provider: "google".into(),
                secret: GOOGLE_KEY.into(),
                ..Default::default()
            },
            &gateway.token,
        ))
        .await
        .unwrap();
}

/// A streamed Messages call as Claude Code makes it; returns the content blocks a client
/// assembles from the stream.
async fn stream_turn(gateway: &Gateway, messages: Value) -> Vec<Value> {
    let body = json!({
        "model": "gemini-2.5-flash",
        "max_tokens": 4096,
        "stream": true,
        "messages": messages,
        "tools": [{ "name": "Bash", "input_schema": { "type": "object", "properties": { "query": { "type": "string" } } } }],
        "thinking": { "type": "adaptive" }
    });
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
            Some(body.to_string()),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let mut blocks: Vec<Value> = Vec::new();
    let mut inputs: Vec<String> = Vec::new();
    for (name, data) in sse_events(body.as_str().unwrap()) {
        let data: Value = serde_json::from_str(&data).unwrap();
        assert_ne!(name, "error", "{data}");
        let at = data["index"].as_u64().unwrap_or_default() as usize;
        match name.as_str() {
            "content_block_start" => {
                assert_eq!(at, blocks.len(), "blocks are numbered in order");
                blocks.push(data["content_block"].clone());
                inputs.push(String::new());
            }
            "content_block_delta" => {
                let delta = &data["delta"];
                let block = &mut blocks[at];
                match delta["type"].as_str().unwrap() {
                    "input_json_delta" => {
                        inputs[at].push_str(delta["partial_json"].as_str().unwrap())
                    }
                    "text_delta" => {
                        block["text"] = json!(format!(
                            "{}{}",
                            block["text"].as_str().unwrap(),
                            delta["text"].as_str().unwrap()
                        ))
                    }
                    "thinking_delta" => {
                        block["thinking"] = json!(format!(
                            "{}{}",
                            block["thinking"].as_str().unwrap(),
                            delta["thinking"].as_str().unwrap()
                        ))
                    }
                    "signature_delta" => {
                        block["signature"] = json!(format!(
                            "{}{}",
                            block["signature"].as_str().unwrap(),
                            delta["signature"].as_str().unwrap()
                        ))
                    }
                    other => panic!("unexpected delta {other}"),
                }
            }
            _ => {}
        }
    }
    for (block, input) in blocks.iter_mut().zip(inputs) {
        if block["type"] == "tool_use" {
            block["input"] = serde_json::from_str(&input).unwrap();
        }
    }
    blocks
}

fn text_of(blocks: &[Value]) -> String {
    blocks
        .iter()
        .filter(|b| b["type"] == "text")
        .filter_map(|b| b["text"].as_str())
        .collect()
}

#[tokio::test]
async fn a_tool_loop_on_gemini_through_the_anthropic_dialect_keeps_the_thought_signature() {
    let gateway = gateway().await;
    with_google_key(&gateway).await;
    let ask = json!({ "role": "user", "content": "list the files" });

    let first = stream_turn(&gateway, json!([ask])).await;
    let call = first.iter().position(|b| b["type"] == "tool_use").unwrap();
    let carrier = &first[call - 1];
    assert_eq!(carrier["type"], "thinking", "{first:?}");
    let signature = carrier["signature"].as_str().unwrap();
    let gemini_signature = signature
        .strip_prefix("keyroute.thought_signature:")
        .unwrap_or_else(|| panic!("a carrier: {carrier}"));
    assert!(gemini_signature.starts_with("mock-signature-"), "{carrier}");
    let id = first[call]["id"].as_str().unwrap().to_owned();

    // Claude Code's second turn: its history as it was given, and the tool's result.
    let result = json!({ "role": "user", "content": [
        { "type": "tool_result", "tool_use_id": id, "content": "a.txt b.txt" }
    ] });
    let second = stream_turn(
        &gateway,
        json!([ask, { "role": "assistant", "content": first }, result]),
    )
    .await;
    let answer = text_of(&second);
    assert!(answer.contains("[tool results: a.txt b.txt]"), "{answer}");
    assert!(
        answer.contains(&format!("[signatures: {gemini_signature}")),
        "Gemini got its own signature back: {answer}"
    );
    let sent = gateway.mock.requests_for("google").pop().unwrap().json();
    assert_eq!(
        sent["contents"][1]["parts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p.get("functionCall").is_some())
            .unwrap()["thoughtSignature"],
        gemini_signature,
        "{sent}"
    );

    // A client that drops thinking blocks still gets through, on Google's placeholder.
    let without: Vec<Value> = first
        .iter()
        .filter(|b| b["type"] != "thinking")
        .cloned()
        .collect();
    let second = stream_turn(
        &gateway,
        json!([ask, { "role": "assistant", "content": without }, result]),
    )
    .await;
    assert!(
        text_of(&second).contains("[tool results: a.txt b.txt]"),
        "{second:?}"
    );
    let sent = gateway.mock.requests_for("google").pop().unwrap().json();
    assert!(
        sent.to_string()
            .contains("\"thoughtSignature\":\"skip_thought_signature_validator\""),
        "{sent}"
    );
}

/// Tool schemas and tool inputs go upstream as the client wrote them (its key order kept),
/// in Anthropic's format and in OpenAI's.
#[tokio::test]
async fn tool_schemas_and_inputs_reach_each_upstream_as_the_client_wrote_them() {
    const SCHEMA: &str = r#"{"type":"object","properties":{"zeta":{"type":"string"},"alpha":{"type":"integer"}},"required":["zeta"]}"#;
    const INPUT: &str = r#"{"zeta":"z","alpha":1}"#;
    let gateway = gateway().await;
    gateway.grant(5_000_000).await;
    for (model, provider) in [("claude-sonnet-4-6", "anthropic"), ("o4-mini", "openai")] {
        let body = format!(
            r#"{{"model":"{model}","max_tokens":64,"messages":[{{"role":"user","content":"run it"}},{{"role":"assistant","content":[{{"type":"tool_use","id":"toolu_1","name":"Run","input":{INPUT}}}]}},{{"role":"user","content":[{{"type":"tool_result","tool_use_id":"toolu_1","content":"done"}}]}}],"tools":[{{"name":"Run","input_schema":{SCHEMA}}}]}}"#
        );
        let headers = [
            ("anthropic-version", "2023-06-01"),
            ("x-api-key", gateway.token.as_str()),
        ];
        let (status, _, answer) = gateway
            .send(Method::POST, "/v1/messages", None, &headers, Some(body))
            .await;
        assert_eq!(status, 200, "{model}: {answer}");
        let upstream = gateway.mock.requests_for(provider).pop().unwrap();
        let sent = String::from_utf8(upstream.body.clone()).unwrap();
        assert!(sent.contains(SCHEMA), "{model}: {sent}");
        if provider == "anthropic" {
            assert!(sent.contains(&format!(r#""input":{INPUT}"#)), "{sent}");
        } else {
            let sent = upstream.json();
            let arguments = &sent["messages"][1]["tool_calls"][0]["function"]["arguments"];
            assert_eq!(arguments, INPUT, "{sent}");
        }
    }
}
