//! OpenAI chat features through the canonical request to every provider format: the
//! `developer` role, strict `json_schema` response formats and strict tools, and
//! `parallel_tool_calls`. Each lands where the provider takes it, or is dropped where it has
//! no equivalent (documented per provider below).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keyroute_wire::canonical::pb;
use keyroute_wire::openai::{self, Endpoint, Quirks};
use keyroute_wire::{anthropic, bedrock, gemini};
use serde_json::{Value, json};

fn body(request: &keyroute_wire::http::HttpRequest) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

fn client_request() -> pb::ChatRequest {
    let request = json!({
        "model": "any",
        "messages": [
            { "role": "developer", "content": "Answer in French." },
            { "role": "user", "content": "Weather in Paris?" }
        ],
        "tools": [{ "type": "function", "function": { "name": "get_weather", "parameters": { "type": "object", "properties": { "city": { "type": "string" } }, "required": ["city"], "additionalProperties": false }, "strict": true } }],
        "parallel_tool_calls": false,
        "response_format": { "type": "json_schema", "json_schema": { "name": "answer", "schema": { "type": "object", "properties": { "text": { "type": "string" } }, "required": ["text"], "additionalProperties": false }, "strict": true } }
    });
    let parsed = openai::parse_request(request.to_string().as_bytes()).unwrap();
    let canonical = parsed.request;
    assert_eq!(canonical.messages[0].role(), pb::Role::Developer);
    assert_eq!(canonical.parallel_tool_calls, Some(false));
    let format = canonical.response_format.as_ref().unwrap();
    assert_eq!(format.r#type(), pb::ResponseFormatType::JsonSchema);
    assert!(format.strict, "strict is kept");
    assert!(canonical.tools[0].strict);
    canonical
}

fn schema() -> Value {
    json!({ "type": "object", "properties": { "text": { "type": "string" } }, "required": ["text"], "additionalProperties": false })
}

#[test]
fn openai_keeps_developer_strict_schema_strict_tools_and_parallel_tool_calls() {
    let request = client_request();
    let sent = body(
        &openai::build_request(
            &request,
            "gpt-4o",
            false,
            Endpoint::ChatCompletions,
            Quirks::OPENAI,
        )
        .unwrap(),
    );
    assert_eq!(sent["messages"][0]["role"], "developer");
    assert_eq!(sent["parallel_tool_calls"], false);
    assert_eq!(sent["tools"][0]["function"]["strict"], true);
    assert_eq!(
        sent["response_format"],
        json!({ "type": "json_schema", "json_schema": { "name": "answer", "schema": schema(), "strict": true } })
    );
    // Compatible hosts and Mistral: developer becomes system; the rest is the same shape.
    for (quirks, model) in [
        (Quirks::COMPATIBLE, "deepseek-chat"),
        (Quirks::MISTRAL, "mistral-large-latest"),
    ] {
        let sent = body(
            &openai::build_request(&request, model, false, Endpoint::ChatCompletions, quirks)
                .unwrap(),
        );
        assert_eq!(sent["messages"][0]["role"], "system", "{model}");
        assert_eq!(sent["messages"][0]["content"], "Answer in French.");
        assert_eq!(sent["parallel_tool_calls"], false, "{model}");
        assert_eq!(
            sent["response_format"]["json_schema"]["strict"], true,
            "{model}"
        );
        assert_eq!(sent["response_format"]["json_schema"]["schema"], schema());
    }
}

#[test]
fn anthropic_gets_developer_as_system_output_config_format_strict_tools_and_no_parallel_use() {
    let request = client_request();
    let sent = body(
        &anthropic::build_request(
            &request,
            "claude-sonnet-4-6",
            false,
            anthropic::Flavor::Direct,
        )
        .unwrap(),
    );
    assert!(
        sent["system"].to_string().contains("Answer in French."),
        "{sent}"
    );
    assert_eq!(sent["messages"][0]["role"], "user");
    assert_eq!(sent["tools"][0]["strict"], true);
    assert_eq!(sent["tool_choice"]["disable_parallel_tool_use"], true);
    assert_eq!(
        sent["output_config"]["format"],
        json!({ "type": "json_schema", "schema": schema() })
    );
}

#[test]
fn gemini_gets_developer_as_system_instruction_and_the_schema_as_response_json_schema() {
    let request = client_request();
    for flavor in [
        gemini::Flavor::AiStudio,
        gemini::Flavor::Vertex {
            project: "p",
            location: "us-central1",
        },
    ] {
        let sent =
            body(&gemini::build_request(&request, "gemini-2.5-flash", false, flavor).unwrap());
        assert!(
            sent["systemInstruction"]
                .to_string()
                .contains("Answer in French."),
            "{sent}"
        );
        assert_eq!(sent["contents"][0]["role"], "user");
        // Gemini enforces a response schema always: strict needs no flag. It has no switch
        // for parallel calls, so `parallel_tool_calls` is dropped.
        assert_eq!(
            sent["generationConfig"]["responseMimeType"],
            "application/json"
        );
        assert_eq!(sent["generationConfig"]["responseJsonSchema"], schema());
        assert!(!sent.to_string().contains("parallel"), "{sent}");
    }
}

#[test]
fn bedrock_gets_developer_as_system() {
    let request = client_request();
    let sent =
        body(&bedrock::build_request(&request, "anthropic.claude-sonnet-4-6", false).unwrap());
    assert!(
        sent["system"].to_string().contains("Answer in French."),
        "{sent}"
    );
    assert_eq!(sent["messages"][0]["role"], "user");
}
