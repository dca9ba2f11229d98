//! Anthropic Messages as Claude Code sends it today (mid-conversation system messages,
//! adaptive thinking with effort, context management, server tools, beta flags), built for
//! every upstream format; OpenAI `reasoning_effort` values mapped likewise; and empty signed
//! thinking blocks returned to Anthropic clients unchanged.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{accumulate, anthropic as anthropic_decoder, decode, render, sse_events};
use keyroute_wire::anthropic::{self, AnthropicStreamRenderer, Flavor};
use keyroute_wire::canonical::pb;
use keyroute_wire::http::HttpRequest;
use keyroute_wire::openai::{self, Endpoint, Quirks};
use keyroute_wire::{bedrock, gemini};
use serde_json::{Value, json};

const BETAS: &[&str] = &[
    "claude-code-20250219",
    "mid-conversation-system-2026-04-07",
    "context-management-2025-06-27",
];

fn body(request: &HttpRequest) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

fn claude_code_request() -> Value {
    json!({
        "model": "claude-sonnet-4-6",
        "max_tokens": 32000,
        "system": [{ "type": "text", "text": "You are Claude Code.", "cache_control": { "type": "ephemeral" } }],
        "messages": [
            { "role": "user", "content": [{ "type": "text", "text": "say hi" }] },
            { "role": "assistant", "content": [
                { "type": "thinking", "thinking": "", "signature": "EqQBCkYsig" },
                { "type": "text", "text": "hi" }
            ] },
            { "role": "system", "content": "The user switched to plan mode." },
            { "role": "user", "content": [{ "type": "text", "text": "again", "cache_control": { "type": "ephemeral" } }] }
        ],
        "tools": [
            { "name": "Bash", "description": "Run a command", "input_schema": { "type": "object" } },
            { "type": "web_search_20250305", "name": "web_search", "max_uses": 5 },
            { "type": "web_fetch_20250910", "name": "web_fetch" }
        ],
        "thinking": { "type": "adaptive" },
        "output_config": { "effort": "high" },
        "context_management": { "edits": [{ "type": "clear_thinking_20251015", "keep": "all" }] },
        "metadata": { "user_id": "user-1" },
        "stream": true
    })
}

fn parsed(value: &Value) -> pb::ChatRequest {
    let mut request = anthropic::parse_request(value.to_string().as_bytes())
        .unwrap()
        .request;
    request.anthropic_beta = BETAS.iter().map(|b| (*b).to_owned()).collect();
    request
}

fn openai_body(request: &pb::ChatRequest, model: &str, quirks: Quirks) -> Value {
    body(&openai::build_request(request, model, false, Endpoint::ChatCompletions, quirks).unwrap())
}

#[test]
fn claude_code_requests_reach_anthropic_as_sent() {
    let original = claude_code_request();
    let request = parsed(&original);
    let built =
        anthropic::build_request(&request, "claude-sonnet-4-6", true, Flavor::Direct).unwrap();
    let sent = body(&built);
    assert_eq!(sent["messages"], original["messages"].as_array().map(|m| {
        let mut m = m.clone();
        m[2] = json!({ "role": "system", "content": [{ "type": "text", "text": "The user switched to plan mode." }] });
        Value::Array(m)
    }).unwrap(), "the mid-conversation system message stays in place");
    assert_eq!(sent["system"], original["system"]);
    assert_eq!(sent["thinking"], json!({ "type": "adaptive" }));
    assert_eq!(sent["output_config"], json!({ "effort": "high" }));
    assert_eq!(sent["context_management"], original["context_management"]);
    assert_eq!(
        sent["tools"], original["tools"],
        "server tools pass unchanged, after the client tools"
    );
    let beta = built
        .headers
        .iter()
        .find(|(name, _)| *name == "anthropic-beta")
        .unwrap();
    assert_eq!(beta.1, BETAS.join(","));

    // Without the beta, a later system message joins the top-level system prompt.
    let mut no_beta = request.clone();
    no_beta.anthropic_beta.clear();
    let sent = body(
        &anthropic::build_request(&no_beta, "claude-sonnet-4-6", false, Flavor::Direct).unwrap(),
    );
    assert!(
        sent["messages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["role"] != "system")
    );
    assert_eq!(sent["system"][1]["text"], "The user switched to plan mode.");
}

#[test]
fn mid_conversation_system_messages_keep_their_place_everywhere() {
    let request = parsed(&claude_code_request());
    let sent = openai_body(&request, "o4-mini", Quirks::OPENAI);
    let roles: Vec<&str> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "system", "user"]);
    assert_eq!(
        sent["messages"][3]["content"],
        "The user switched to plan mode."
    );

    let sent = openai_body(&request, "mistral-large-latest", Quirks::MISTRAL);
    assert_eq!(sent["messages"][3]["role"], "system");

    let sent = body(
        &gemini::build_request(
            &request,
            "gemini-2.5-flash",
            false,
            gemini::Flavor::AiStudio,
        )
        .unwrap(),
    );
    assert_eq!(
        sent["systemInstruction"]["parts"][0]["text"],
        "You are Claude Code."
    );
    let contents = sent["contents"].as_array().unwrap();
    assert_eq!(contents.len(), 3, "{contents:?}");
    assert_eq!(contents[2]["role"], "user");
    assert_eq!(
        contents[2]["parts"][0]["text"],
        "<system>\nThe user switched to plan mode.\n</system>"
    );
    assert_eq!(contents[2]["parts"][1]["text"], "again");

    let sent =
        body(&bedrock::build_request(&request, "us.anthropic.claude-sonnet-4-6", false).unwrap());
    assert_eq!(sent["system"][0]["text"], "You are Claude Code.");
    let messages = sent["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3);
    assert_eq!(
        messages[2]["content"][0]["text"],
        "<system>\nThe user switched to plan mode.\n</system>"
    );
}

