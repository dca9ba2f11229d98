//! Non-streaming request translation for the two client dialects: a client request maps to
//! canonical and back without losing any field both sides have; across dialects the parts
//! that exist in both survive; provider flavours put things where each expects them.
//! (Answers and errors: `answers.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keyroute_wire::anthropic::{self, Flavor};
use keyroute_wire::canonical::pb;
use keyroute_wire::openai::{self, Endpoint, Quirks};
use serde_json::{Value, json};

fn body(request: &keyroute_wire::http::HttpRequest) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

fn openai_request() -> Value {
    json!({
        "model": "o4-mini",
        "messages": [
            { "role": "system", "content": "Be brief." },
            { "role": "developer", "content": "Answer in French." },
            { "role": "user", "content": [
                { "type": "text", "text": "What is in this image, and the weather in Paris?" },
                { "type": "image_url", "image_url": { "url": "https://example.com/cat.png", "detail": "low" } }
            ], "name": "ada" },
            { "role": "assistant", "content": null, "tool_calls": [
                { "id": "call_1", "type": "function", "function": { "name": "get_weather", "arguments": "{\"city\":\"Paris\"}" } }
            ] },
            { "role": "tool", "tool_call_id": "call_1", "content": "18C and sunny" }
        ],
        "tools": [{ "type": "function", "function": { "name": "get_weather", "description": "Weather by city", "parameters": { "type": "object", "properties": { "city": { "type": "string" } }, "required": ["city"] }, "strict": true } }],
        "tool_choice": "required",
        "parallel_tool_calls": false,
        "response_format": { "type": "json_schema", "json_schema": { "name": "answer", "schema": { "type": "object" }, "strict": true } },
        "temperature": 0.2,
        "top_p": 0.9,
        "max_completion_tokens": 300,
        "stop": ["END"],
        "seed": 7,
        "presence_penalty": 0.1,
        "frequency_penalty": 0.3,
        "n": 2,
        "user": "user-42",
        "reasoning_effort": "low",
        "logit_bias": { "50256": -100 }
    })
}

#[test]
fn openai_requests_round_trip_through_canonical() {
    let original = openai_request();
    let parsed = openai::parse_request(original.to_string().as_bytes()).unwrap();
    assert!(!parsed.stream);
    let rebuilt = openai::build_request(
        &parsed.request,
        "o4-mini",
        false,
        Endpoint::ChatCompletions,
        Quirks::OPENAI,
    )
    .unwrap();
    assert_eq!(rebuilt.path, "/chat/completions");
    assert_eq!(body(&rebuilt), original);
}

#[test]
fn openai_streaming_options_and_compatible_quirks() {
    let mut original = openai_request();
    original["stream"] = json!(true);
    original["stream_options"] = json!({ "include_usage": true });
    let parsed = openai::parse_request(original.to_string().as_bytes()).unwrap();
    assert!(parsed.stream && parsed.include_usage);
    let compatible = body(
        &openai::build_request(
            &parsed.request,
            "deepseek-chat",
            true,
            Endpoint::ChatCompletions,
            Quirks::COMPATIBLE,
        )
        .unwrap(),
    );
    assert_eq!(
        compatible["stream_options"],
        json!({ "include_usage": true }),
        "usage is always requested upstream"
    );
    assert_eq!(
        compatible["max_tokens"], 300,
        "compatible hosts read max_tokens"
    );
    assert!(compatible.get("max_completion_tokens").is_none());
    assert_eq!(
        compatible["messages"][1]["role"], "system",
        "developer is sent as system"
    );
    assert_eq!(compatible["model"], "deepseek-chat");
}

#[test]
fn azure_puts_the_deployment_in_the_path() {
    let parsed = openai::parse_request(openai_request().to_string().as_bytes()).unwrap();
    let request = openai::build_request(
        &parsed.request,
        "gpt-4o",
        false,
        Endpoint::Azure {
            deployment: "prod-4o",
            api_version: "",
        },
        Quirks::OPENAI,
    )
    .unwrap();
    assert_eq!(
        request.path,
        "/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21"
    );
    assert!(body(&request).get("model").is_none());
}

