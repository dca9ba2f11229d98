#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};

use super::*;
use crate::error::ErrorKind;

fn text(text: &str, refusal: bool) -> pb::ContentPart {
    pb::ContentPart {
        part: Some(Part::Text(text.into())),
        refusal,
        ..Default::default()
    }
}

fn reasoning(id: &str, text: &str, signature: &str, redacted: &str) -> pb::ContentPart {
    pb::ContentPart {
        part: Some(Part::Reasoning(pb::Reasoning {
            id: id.into(),
            text: text.into(),
            signature: signature.into(),
            redacted: redacted.into(),
        })),
        ..Default::default()
    }
}

fn call(id: &str, name: &str, arguments: &str, thought_signature: &str) -> pb::ContentPart {
    pb::ContentPart {
        part: Some(Part::ToolCall(pb::ToolCall {
            id: id.into(),
            name: name.into(),
            arguments_json: arguments.into(),
        })),
        thought_signature: thought_signature.into(),
        ..Default::default()
    }
}

fn answer(id: &str, content: Vec<pb::ContentPart>, finish: FinishReason) -> pb::ChatResponse {
    pb::ChatResponse {
        id: id.into(),
        model: "gpt-5".into(),
        created: 1_765_552_659,
        choices: vec![pb::Choice {
            index: 0,
            message: Some(pb::Message {
                role: pb::Role::Assistant as i32,
                content,
                name: String::new(),
            }),
            finish_reason: finish as i32,
            ..Default::default()
        }],
        usage: Some(pb::Usage {
            input_tokens: 120,
            output_tokens: 30,
            cache_read_tokens: 100,
            cache_write_tokens: 0,
            reasoning_tokens: 12,
            total_tokens: 150,
            cache_write_1h_tokens: 0,
        }),
        ..Default::default()
    }
}

fn context(encrypted: bool) -> ResponseContext {
    let mut echo = serde_json::Map::new();
    echo.insert("store".into(), Value::Bool(false));
    echo.insert("tool_choice".into(), json!("required"));
    echo.insert("metadata".into(), json!({ "run": "7" }));
    // An echo field never overrides a computed one.
    echo.insert("status".into(), json!("bogus"));
    ResponseContext {
        echo,
        namespaces: vec!["multi_agent_v1".into()],
        encrypted_reasoning: encrypted,
        ..Default::default()
    }
}

fn render(response: &pb::ChatResponse, context: &ResponseContext) -> Value {
    serde_json::from_slice(&render_response(response, context)).unwrap()
}

#[test]
fn a_whole_response_has_every_item_in_content_order() {
    let response = answer(
        "chatcmpl-abc.1",
        vec![
            reasoning("rs_1", "Thinking it over.", "sig-1", ""),
            text("Hello ", false),
            text("world", false),
            text("I can't help with that.", true),
            call("call_a", "multi_agent_v1__close_agent", "{\"id\":1}", ""),
            call("call_b", "exec_command", "{}", "gemini-sig"),
        ],
        FinishReason::ToolCalls,
    );
    let body = render(&response, &context(true));
    let expected = json!({
        "id": "resp_chatcmpl-abc_1",
        "object": "response",
        "created_at": 1_765_552_659,
        "status": "completed",
        "error": null,
        "incomplete_details": null,
        "model": "gpt-5",
        "parallel_tool_calls": true,
        "tool_choice": "required",
        "tools": [],
        "store": false,
        "metadata": { "run": "7" },
        "output": [
            { "id": "rs_1", "type": "reasoning", "encrypted_content": "sig-1",
              "summary": [{ "type": "summary_text", "text": "Thinking it over." }] },
            { "id": "msg_chatcmpl-abc_1_1", "type": "message", "status": "completed", "role": "assistant",
              "content": [
                { "type": "output_text", "text": "Hello ", "annotations": [], "logprobs": [] },
                { "type": "output_text", "text": "world", "annotations": [], "logprobs": [] },
                { "type": "refusal", "refusal": "I can't help with that." },
              ] },
            { "id": "fc_chatcmpl-abc_1_2", "type": "function_call", "status": "completed",
              "call_id": "call_a", "namespace": "multi_agent_v1", "name": "close_agent",
              "arguments": "{\"id\":1}" },
            { "id": "rs_chatcmpl-abc_1_3", "type": "reasoning", "summary": [],
              "encrypted_content": "keyroute.thought_signature:gemini-sig" },
            { "id": "fc_chatcmpl-abc_1_4", "type": "function_call", "status": "completed",
              "call_id": "call_b", "name": "exec_command", "arguments": "{}" },
        ],
        "usage": {
            "input_tokens": 120,
            "input_tokens_details": { "cached_tokens": 100, "cache_write_tokens": 0 },
            "output_tokens": 30,
            "output_tokens_details": { "reasoning_tokens": 12 },
            "total_tokens": 150,
        },
    });
    assert_eq!(body, expected);
}

