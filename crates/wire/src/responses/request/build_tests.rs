#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};

use crate::canonical::pb::{self, content_part::Part};
use crate::responses::{
    Endpoint, REDACTED_PREFIX, THOUGHT_SIGNATURE_PREFIX, build_request, parse_request,
};

fn body(request: &pb::ChatRequest, model: &str, endpoint: Endpoint) -> (String, Value) {
    let http = build_request(request, model, true, endpoint).unwrap();
    assert_eq!(http.method, "POST");
    (http.path, serde_json::from_slice(&http.body).unwrap())
}

fn part(part: Part) -> pb::ContentPart {
    pb::ContentPart {
        part: Some(part),
        ..Default::default()
    }
}

/// A Codex-shaped request, read by the ingress, goes back to OpenAI as it came.
#[test]
fn codex_request_round_trips_to_openai() {
    let client = json!({
        "model": "gpt-5.3-codex",
        "stream": true,
        "input": [
            {"type": "message", "role": "developer",
             "content": [{"type": "input_text", "text": "You are Codex."}]},
            {"type": "message", "role": "user",
             "content": [{"type": "input_text", "text": "spawn one"}]},
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Plan"}],
             "encrypted_content": "gAAAA"},
            {"type": "message", "role": "assistant",
             "content": [{"type": "output_text", "text": "Spawning.", "annotations": []}]},
            {"type": "function_call", "call_id": "call_2", "name": "spawn_agent",
             "namespace": "multi_agent_v1", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_2", "output": "agent 7"}
        ],
        "tools": [
            {"type": "function", "name": "exec_command", "description": "Runs", "strict": false,
             "parameters": {"type": "object", "properties": {}}},
            {"type": "namespace", "name": "multi_agent_v1", "description": "Sub-agents",
             "tools": [{"type": "function", "name": "spawn_agent", "description": "Starts one",
                        "strict": false, "parameters": {"type": "object", "properties": {}}}]},
            {"type": "web_search", "external_web_access": false}
        ],
        "tool_choice": "auto",
        "parallel_tool_calls": true,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "store": false,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "019a-session",
        "metadata": {"ticket": "42"},
        "safety_identifier": "hashed",
        "max_output_tokens": 1000,
        "text": {"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": true}}
    });
    let read = parse_request(client.to_string().as_bytes()).unwrap();
    let (path, sent) = body(&read.request, "gpt-5.3-codex", Endpoint::OpenAi);
    assert_eq!(path, "/responses");
    assert_eq!(sent["model"], "gpt-5.3-codex");
    assert_eq!(sent["stream"], true);
    assert!(sent.get("instructions").is_none());
    assert_eq!(
        sent["input"],
        json!([
            {"type": "message", "role": "developer",
             "content": [{"type": "input_text", "text": "You are Codex."}]},
            {"type": "message", "role": "user",
             "content": [{"type": "input_text", "text": "spawn one"}]},
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Plan"}],
             "encrypted_content": "gAAAA"},
            {"type": "message", "role": "assistant",
             "content": [{"type": "output_text", "text": "Spawning.", "annotations": []}]},
            {"type": "function_call", "call_id": "call_2", "name": "spawn_agent",
             "namespace": "multi_agent_v1", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_2", "output": "agent 7"}
        ])
    );
    assert_eq!(sent["tools"], client["tools"]);
    assert_eq!(sent["tool_choice"], "auto");
    assert_eq!(sent["parallel_tool_calls"], true);
    assert_eq!(
        sent["reasoning"],
        json!({"effort": "medium", "summary": "auto"})
    );
    assert_eq!(sent["store"], false);
    assert_eq!(sent["include"], json!(["reasoning.encrypted_content"]));
    assert_eq!(sent["prompt_cache_key"], "019a-session");
    assert_eq!(sent["metadata"], json!({"ticket": "42"}));
    assert_eq!(sent["safety_identifier"], "hashed");
    assert_eq!(sent["max_output_tokens"], 1000);
    assert_eq!(sent["text"], client["text"]);
    assert!(sent.get("previous_response_id").is_none());
}

