//! The contract for Responses requests: OpenAI and Azure OpenAI keys serve them through their
//! Responses endpoint, every other key as a chat without the hosted tools; managed keys send
//! no hosted tools; only OpenAI and Azure continue a stored response.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use keyroute_wire::contract::{Contract, Operation};
use keyroute_wire::registry::{self, PROVIDERS};
use keyroute_wire::responses;
use serde_json::{Value, json};

fn codex_like(previous: &str) -> keyroute_wire::canonical::pb::ChatRequest {
    let mut body = json!({
        "model": "gpt-5",
        "input": "hi",
        "tools": [
            {"type": "function", "name": "exec_command", "strict": false, "parameters": {"type": "object"}},
            {"type": "web_search", "external_web_access": false}
        ],
        "store": false
    });
    if !previous.is_empty() {
        body["previous_response_id"] = json!(previous);
    }
    responses::parse_request(body.to_string().as_bytes())
        .unwrap()
        .request
}

fn sent(
    contract: &Contract<'_>,
    request: &keyroute_wire::canonical::pb::ChatRequest,
) -> (String, Value) {
    let http = contract.chat_request(request, "gpt-5", false).unwrap();
    (http.path, serde_json::from_slice(&http.body).unwrap())
}

#[test]
fn openai_and_azure_serve_responses_requests_through_responses() {
    let request = codex_like("");
    let empty = HashMap::new();
    let openai = Contract::new(registry::provider("openai").unwrap(), None, "gpt-5", &empty)
        .serving(&request);
    let (path, body) = sent(&openai, &request);
    assert_eq!(path, "/responses");
    assert_eq!(
        body["tools"][1],
        json!({"type": "web_search", "external_web_access": false})
    );
    assert_eq!(body["store"], false);

    let azure_config: HashMap<String, String> =
        [("deployment", "gpt5-prod"), ("api_version", "2024-10-21")]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
    let azure = Contract::new(
        registry::provider("azure").unwrap(),
        None,
        "gpt-5",
        &azure_config,
    )
    .serving(&request);
    assert_eq!(azure.upstream_model("gpt-5"), "gpt5-prod");
    let http = azure.chat_request(&request, "gpt5-prod", false).unwrap();
    assert_eq!(http.path, "/openai/v1/responses");

    // Without `responses` options, the same keys speak Chat Completions.
    let mut chat = request.clone();
    chat.responses = None;
    let plain =
        Contract::new(registry::provider("openai").unwrap(), None, "gpt-5", &empty).serving(&chat);
    assert_eq!(sent(&plain, &chat).0, "/chat/completions");
    // Nor without `serving`.
    let unfixed = Contract::new(registry::provider("openai").unwrap(), None, "gpt-5", &empty);
    assert_eq!(sent(&unfixed, &request).0, "/chat/completions");
}

#[test]
fn managed_keys_send_no_hosted_tools() {
    let request = codex_like("resp_1");
    let empty = HashMap::new();
    let managed = Contract::new(registry::provider("openai").unwrap(), None, "gpt-5", &empty)
        .priced_only()
        .serving(&request);
    let (_, body) = sent(&managed, &request);
    assert_eq!(body["tools"].as_array().unwrap().len(), 1);
    assert_eq!(body["tools"][0]["name"], "exec_command");
    assert_eq!(body["previous_response_id"], "resp_1");
    assert_eq!(body["store"], false);
    assert!(managed.supports(Operation::ContinueResponse));
    assert!(!managed.supports(Operation::HostedTools));
}

#[test]
fn only_openai_and_azure_continue_responses_or_run_hosted_tools() {
    let empty = HashMap::new();
    for provider in PROVIDERS {
        let contract = Contract::new(provider, None, "some-model", &empty);
        let speaks = matches!(provider.id, "openai" | "azure");
        assert_eq!(
            contract.supports(Operation::ContinueResponse),
            speaks,
            "{}",
            provider.id
        );
        assert_eq!(
            contract.supports(Operation::HostedTools),
            speaks,
            "{}",
            provider.id
        );
    }
    assert_eq!(Operation::required_by(&codex_like("")), []);
    assert_eq!(
        Operation::required_by(&codex_like("resp_1")),
        [Operation::ContinueResponse]
    );
}

#[test]
fn other_providers_serve_the_chat_without_hosted_tools() {
    let request = codex_like("");
    let empty = HashMap::new();
    let anthropic = Contract::new(
        registry::provider("anthropic").unwrap(),
        None,
        "claude-sonnet-4-6",
        &empty,
    )
    .serving(&request);
    let http = anthropic
        .chat_request(&request, "claude-sonnet-4-6", false)
        .unwrap();
    let body: Value = serde_json::from_slice(&http.body).unwrap();
    assert_eq!(http.path, "/v1/messages");
    let tools = body["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 1);
    assert_eq!(tools[0]["name"], "exec_command");
}