#[test]
fn anthropic_only_fields_reach_only_anthropic() {
    let request = parsed(&claude_code_request());
    let openai = openai_body(&request, "o4-mini", Quirks::OPENAI);
    let gemini = body(
        &gemini::build_request(
            &request,
            "gemini-2.5-flash",
            false,
            gemini::Flavor::AiStudio,
        )
        .unwrap(),
    );
    let bedrock =
        body(&bedrock::build_request(&request, "us.anthropic.claude-sonnet-4-6", false).unwrap());
    for sent in [&openai, &gemini, &bedrock] {
        let text = sent.to_string();
        assert!(!text.contains("context_management"), "{text}");
        assert!(!text.contains("web_search"), "{text}");
        assert!(!text.contains("clear_thinking"), "{text}");
    }
    assert_eq!(
        openai["tools"].as_array().unwrap().len(),
        1,
        "only the client tool"
    );
    for built in [
        openai::build_request(
            &request,
            "o4-mini",
            false,
            Endpoint::ChatCompletions,
            Quirks::OPENAI,
        )
        .unwrap(),
        gemini::build_request(
            &request,
            "gemini-2.5-flash",
            false,
            gemini::Flavor::AiStudio,
        )
        .unwrap(),
        bedrock::build_request(&request, "us.anthropic.claude-sonnet-4-6", false).unwrap(),
    ] {
        assert!(
            built
                .headers
                .iter()
                .all(|(name, _)| *name != "anthropic-beta")
        );
    }
}

#[test]
fn adaptive_thinking_and_effort_map_to_each_reasoning_control() {
    let request = parsed(&claude_code_request());
    assert_eq!(
        openai_body(&request, "o4-mini", Quirks::OPENAI)["reasoning_effort"],
        "high"
    );
    assert!(
        openai_body(&request, "gpt-4o", Quirks::OPENAI)
            .get("reasoning_effort")
            .is_none(),
        "gpt-4o takes no reasoning effort"
    );
    assert_eq!(
        openai_body(&request, "mistral-large-latest", Quirks::MISTRAL)["reasoning_effort"],
        "high"
    );
    let gemini_config = |model: &str| {
        body(&gemini::build_request(&request, model, false, gemini::Flavor::AiStudio).unwrap())["generationConfig"]["thinkingConfig"].clone()
    };
    assert_eq!(
        gemini_config("gemini-2.5-flash"),
        json!({ "thinkingBudget": 24576, "includeThoughts": true })
    );
    assert_eq!(
        gemini_config("gemini-2.5-pro"),
        json!({ "thinkingBudget": 24576, "includeThoughts": true })
    );
    assert_eq!(
        gemini_config("gemini-3-pro-preview"),
        json!({ "thinkingLevel": "high", "includeThoughts": true })
    );
    let bedrock =
        body(&bedrock::build_request(&request, "us.anthropic.claude-sonnet-4-6", false).unwrap());
    assert_eq!(
        bedrock["additionalModelRequestFields"],
        json!({ "thinking": { "type": "adaptive" }, "output_config": { "effort": "high" } })
    );
    let nova = body(&bedrock::build_request(&request, "amazon.nova-2-lite-v1:0", false).unwrap());
    assert_eq!(
        nova["additionalModelRequestFields"]["reasoningConfig"],
        json!({ "type": "enabled", "maxReasoningEffort": "high" })
    );

    // Adaptive without effort: the model's default, a dynamic Gemini 2.5 budget.
    let mut plain = claude_code_request();
    plain.as_object_mut().unwrap().remove("output_config");
    let request = parsed(&plain);
    assert!(
        openai_body(&request, "o4-mini", Quirks::OPENAI)
            .get("reasoning_effort")
            .is_none()
    );
    let gemini = body(
        &gemini::build_request(
            &request,
            "gemini-2.5-flash",
            false,
            gemini::Flavor::AiStudio,
        )
        .unwrap(),
    );
    assert_eq!(
        gemini["generationConfig"]["thinkingConfig"],
        json!({ "thinkingBudget": -1, "includeThoughts": true })
    );
    let sent = body(
        &anthropic::build_request(&request, "claude-sonnet-4-6", false, Flavor::Direct).unwrap(),
    );
    assert_eq!(sent["thinking"], json!({ "type": "adaptive" }));
    assert!(sent.get("output_config").is_none());
}