#[test]
fn encrypted_content_only_when_asked_except_thought_signatures() {
    let response = answer(
        "resp_upstream",
        vec![
            reasoning("", "", "", "opaque=="),
            reasoning("rs_2", "why", "sig", ""),
            call("call_a", "f", "{}", "gemini-sig"),
        ],
        FinishReason::ToolCalls,
    );
    let body = render(&response, &context(false));
    assert_eq!(body["id"], "resp_upstream");
    let output = body["output"].as_array().unwrap();
    assert_eq!(output[0]["id"], "rs_upstream_0");
    assert!(output[0].get("encrypted_content").is_none());
    assert!(output[1].get("encrypted_content").is_none());
    assert_eq!(
        output[2]["encrypted_content"],
        "keyroute.thought_signature:gemini-sig"
    );

    let body = render(&response, &context(true));
    assert_eq!(
        body["output"][0]["encrypted_content"],
        "keyroute.redacted:opaque=="
    );
    assert_eq!(body["output"][1]["encrypted_content"], "sig");
}

#[test]
fn length_and_content_filter_are_incomplete() {
    let cut = answer("", vec![text("Once upon", false)], FinishReason::Length);
    let body = render(&cut, &ResponseContext::default());
    assert_eq!(body["id"], "resp_keyroute");
    assert_eq!(body["status"], "incomplete");
    assert_eq!(body["incomplete_details"]["reason"], "max_output_tokens");
    assert_eq!(body["output"][0]["status"], "incomplete");

    let filtered = answer("x", vec![], FinishReason::ContentFilter);
    let body = render(&filtered, &ResponseContext::default());
    assert_eq!(body["status"], "incomplete");
    assert_eq!(body["incomplete_details"]["reason"], "content_filter");
    assert_eq!(body["output"], json!([]));

    let failed = answer("x", vec![], FinishReason::Error);
    let body = render(&failed, &ResponseContext::default());
    assert_eq!(body["status"], "failed");
    assert_eq!(body["error"]["code"], "server_error");
}

/// An OpenAI Responses answer with every item kind keyroute reads or skips.
fn upstream() -> Value {
    json!({
        "id": "resp_0a1", "object": "response", "created_at": 1_741_476_542,
        "status": "completed", "error": null, "incomplete_details": null,
        "model": "gpt-5.1-codex",
        "output": [
            { "type": "web_search_call", "id": "ws_1", "status": "completed" },
            { "type": "reasoning", "id": "rs_1", "encrypted_content": "gAAAA",
              "summary": [{ "type": "summary_text", "text": "First." },
                          { "type": "summary_text", "text": "Second." }] },
            { "type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
              "content": [{ "type": "output_text", "text": "Done.", "annotations": [] },
                          { "type": "refusal", "refusal": "Not that." }] },
            { "type": "function_call", "id": "fc_1", "call_id": "call_1",
              "namespace": "multi_agent_v1", "name": "spawn", "arguments": "{\"n\":2}",
              "status": "completed" },
        ],
        "usage": { "input_tokens": 328, "input_tokens_details": { "cached_tokens": 256 },
                   "output_tokens": 52, "output_tokens_details": { "reasoning_tokens": 20 },
                   "total_tokens": 380 },
    })
}

#[test]
fn an_upstream_response_parses_to_canonical() {
    let parsed = parse_response(200, upstream().to_string().as_bytes()).unwrap();
    assert_eq!(parsed.id, "resp_0a1");
    assert_eq!(parsed.model, "gpt-5.1-codex");
    assert_eq!(parsed.created, 1_741_476_542);
    let choice = &parsed.choices[0];
    assert_eq!(choice.finish_reason, FinishReason::ToolCalls as i32);
    let content = &choice.message.as_ref().unwrap().content;
    assert_eq!(
        content,
        &vec![
            reasoning("rs_1", "First.\n\nSecond.", "gAAAA", ""),
            text("Done.", false),
            text("Not that.", true),
            call("call_1", "multi_agent_v1__spawn", "{\"n\":2}", ""),
        ]
    );
    assert_eq!(
        parsed.usage,
        Some(pb::Usage {
            input_tokens: 328,
            output_tokens: 52,
            cache_read_tokens: 256,
            cache_write_tokens: 0,
            reasoning_tokens: 20,
            total_tokens: 380,
            cache_write_1h_tokens: 0,
        })
    );
}

#[test]
fn incomplete_failed_and_error_statuses() {
    let mut body = upstream();
    body["status"] = json!("incomplete");
    body["incomplete_details"] = json!({ "reason": "max_output_tokens" });
    let parsed = parse_response(200, body.to_string().as_bytes()).unwrap();
    assert_eq!(parsed.choices[0].finish_reason, FinishReason::Length as i32);
    assert_eq!(parsed.choices[0].native_finish_reason, "max_output_tokens");

    body["incomplete_details"] = json!({ "reason": "content_filter" });
    let parsed = parse_response(200, body.to_string().as_bytes()).unwrap();
    assert_eq!(
        parsed.choices[0].finish_reason,
        FinishReason::ContentFilter as i32
    );

    body["status"] = json!("failed");
    body["error"] =
        json!({ "code": "rate_limit_exceeded", "message": "Slow down. Please try again in 2s." });
    let error = parse_response(200, body.to_string().as_bytes()).unwrap_err();
    assert_eq!((error.status, error.kind), (429, ErrorKind::RateLimited));
    assert!(error.message.contains("Slow down"));

    let error = parse_response(
        401,
        br#"{"error":{"message":"Incorrect API key","type":"invalid_request_error","code":"invalid_api_key"}}"#,
    )
    .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Authentication);
    assert!(parse_response(200, b"not json").is_err());
    assert!(parse_response(200, b"{\"id\":\"resp_1\"}").is_err());
}