#[test]
fn azure_uses_the_v1_surface_with_the_deployment_as_model() {
    let request = pb::ChatRequest {
        model: "azure/prod".into(),
        messages: vec![pb::Message {
            role: pb::Role::User as i32,
            content: vec![part(Part::Text("hi".into()))],
            name: String::new(),
        }],
        responses: Some(pb::ResponsesOptions {
            previous_response_id: "resp_1".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let (path, sent) = body(&request, "gpt5-prod", Endpoint::Azure);
    assert_eq!(path, "/openai/v1/responses");
    assert_eq!(sent["model"], "gpt5-prod");
    assert_eq!(sent["previous_response_id"], "resp_1");
    assert_eq!(
        sent["input"],
        json!([{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}])
    );
}

/// A chat from elsewhere (gRPC, or history another upstream answered): system messages become
/// instructions, carriers and foreign reasoning stay out, results and images are written.
#[test]
fn canonical_chat_as_responses() {
    let mut signed_call = part(Part::ToolCall(pb::ToolCall {
        id: "c1".into(),
        name: "get_weather".into(),
        arguments_json: String::new(),
    }));
    signed_call.thought_signature = "sig".into();
    let request = pb::ChatRequest {
        model: "gpt-4o".into(),
        messages: vec![
            pb::Message {
                role: pb::Role::System as i32,
                content: vec![part(Part::Text("Be brief.".into()))],
                name: String::new(),
            },
            pb::Message {
                role: pb::Role::User as i32,
                content: vec![
                    part(Part::Text("weather?".into())),
                    part(Part::Image(pb::Image {
                        source: Some(pb::image::Source::Data(vec![1, 2, 3])),
                        media_type: "image/png".into(),
                        detail: String::new(),
                    })),
                ],
                name: String::new(),
            },
            pb::Message {
                role: pb::Role::Assistant as i32,
                content: vec![
                    part(Part::Reasoning(pb::Reasoning {
                        text: "thinking".into(),
                        signature: "anthropic-sig".into(),
                        ..Default::default()
                    })),
                    part(Part::Reasoning(pb::Reasoning {
                        redacted: "opaque".into(),
                        id: "rs_x".into(),
                        ..Default::default()
                    })),
                    signed_call,
                ],
                name: String::new(),
            },
            pb::Message {
                role: pb::Role::Tool as i32,
                content: vec![part(Part::ToolResult(pb::ToolResult {
                    tool_call_id: "c1".into(),
                    name: "get_weather".into(),
                    content: vec![part(Part::Text("sunny".into()))],
                    is_error: false,
                }))],
                name: String::new(),
            },
        ],
        tools: vec![pb::Tool {
            name: "get_weather".into(),
            strict: true,
            ..Default::default()
        }],
        tool_choice: Some(pb::ToolChoice {
            mode: pb::ToolChoiceMode::Tool as i32,
            name: "get_weather".into(),
        }),
        sampling: Some(pb::Sampling {
            temperature: Some(0.5),
            top_p: Some(0.8),
            stop: vec!["END".into()],
            seed: Some(7),
            ..Default::default()
        }),
        reasoning: Some(pb::ReasoningConfig {
            enabled: true,
            effort: "high".into(),
            ..Default::default()
        }),
        response_format: Some(pb::ResponseFormat {
            r#type: pb::ResponseFormatType::JsonObject as i32,
            ..Default::default()
        }),
        end_user: "u1".into(),
        provider_options_json: r#"{"service_tier":"flex","temperature":2}"#.into(),
        ..Default::default()
    };
    let (_, sent) = body(&request, "gpt-4o", Endpoint::OpenAi);
    assert_eq!(sent["instructions"], "Be brief.");
    assert_eq!(
        sent["input"],
        json!([
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "weather?"},
                {"type": "input_image", "image_url": "data:image/png;base64,AQID", "detail": "auto"}]},
            {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"}
        ])
    );
    assert_eq!(
        sent["tools"],
        json!([{"type": "function", "name": "get_weather",
                "parameters": {"type": "object", "properties": {}}, "strict": true}])
    );
    assert_eq!(
        sent["tool_choice"],
        json!({"type": "function", "name": "get_weather"})
    );
    assert_eq!(sent["text"], json!({"format": {"type": "json_object"}}));
    assert_eq!(sent["temperature"], 0.5);
    assert_eq!(sent["top_p"], 0.8);
    assert_eq!(sent["safety_identifier"], "u1");
    // gpt-4o takes no reasoning parameters; Responses has no stop or seed.
    assert!(sent.get("reasoning").is_none());
    assert!(sent.get("stop").is_none() && sent.get("seed").is_none());
    // Provider options fill what keyroute did not set.
    assert_eq!(sent["service_tier"], "flex");
    assert!(sent.get("store").is_none() && sent.get("include").is_none());
}

#[test]
fn carriers_from_the_ingress_stay_out_of_openai_requests() {
    let client = json!({
        "model": "gpt-5",
        "input": [
            {"role": "user", "content": "go"},
            {"type": "reasoning", "id": "rs_a", "summary": [],
             "encrypted_content": format!("{REDACTED_PREFIX}b3BhcXVl")},
            {"type": "reasoning", "id": "rs_b", "summary": [],
             "encrypted_content": format!("{THOUGHT_SIGNATURE_PREFIX}c2ln")},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}
        ]
    });
    let read = parse_request(client.to_string().as_bytes()).unwrap();
    let (_, sent) = body(&read.request, "gpt-5", Endpoint::OpenAi);
    let types: Vec<&str> = sent["input"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["message", "function_call"]);
}

#[test]
fn reasoning_without_encrypted_content_goes_by_id_only_where_stored() {
    let client = |store: bool| {
        json!({
            "model": "gpt-5",
            "store": store,
            "input": [
                {"role": "user", "content": "go"},
                {"type": "reasoning", "id": "rs_a", "summary": [{"type": "summary_text", "text": "t"}]},
                {"role": "assistant", "content": "done"}
            ]
        })
    };
    for (store, items) in [(true, 3), (false, 2)] {
        let read = parse_request(client(store).to_string().as_bytes()).unwrap();
        let (_, sent) = body(&read.request, "gpt-5", Endpoint::OpenAi);
        assert_eq!(
            sent["input"].as_array().unwrap().len(),
            items,
            "store {store}"
        );
    }
}

#[test]
fn hosted_tools_that_are_not_json_are_refused() {
    let request = pb::ChatRequest {
        responses: Some(pb::ResponsesOptions {
            hosted_tools_json: "{".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let error = build_request(&request, "gpt-5", false, Endpoint::OpenAi).unwrap_err();
    assert_eq!(error.status, 400);
}