fn openai_chat(effort: &str) -> pb::ChatRequest {
    let value = json!({ "model": "o4-mini", "messages": [{ "role": "user", "content": "hi" }], "reasoning_effort": effort });
    openai::parse_request(value.to_string().as_bytes())
        .unwrap()
        .request
}

#[test]
fn openai_reasoning_efforts_map_to_every_provider() {
    // effort: (OpenAI, Mistral, Anthropic thinking type, Anthropic effort, Gemini 2.5 Flash budget, Gemini 3 Pro level, Gemini 3 Flash level)
    let table = [
        (
            "none", "none", "none", "disabled", None, 0, "low", "minimal",
        ),
        (
            "minimal",
            "minimal",
            "none",
            "enabled",
            Some("low"),
            512,
            "low",
            "minimal",
        ),
        (
            "low",
            "low",
            "high",
            "enabled",
            Some("low"),
            1024,
            "low",
            "low",
        ),
        (
            "medium",
            "medium",
            "high",
            "enabled",
            Some("medium"),
            8192,
            "high",
            "medium",
        ),
        (
            "high",
            "high",
            "high",
            "enabled",
            Some("high"),
            24576,
            "high",
            "high",
        ),
        (
            "xhigh",
            "xhigh",
            "high",
            "enabled",
            Some("max"),
            24576,
            "high",
            "high",
        ),
    ];
    for (
        effort,
        sent_openai,
        sent_mistral,
        thinking,
        anthropic_effort,
        budget,
        pro_level,
        flash_level,
    ) in table
    {
        let request = openai_chat(effort);
        assert_eq!(
            request.reasoning.as_ref().unwrap().enabled,
            effort != "none",
            "{effort}"
        );
        assert_eq!(
            openai_body(&request, "o4-mini", Quirks::OPENAI)["reasoning_effort"],
            sent_openai,
            "{effort}"
        );
        assert_eq!(
            openai_body(&request, "magistral-medium-latest", Quirks::MISTRAL)["reasoning_effort"],
            sent_mistral,
            "{effort}"
        );
        let sent = body(
            &anthropic::build_request(&request, "claude-sonnet-4-6", false, Flavor::Direct)
                .unwrap(),
        );
        assert_eq!(sent["thinking"]["type"], thinking, "{effort}");
        assert_eq!(
            sent["output_config"]["effort"].as_str(),
            anthropic_effort,
            "{effort}"
        );
        let config = |model: &str| {
            body(&gemini::build_request(&request, model, false, gemini::Flavor::AiStudio).unwrap())
                ["generationConfig"]["thinkingConfig"]
                .clone()
        };
        assert_eq!(
            config("gemini-2.5-flash")["thinkingBudget"],
            budget,
            "{effort}"
        );
        assert_eq!(
            config("gemini-3-pro-preview")["thinkingLevel"],
            pro_level,
            "{effort}"
        );
        assert_eq!(
            config("gemini-3-flash-preview")["thinkingLevel"],
            flash_level,
            "{effort}"
        );
        assert_eq!(
            config("gemini-2.5-flash").get("includeThoughts").is_some(),
            effort != "none",
            "{effort}"
        );
        assert!(config("gemini-2.0-flash").is_null(), "{effort}");
    }
    let max = body(
        &anthropic::build_request(
            &openai_chat("xhigh"),
            "claude-opus-4-6",
            false,
            Flavor::Direct,
        )
        .unwrap(),
    );
    assert_eq!(max["output_config"]["effort"], "max");
}

/// An Anthropic stream whose thinking was omitted: an empty thinking block carrying only a
/// signature, then a redacted one, then text.
const EMPTY_THINKING_STREAM: &str = concat!(
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-6\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":12,\"output_tokens\":1}}}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"EqQBCkYIBxgCKkBsig==\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"redacted_thinking\",\"data\":\"EmwKAhgBEgy3vredacted\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi.\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n",
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":7}}\n\n",
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
);