#[test]
fn rendering_then_parsing_gives_the_answer_back() {
    let original = answer(
        "resp_round",
        vec![
            reasoning("rs_1", "Plan.", "enc", ""),
            text("Answer.", false),
            call("call_1", "multi_agent_v1__close_agent", "{}", ""),
            call("call_2", "exec_command", "{\"cmd\":\"ls\"}", ""),
        ],
        FinishReason::ToolCalls,
    );
    let body = render_response(&original, &context(true));
    let mut parsed = parse_response(200, &body).unwrap();
    parsed.choices[0].native_finish_reason.clear();
    assert_eq!(parsed, original);
}

#[test]
fn ids_and_codes() {
    assert_eq!(response_id("resp_1"), "resp_1");
    assert_eq!(response_id("msg_01X/y"), "resp_msg_01X_y");
    assert_eq!(item_id("fc", "resp_1", 3), "fc_1_3");
    assert_eq!(failure_code(429, "rate_limit_error"), "rate_limit_exceeded");
    assert_eq!(
        failure_code(429, "insufficient_quota"),
        "insufficient_quota"
    );
    assert_eq!(failure_code(529, "overloaded_error"), "server_error");
    assert_eq!(
        failure_code(400, "invalid_request_error"),
        "invalid_request_error"
    );
    assert_eq!(failure_code(400, ""), "invalid_prompt");
}

/// An echo with a coding agent's tools: keys out of order at every level, nested arrays.
fn agent_context() -> ResponseContext {
    let mut context = context(true);
    let tools = json!([
        {"type": "function", "name": "exec", "strict": false,
         "parameters": {"type": "object", "properties": {"z": {"type": "string"}, "a": {"enum": [1, "b", null]}}}},
        {"type": "web_search", "user_location": {"type": "approximate", "city": "Zürich \"Z\""}},
    ]);
    context.echo.insert("tools".into(), tools);
    context.echo.insert("model".into(), json!("echoed-model"));
    context
}

/// The bytes are those a `Value` tree of the same object writes (keys sorted, compact): the
/// echo fields are written once and repeated, not rebuilt, and must not change a byte.
fn assert_written_as_a_tree(bytes: &[u8]) -> Value {
    let tree: Value = serde_json::from_slice(bytes).unwrap();
    assert_eq!(
        String::from_utf8_lossy(bytes),
        serde_json::to_string(&tree).unwrap()
    );
    tree
}

#[test]
fn a_response_repeats_the_echo_exactly_as_a_tree_writes_it() {
    let context = agent_context();
    for (model, expected_model) in [("gpt-5-2025", "gpt-5-2025"), ("", "echoed-model")] {
        let mut response = answer(
            "resp_1",
            vec![text("Hi", false), call("c1", "exec", "{\"b\":1}", "")],
            FinishReason::ToolCalls,
        );
        response.model = model.into();
        let object = assert_written_as_a_tree(&render_response(&response, &context));
        assert_eq!(object["tools"], context.echo["tools"]);
        assert_eq!(object["metadata"], json!({ "run": "7" }));
        assert_eq!(object["tool_choice"], "required");
        assert_eq!(object["status"], "completed");
        assert_eq!(object["model"], expected_model);
    }
    // Without an echo, the defaults.
    let response = answer("resp_2", vec![text("Hi", false)], FinishReason::Stop);
    let object = assert_written_as_a_tree(&render_response(&response, &ResponseContext::default()));
    assert_eq!(object["tools"], json!([]));
    assert_eq!(object["tool_choice"], "auto");
    assert_eq!(object["parallel_tool_calls"], true);
}

/// The tools as the client sent them (`tools_json`, from the ingress) stand in for the echo's
/// `tools`, byte for byte: the client's key order is kept.
#[test]
fn the_clients_tools_are_repeated_as_sent() {
    let mut context = context(false);
    context.echo.insert("tools".into(), json!([]));
    context.tools_json =
        r#"[{"type":"function","name":"z","parameters":{"type":"object","properties":{"b":{},"a":{}}}}]"#
            .into();
    let response = answer("resp_3", vec![text("Hi", false)], FinishReason::Stop);
    let bytes = render_response(&response, &context);
    let text = String::from_utf8(bytes).unwrap();
    assert!(
        text.contains(&format!("\"tools\":{}", context.tools_json)),
        "{text}"
    );
    let object: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(object["tools"][0]["name"], "z");
    assert_eq!(object["metadata"], json!({ "run": "7" }));
}
