//! Answers and failures in the two client dialects: responses parse from and render to
//! OpenAI's and Anthropic's shapes, provider errors are classified (kind, status, retry), and
//! bad client requests are refused naming the field at fault.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keyroute_wire::anthropic;
use keyroute_wire::error::ErrorKind;
use keyroute_wire::openai;
use serde_json::{Value, json};

#[test]
fn responses_parse_and_render_in_both_dialects() {
    let openai_body = json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1727346182, "model": "gpt-4o-2024-08-06",
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": "Checking.", "refusal": null,
            "tool_calls": [{ "id": "call_1", "type": "function", "function": { "name": "get_weather", "arguments": "{\"city\":\"Paris\"}" } }] },
            "logprobs": null, "finish_reason": "tool_calls" }],
        "usage": { "prompt_tokens": 44, "completion_tokens": 16, "total_tokens": 60,
            "prompt_tokens_details": { "cached_tokens": 0 }, "completion_tokens_details": { "reasoning_tokens": 0 } }
    });
    let canonical = openai::parse_response(200, openai_body.to_string().as_bytes()).unwrap();
    let rendered: Value = serde_json::from_slice(&openai::render_response(&canonical)).unwrap();
    assert_eq!(rendered, openai_body);

    let anthropic_body = json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [
            { "type": "thinking", "thinking": "Use the tool.", "signature": "sig" },
            { "type": "text", "text": "Checking." },
            { "type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": { "city": "Paris" } }
        ],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": { "input_tokens": 10, "output_tokens": 20, "cache_read_input_tokens": 5, "cache_creation_input_tokens": 0,
            "cache_creation": { "ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0 } }
    });
    let canonical = anthropic::parse_response(200, anthropic_body.to_string().as_bytes()).unwrap();
    assert_eq!(
        canonical.usage.unwrap().input_tokens,
        15,
        "canonical input includes cached reads"
    );
    let rendered: Value = serde_json::from_slice(&anthropic::render_response(&canonical)).unwrap();
    assert_eq!(rendered, anthropic_body);

    // Across: an Anthropic answer to an OpenAI client keeps text, the call and the reason.
    let crossed: Value = serde_json::from_slice(&openai::render_response(&canonical)).unwrap();
    assert_eq!(crossed["choices"][0]["message"]["content"], "Checking.");
    assert_eq!(
        crossed["choices"][0]["message"]["reasoning_content"],
        "Use the tool."
    );
    assert_eq!(
        crossed["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
        "{\"city\":\"Paris\"}"
    );
    assert_eq!(crossed["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(crossed["usage"]["prompt_tokens"], 15);
}

#[test]
fn provider_errors_are_classified() {
    let quota = openai::parse_error(429, br#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#);
    assert_eq!((quota.kind, quota.status), (ErrorKind::Billing, 429));
    let auth = openai::parse_error(401, br#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}"#);
    assert_eq!(
        (auth.kind, auth.retryable),
        (ErrorKind::Authentication, true)
    );
    assert_eq!(auth.message, "Incorrect API key provided");
    let context = openai::parse_error(400, br#"{"error":{"message":"maximum context length","type":"invalid_request_error","code":"context_length_exceeded"}}"#);
    assert!(!context.retryable);
    let overloaded = anthropic::parse_error(529, br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_1"}"#);
    assert_eq!(
        (overloaded.kind, overloaded.status, overloaded.retryable),
        (ErrorKind::Unavailable, 529, true)
    );
    let garbage = anthropic::parse_error(502, b"<html>bad gateway</html>");
    assert_eq!(
        (garbage.status, garbage.error_type.as_str()),
        (502, "api_error")
    );
    assert!(openai::parse_response(200, b"{\"id\":").is_err());
    assert_eq!(
        serde_json::from_slice::<Value>(&anthropic::render_error(404, "model nope not found"))
            .unwrap(),
        json!({ "type": "error", "error": { "type": "not_found_error", "message": "model nope not found" } })
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&openai::render_error(400, "bad", Some("messages"), None))
            .unwrap(),
        json!({ "error": { "message": "bad", "type": "invalid_request_error", "param": "messages", "code": null } })
    );
}

#[test]
fn bad_client_requests_name_the_field() {
    let cases: &[(&[u8], &str)] = &[
        (b"{\"model\": ", ""),
        (b"[]", ""),
        (br#"{"messages":[{"role":"user","content":"hi"}]}"#, "model"),
        (br#"{"model":"m","messages":{}}"#, "messages"),
        (br#"{"model":"m","messages":[]}"#, "messages"),
        (br#"{"model":"m","messages":[{"role":"wizard","content":"hi"}]}"#, "messages[0].role"),
        (br#"{"model":"m","messages":[{"role":"user","content":[{"type":"audio"}]}]}"#, "messages[0].content[0].type"),
        (br#"{"model":"m","messages":[{"role":"tool","content":"x"}]}"#, "messages[0].tool_call_id"),
        (br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":"hot"}"#, "temperature"),
        (br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"tool_choice":"sometimes"}"#, "tool_choice"),
        (br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stop":5}"#, "stop"),
    ];
    for (input, param) in cases {
        let error = openai::parse_request(input).unwrap_err();
        assert_eq!(
            error.param,
            *param,
            "{}: {error}",
            String::from_utf8_lossy(input)
        );
        assert!(!error.message.is_empty());
    }
    let not_json = openai::parse_request(b"{\"model\": ").unwrap_err();
    assert!(not_json.message.contains("line 1"), "{not_json}");

    let anthropic_cases: &[(&[u8], &str)] = &[
        (br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#, "max_tokens"),
        (br#"{"model":"m","max_tokens":0,"messages":[{"role":"user","content":"hi"}]}"#, "max_tokens"),
        (br#"{"model":"m","max_tokens":5,"messages":[{"role":"wizard","content":"hi"}]}"#, "messages[0].role"),
        (br#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"},{"role":"system","content":[{"type":"image"}]}]}"#, "messages[1].content[0].type"),
        (br#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","data":"!!"}}]}]}"#, "messages[0].content[0].source.data"),
        (br#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"tools":[{"description":"no name"}]}"#, "tools[0].name"),
    ];
    for (input, param) in anthropic_cases {
        let error = anthropic::parse_request(input).unwrap_err();
        assert_eq!(
            error.param,
            *param,
            "{}: {error}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn an_openai_refusal_stays_a_refusal_and_reads_as_text_with_stop_reason_refusal_in_anthropic() {
    let body = serde_json::json!({
        "id": "chatcmpl-r", "object": "chat.completion", "created": 1, "model": "gpt-4o",
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": null, "refusal": "I can't help with that." },
                      "logprobs": null, "finish_reason": "stop" }],
        "usage": { "prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 11 }
    });
    let response = keyroute_wire::openai::parse_response(200, body.to_string().as_bytes()).unwrap();
    let openai: serde_json::Value =
        serde_json::from_slice(&keyroute_wire::openai::render_response(&response)).unwrap();
    let message = &openai["choices"][0]["message"];
    assert_eq!(message["refusal"], "I can't help with that.");
    assert!(
        message["content"].is_null() || message["content"] == "",
        "{message}"
    );
    let anthropic: serde_json::Value =
        serde_json::from_slice(&keyroute_wire::anthropic::render_response(&response)).unwrap();
    assert_eq!(anthropic["stop_reason"], "refusal");
    assert_eq!(anthropic["content"][0]["text"], "I can't help with that.");
    // And back: an Anthropic refusal reaches OpenAI clients as `refusal`.
    let back =
        keyroute_wire::anthropic::parse_response(200, anthropic.to_string().as_bytes()).unwrap();
    let openai: serde_json::Value =
        serde_json::from_slice(&keyroute_wire::openai::render_response(&back)).unwrap();
    assert_eq!(
        openai["choices"][0]["message"]["refusal"],
        "I can't help with that."
    );
}