#[test]
fn mistral_gets_nine_character_tool_ids_and_random_seed() {
    let parsed = openai::parse_request(openai_request().to_string().as_bytes()).unwrap();
    let sent = body(
        &openai::build_request(
            &parsed.request,
            "mistral-large-latest",
            false,
            Endpoint::ChatCompletions,
            Quirks::MISTRAL,
        )
        .unwrap(),
    );
    let call_id = sent["messages"][3]["tool_calls"][0]["id"].as_str().unwrap();
    assert_eq!(call_id.len(), 9);
    assert!(call_id.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(
        sent["messages"][4]["tool_call_id"], call_id,
        "the result still matches its call"
    );
    assert_eq!(call_id, openai::mistral_tool_id("call_1"), "stable");
    assert_eq!(sent["random_seed"], 7);
    assert!(sent.get("seed").is_none());
    assert_eq!(sent["tool_choice"], "any");
}

fn anthropic_request() -> Value {
    json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "system": [{ "type": "text", "text": "You are terse.", "cache_control": { "type": "ephemeral" } }],
        "messages": [
            { "role": "user", "content": [
                { "type": "text", "text": "Weather in Paris? Also, what is this?" },
                { "type": "image", "source": { "type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo=" } }
            ] },
            { "role": "assistant", "content": [
                { "type": "thinking", "thinking": "I should call the tool.", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds" },
                { "type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP" },
                { "type": "text", "text": "Let me check." },
                { "type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": { "city": "Paris" } }
            ] },
            { "role": "user", "content": [
                { "type": "tool_result", "tool_use_id": "toolu_01", "content": [{ "type": "text", "text": "18C" }], "is_error": false },
                { "type": "text", "text": "Thanks!", "cache_control": { "type": "ephemeral", "ttl": "1h" } }
            ] }
        ],
        "tools": [{ "name": "get_weather", "description": "Weather by city", "input_schema": { "type": "object", "properties": { "city": { "type": "string" } } }, "cache_control": { "type": "ephemeral" } }],
        "tool_choice": { "type": "any", "disable_parallel_tool_use": true },
        "temperature": 1.0,
        "top_k": 40,
        "stop_sequences": ["\n\nHuman:"],
        "thinking": { "type": "enabled", "budget_tokens": 2048 },
        "metadata": { "user_id": "user-42" },
        "service_tier": "auto"
    })
}

#[test]
fn anthropic_requests_round_trip_through_canonical() {
    let original = anthropic_request();
    let parsed = anthropic::parse_request(original.to_string().as_bytes()).unwrap();
    let rebuilt =
        anthropic::build_request(&parsed.request, "claude-sonnet-4-5", false, Flavor::Direct)
            .unwrap();
    assert_eq!(rebuilt.path, "/v1/messages");
    assert_eq!(rebuilt.header("anthropic-version"), Some("2023-06-01"));
    let mut expected = original;
    // The one normalisation: a false `is_error` is the default and is not repeated.
    expected["messages"][2]["content"][0]
        .as_object_mut()
        .unwrap()
        .remove("is_error");
    assert_eq!(body(&rebuilt), expected);
}

#[test]
fn openai_clients_reach_anthropic_upstreams() {
    let parsed = openai::parse_request(openai_request().to_string().as_bytes()).unwrap();
    let error =
        anthropic::build_request(&parsed.request, "claude-sonnet-4-5", false, Flavor::Direct)
            .unwrap_err();
    assert_eq!(error.status, 400, "n > 1 is refused, not silently dropped");
    let mut single = parsed.request.clone();
    single.choice_count = 0;
    let sent = body(
        &anthropic::build_request(&single, "claude-sonnet-4-5", true, Flavor::Direct).unwrap(),
    );
    assert_eq!(
        sent["system"],
        json!([{ "type": "text", "text": "Be brief." }, { "type": "text", "text": "Answer in French." }])
    );
    assert_eq!(sent["max_tokens"], 300);
    assert_eq!(sent["stream"], true);
    assert_eq!(
        sent["messages"][0]["content"][1],
        json!({ "type": "image", "source": { "type": "url", "url": "https://example.com/cat.png" } })
    );
    assert_eq!(
        sent["messages"][1],
        json!({ "role": "assistant", "content": [{ "type": "tool_use", "id": "call_1", "name": "get_weather", "input": { "city": "Paris" } }] })
    );
    assert_eq!(
        sent["messages"][2],
        json!({ "role": "user", "content": [{ "type": "tool_result", "tool_use_id": "call_1", "content": [{ "type": "text", "text": "18C and sunny" }] }] })
    );
    assert_eq!(
        sent["tool_choice"],
        json!({ "type": "any", "disable_parallel_tool_use": true })
    );
    assert_eq!(
        sent["tools"][0]["input_schema"]["required"],
        json!(["city"])
    );
    assert_eq!(sent["metadata"]["user_id"], "user-42");
    assert_eq!(sent["output_config"]["format"]["type"], "json_schema");
}