fn expected_blocks() -> Value {
    json!([
        { "type": "thinking", "thinking": "", "signature": "EqQBCkYIBxgCKkBsig==" },
        { "type": "redacted_thinking", "data": "EmwKAhgBEgy3vredacted" },
        { "type": "text", "text": "Hi." }
    ])
}

/// The content blocks a client assembles from an Anthropic stream.
fn blocks_of_stream(bytes: &[u8]) -> Value {
    let mut blocks: Vec<Value> = Vec::new();
    for event in sse_events(bytes) {
        let data: Value = serde_json::from_str(&event.data).unwrap();
        match data["type"].as_str().unwrap_or_default() {
            "content_block_start" => blocks.push(data["content_block"].clone()),
            "content_block_delta" => {
                let block = blocks.last_mut().unwrap();
                let delta = &data["delta"];
                for (kind, key) in [
                    ("text_delta", "text"),
                    ("thinking_delta", "thinking"),
                    ("signature_delta", "signature"),
                ] {
                    if delta["type"] == kind {
                        let joined = format!(
                            "{}{}",
                            block[key].as_str().unwrap_or_default(),
                            delta[key].as_str().unwrap()
                        );
                        block[key] = json!(joined);
                    }
                }
            }
            _ => {}
        }
    }
    Value::Array(blocks)
}

#[test]
fn empty_signed_thinking_round_trips_at_every_split() {
    let bytes = EMPTY_THINKING_STREAM.as_bytes();
    let whole = accumulate(&decode(anthropic_decoder, bytes, &[]).unwrap());
    let content = &whole.choices[0].message.as_ref().unwrap().content;
    assert_eq!(content.len(), 3, "{content:?}");
    for split in 0..=bytes.len() {
        let events = decode(anthropic_decoder, bytes, &[split]).unwrap();
        assert_eq!(accumulate(&events), whole, "split at {split}");
        let rendered = render(&mut AnthropicStreamRenderer::new(), &events);
        assert_eq!(
            blocks_of_stream(&rendered),
            expected_blocks(),
            "split at {split}"
        );
    }
    let every: Vec<usize> = (1..bytes.len()).collect();
    let events = decode(anthropic_decoder, bytes, &every).unwrap();
    assert_eq!(accumulate(&events), whole, "byte by byte");

    // Non-streaming, the same blocks.
    let rendered: Value = serde_json::from_slice(&anthropic::render_response(&whole)).unwrap();
    assert_eq!(rendered["content"], expected_blocks());

    // Sent back in the next turn, unchanged.
    let next = json!({
        "model": "claude-sonnet-4-6",
        "max_tokens": 100,
        "messages": [
            { "role": "user", "content": "hi" },
            { "role": "assistant", "content": expected_blocks() },
            { "role": "user", "content": "again" }
        ]
    });
    let request = anthropic::parse_request(next.to_string().as_bytes())
        .unwrap()
        .request;
    let sent = body(
        &anthropic::build_request(&request, "claude-sonnet-4-6", false, Flavor::Direct).unwrap(),
    );
    assert_eq!(sent["messages"][1]["content"], expected_blocks());
}

#[test]
fn system_messages_cleared_at_the_next_user_turn_are_dropped_once_it_came() {
    let value = json!({
        "model": "claude-sonnet-4-6",
        "max_tokens": 100,
        "messages": [
            { "role": "user", "content": "one" },
            { "role": "system", "content": [{ "type": "text", "text": "gone" }], "clear_at": "next_user_message" },
            { "role": "assistant", "content": "ok" },
            { "role": "user", "content": "two" },
            { "role": "system", "content": "kept", "clear_at": "next_user_message" }
        ]
    });
    let request = parsed(&value);
    let sent = openai_body(&request, "o4-mini", Quirks::OPENAI);
    let texts: Vec<&Value> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["content"])
        .collect();
    assert_eq!(
        texts,
        [&json!("one"), &json!("ok"), &json!("two"), &json!("kept")]
    );
}

#[test]
fn hosts_that_take_system_messages_only_at_the_top_get_user_text() {
    let request = parsed(&claude_code_request());
    let sent = openai_body(&request, "sonar", Quirks::PERPLEXITY);
    let roles: Vec<&str> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    let last = sent["messages"][3]["content"].to_string();
    assert!(
        last.contains("<system>\\nThe user switched to plan mode.\\n</system>"),
        "{last}"
    );
    assert!(last.contains("again"), "{last}");
}