#[test]
fn anthropic_clients_reach_openai_upstreams() {
    let parsed = anthropic::parse_request(anthropic_request().to_string().as_bytes()).unwrap();
    let sent = body(
        &openai::build_request(
            &parsed.request,
            "gpt-4o",
            false,
            Endpoint::ChatCompletions,
            Quirks::OPENAI,
        )
        .unwrap(),
    );
    let messages = sent["messages"].as_array().unwrap();
    assert_eq!(
        messages[0],
        json!({ "role": "system", "content": "You are terse." })
    );
    assert_eq!(
        messages[1]["content"][1]["image_url"]["url"],
        "data:image/png;base64,iVBORw0KGgo="
    );
    assert_eq!(
        messages[2]["tool_calls"][0]["function"],
        json!({ "name": "get_weather", "arguments": "{\"city\":\"Paris\"}" })
    );
    assert_eq!(messages[2]["content"], "Let me check.");
    assert_eq!(
        messages[3],
        json!({ "role": "tool", "tool_call_id": "toolu_01", "content": "18C" })
    );
    assert_eq!(messages[4], json!({ "role": "user", "content": "Thanks!" }));
    assert_eq!(sent["tool_choice"], "required");
    assert_eq!(sent["parallel_tool_calls"], false);
    assert_eq!(sent["max_completion_tokens"], 1024);
}

#[test]
fn bedrock_and_vertex_flavours() {
    let parsed = anthropic::parse_request(anthropic_request().to_string().as_bytes()).unwrap();
    let mut request = parsed.request;
    request.anthropic_beta = vec!["interleaved-thinking-2025-05-14".into()];
    let bedrock = anthropic::build_request(
        &request,
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
        true,
        Flavor::Bedrock,
    )
    .unwrap();
    assert_eq!(
        bedrock.path,
        "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/invoke-with-response-stream"
    );
    let sent = body(&bedrock);
    assert_eq!(sent["anthropic_version"], "bedrock-2023-05-31");
    assert_eq!(
        sent["anthropic_beta"],
        json!(["interleaved-thinking-2025-05-14"])
    );
    assert!(sent.get("model").is_none() && sent.get("stream").is_none());
    let vertex = anthropic::build_request(
        &request,
        "claude-sonnet-4-5@20250929",
        false,
        Flavor::Vertex {
            project: "p1",
            region: "us-east5",
        },
    )
    .unwrap();
    assert_eq!(
        vertex.path,
        "/v1/projects/p1/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict"
    );
    assert_eq!(body(&vertex)["anthropic_version"], "vertex-2023-10-16");
    assert_eq!(
        vertex.header("anthropic-beta"),
        Some("interleaved-thinking-2025-05-14")
    );
}

#[test]
fn canonical_messages_keep_order_and_signatures() {
    let parsed = anthropic::parse_request(anthropic_request().to_string().as_bytes()).unwrap();
    let roles: Vec<pb::Role> = parsed.request.messages.iter().map(|m| m.role()).collect();
    assert_eq!(
        roles,
        [
            pb::Role::System,
            pb::Role::User,
            pb::Role::Assistant,
            pb::Role::Tool,
            pb::Role::User
        ]
    );
    let assistant = &parsed.request.messages[2].content;
    assert!(
        matches!(&assistant[0].part, Some(pb::content_part::Part::Reasoning(r)) if r.signature.starts_with("EqQB"))
    );
    assert!(
        matches!(&assistant[1].part, Some(pb::content_part::Part::Reasoning(r)) if !r.redacted.is_empty())
    );
    assert!(
        matches!(&assistant[3].part, Some(pb::content_part::Part::ToolCall(c)) if c.id == "toolu_01")
    );
    assert_eq!(
        parsed.request.messages[4].content[0]
            .cache
            .as_ref()
            .unwrap()
            .ttl,
        "1h"
    );
}

#[test]
fn codestral_fim_requests_and_answers() {
    use keyroute_wire::mistral::{build_fim_request, parse_fim_request, parse_fim_response};
    let client = br#"{"model":"codestral-latest","prompt":"def fib(n):","suffix":"\n\nprint(fib(10))","max_tokens":64,"temperature":0,"stop":"\n\n","seed":3,"stream":true}"#;
    let request = parse_fim_request(client).unwrap();
    assert!(request.stream);
    let upstream = build_fim_request(&request, "codestral-2501");
    assert_eq!(upstream.path, "/fim/completions");
    assert_eq!(
        body(&upstream),
        json!({ "model": "codestral-2501", "prompt": "def fib(n):", "suffix": "\n\nprint(fib(10))", "max_tokens": 64, "temperature": 0.0, "random_seed": 3, "stop": ["\n\n"], "stream": true })
    );
    let answer = br#"{"id":"fim-1","object":"chat.completion","created":1,"model":"codestral-2501","choices":[{"index":0,"message":{"role":"assistant","content":"\n    return n if n < 2 else fib(n-1) + fib(n-2)"},"finish_reason":"stop"}],"usage":{"prompt_tokens":8,"completion_tokens":20,"total_tokens":28}}"#;
    let parsed = parse_fim_response(200, answer).unwrap();
    assert_eq!(parsed.usage.unwrap().output_tokens, 20);
    assert_eq!(
        parse_fim_request(br#"{"model":"codestral-latest"}"#)
            .unwrap_err()
            .param,
        "prompt"
    );
}

#[test]
fn compatible_hosts_get_their_documented_deviations() {
    use keyroute_wire::registry::{WireFormat, provider};
    let quirks = |id: &str| match provider(id).unwrap().format {
        WireFormat::OpenAiChat(quirks) => quirks,
        other => panic!("{other:?}"),
    };
    // DeepSeek thinking mode: a tool-call turn carries its reasoning back.
    let history = json!({
        "model": "m",
        "messages": [
            { "role": "user", "content": "hi" },
            { "role": "assistant", "content": null, "reasoning_content": "Need the weather tool.", "tool_calls": [{ "id": "call_1", "type": "function", "function": { "name": "w", "arguments": "{}" } }] },
            { "role": "tool", "tool_call_id": "call_1", "content": "sunny" },
            { "role": "user", "content": "and tomorrow?" },
            { "role": "user", "content": "also Berlin" }
        ],
        "stop": ["END", "STOP"],
        "seed": 3
    });
    let parsed = openai::parse_request(history.to_string().as_bytes()).unwrap();
    let deepseek = body(
        &openai::build_request(
            &parsed.request,
            "deepseek-chat",
            false,
            Endpoint::ChatCompletions,
            quirks("deepseek"),
        )
        .unwrap(),
    );
    assert_eq!(
        deepseek["messages"][1]["reasoning_content"],
        "Need the weather tool."
    );
    let legacy = body(
        &openai::build_request(
            &parsed.request,
            "deepseek-reasoner",
            false,
            Endpoint::ChatCompletions,
            quirks("deepseek"),
        )
        .unwrap(),
    );
    assert!(
        legacy["messages"][1].get("reasoning_content").is_none(),
        "the legacy reasoner refuses it"
    );
    let plain = body(
        &openai::build_request(
            &parsed.request,
            "gpt-4o",
            false,
            Endpoint::ChatCompletions,
            Quirks::OPENAI,
        )
        .unwrap(),
    );
    assert!(plain["messages"][1].get("reasoning_content").is_none());

    // Perplexity: alternating roles, no stop or seed.
    let perplexity = body(
        &openai::build_request(
            &parsed.request,
            "sonar",
            false,
            Endpoint::ChatCompletions,
            quirks("perplexity"),
        )
        .unwrap(),
    );
    let roles: Vec<&str> = perplexity["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "tool", "user"]);
    assert_eq!(
        perplexity["messages"][3]["content"],
        "and tomorrow?\n\nalso Berlin"
    );
    assert!(perplexity.get("stop").is_none() && perplexity.get("seed").is_none());

    // Z.ai: one stop string.
    let zai = body(
        &openai::build_request(
            &parsed.request,
            "glm-4.6",
            false,
            Endpoint::ChatCompletions,
            quirks("zai"),
        )
        .unwrap(),
    );
    assert_eq!(zai["stop"], "END");
}
