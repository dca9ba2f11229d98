#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};

use crate::canonical::pb::{self, content_part::Part};
use crate::ingress::IngressError;
use crate::responses::{REDACTED_PREFIX, THOUGHT_SIGNATURE_PREFIX, parse_request};

fn parse(body: Value) -> crate::responses::ResponsesClientRequest {
    parse_request(body.to_string().as_bytes()).expect("parses")
}

fn refused(body: Value) -> IngressError {
    parse_request(body.to_string().as_bytes()).expect_err("refused")
}

fn text(part: &pb::ContentPart) -> &str {
    match &part.part {
        Some(Part::Text(text)) => text,
        other => panic!("not text: {other:?}"),
    }
}

/// Codex CLI 0.171.0's first request, trimmed to one of each shape.
fn codex_first_turn() -> Value {
    json!({
        "model": "gpt-5.3-codex",
        "stream": true,
        "input": [
            {"type": "message", "id": "msg_dev", "role": "developer",
             "content": [{"type": "input_text", "text": "You are Codex."}]},
            {"type": "message", "id": "msg_user", "role": "user",
             "content": [{"type": "input_text", "text": "list the files"}]}
        ],
        "tools": [
            {"type": "function", "name": "exec_command", "description": "Runs a command",
             "strict": false,
             "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}},
            {"type": "namespace", "name": "multi_agent_v1", "description": "Sub-agents",
             "tools": [
                {"type": "function", "name": "spawn_agent", "description": "Starts one",
                 "strict": false, "parameters": {"type": "object", "properties": {}}},
                {"type": "function", "name": "close_agent", "parameters": null}
             ]},
            {"type": "web_search", "external_web_access": false}
        ],
        "tool_choice": "auto",
        "parallel_tool_calls": true,
        "reasoning": {"summary": "auto"},
        "store": false,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "019a-session",
        "client_metadata": {"x-codex-turn": "1"}
    })
}

#[test]
fn codex_first_turn_reads_whole() {
    let read = parse(codex_first_turn());
    assert!(read.stream);
    let request = &read.request;
    assert_eq!(request.model, "gpt-5.3-codex");
    assert_eq!(request.messages.len(), 2);
    assert_eq!(request.messages[0].role(), pb::Role::Developer);
    assert_eq!(text(&request.messages[0].content[0]), "You are Codex.");
    assert_eq!(request.messages[1].role(), pb::Role::User);

    let names: Vec<&str> = request.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "exec_command",
            "multi_agent_v1__spawn_agent",
            "multi_agent_v1__close_agent"
        ]
    );
    assert_eq!(request.tools[0].namespace, "");
    assert_eq!(request.tools[1].namespace, "multi_agent_v1");
    assert_eq!(request.tools[1].description, "Starts one");
    assert!(!request.tools[0].strict);
    assert_eq!(request.tools[2].parameters_json, "");
    let parameters: Value = serde_json::from_str(&request.tools[0].parameters_json).unwrap();
    assert_eq!(parameters["properties"]["cmd"]["type"], "string");

    assert_eq!(
        request.tool_choice.as_ref().unwrap().mode(),
        pb::ToolChoiceMode::Auto
    );
    assert_eq!(request.parallel_tool_calls, Some(true));
    assert!(request.reasoning.is_none());

    let options = request.responses.as_ref().unwrap();
    assert_eq!(options.store, Some(false));
    assert_eq!(options.include, ["reasoning.encrypted_content"]);
    assert_eq!(options.reasoning_summary, "auto");
    assert_eq!(options.prompt_cache_key, "019a-session");
    let hosted: Value = serde_json::from_str(&options.hosted_tools_json).unwrap();
    assert_eq!(
        hosted,
        json!([
            {"type": "namespace", "name": "multi_agent_v1", "description": "Sub-agents"},
            {"type": "web_search", "external_web_access": false}
        ])
    );
    // client_metadata is not passed on.
    assert_eq!(request.provider_options_json, "");

    let context = &read.context;
    assert_eq!(context.namespaces, ["multi_agent_v1"]);
    assert!(context.encrypted_reasoning);
    assert_eq!(context.echo["store"], false);
    assert_eq!(context.echo["tool_choice"], "auto");
    let tools: Value = serde_json::from_str(&context.tools_json).unwrap();
    assert_eq!(tools, codex_first_turn()["tools"]);
    assert_eq!(context.echo["reasoning"], json!({"summary": "auto"}));
    assert_eq!(context.echo["prompt_cache_key"], "019a-session");
    // Not sent: OpenAI's defaults.
    assert_eq!(context.echo["temperature"], 1.0);
    assert_eq!(context.echo["truncation"], "disabled");
    assert_eq!(context.echo["text"], json!({"format": {"type": "text"}}));
    assert_eq!(context.echo["instructions"], Value::Null);
    assert!(!context.echo.contains_key("client_metadata"));
}

#[test]
fn codex_later_turn_keeps_history_in_order() {
    let mut body = codex_first_turn();
    let history = json!([
        {"type": "reasoning", "id": "rs_1",
         "summary": [{"type": "summary_text", "text": "Plan"}, {"type": "summary_text", "text": "Go"}],
         "content": null, "encrypted_content": "gAAAA-openai"},
        {"type": "message", "id": "msg_a", "role": "assistant",
         "content": [{"type": "output_text", "text": "Looking.", "annotations": []}]},
        {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "exec_command",
         "arguments": "{\"cmd\":\"ls\"}"},
        {"type": "function_call", "call_id": "call_2", "name": "spawn_agent",
         "namespace": "multi_agent_v1", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "a.txt\nb.txt"},
        {"type": "function_call_output", "call_id": "call_2",
         "output": [{"type": "input_text", "text": "agent 7"},
                    {"type": "input_image", "image_url": "data:image/png;base64,iVBO", "detail": "low"}]},
        {"type": "message", "role": "assistant",
         "content": [{"type": "refusal", "refusal": "I won't."}]},
        {"type": "message", "role": "user", "content": "thanks"}
    ]);
    body["input"]
        .as_array_mut()
        .unwrap()
        .extend(history.as_array().unwrap().iter().cloned());
    let request = parse(body).request;
    let roles: Vec<pb::Role> = request.messages.iter().map(|m| m.role()).collect();
    assert_eq!(
        roles,
        [
            pb::Role::Developer,
            pb::Role::User,
            pb::Role::Assistant,
            pb::Role::Tool,
            pb::Role::Assistant,
            pb::Role::User
        ]
    );

    let assistant = &request.messages[2].content;
    assert_eq!(assistant.len(), 4);
    let Some(Part::Reasoning(reasoning)) = &assistant[0].part else {
        panic!("reasoning first: {assistant:?}");
    };
    assert_eq!(reasoning.text, "Plan\n\nGo");
    assert_eq!(reasoning.signature, "gAAAA-openai");
    assert_eq!(reasoning.id, "rs_1");
    assert_eq!(text(&assistant[1]), "Looking.");
    let Some(Part::ToolCall(call)) = &assistant[2].part else {
        panic!("call: {assistant:?}");
    };
    assert_eq!(
        (
            call.id.as_str(),
            call.name.as_str(),
            call.arguments_json.as_str()
        ),
        ("call_1", "exec_command", "{\"cmd\":\"ls\"}")
    );
    let Some(Part::ToolCall(call)) = &assistant[3].part else {
        panic!("call: {assistant:?}");
    };
    assert_eq!(call.name, "multi_agent_v1__spawn_agent");

    let results = &request.messages[3].content;
    assert_eq!(
        results.len(),
        2,
        "consecutive outputs make one tool message"
    );
    let Some(Part::ToolResult(first)) = &results[0].part else {
        panic!("result: {results:?}");
    };
    assert_eq!(first.tool_call_id, "call_1");
    assert_eq!(first.name, "exec_command");
    assert_eq!(text(&first.content[0]), "a.txt\nb.txt");
    let Some(Part::ToolResult(second)) = &results[1].part else {
        panic!("result: {results:?}");
    };
    assert_eq!(second.name, "multi_agent_v1__spawn_agent");
    let Some(Part::Image(image)) = &second.content[1].part else {
        panic!("image: {second:?}");
    };
    assert_eq!(
        image.source,
        Some(pb::image::Source::Url("data:image/png;base64,iVBO".into()))
    );
    assert_eq!(image.detail, "low");

    let refusal = &request.messages[4].content[0];
    assert!(refusal.refusal);
    assert_eq!(text(refusal), "I won't.");
    assert_eq!(text(&request.messages[5].content[0]), "thanks");
}

#[test]
fn carriers_become_thought_signatures_and_redacted_thinking() {
    let body = json!({
        "model": "gemini-2.5-pro",
        "input": [
            {"type": "message", "role": "user", "content": "go"},
            {"type": "reasoning", "id": "rs_k1", "summary": [],
             "encrypted_content": format!("{REDACTED_PREFIX}b3BhcXVl")},
            {"type": "reasoning", "id": "rs_k2", "summary": [],
             "encrypted_content": format!("{THOUGHT_SIGNATURE_PREFIX}c2lnbmF0dXJl")},
            {"type": "function_call", "call_id": "c1", "name": "exec_command", "arguments": ""},
            {"type": "function_call", "call_id": "c2", "name": "exec_command", "arguments": "{}"}
        ]
    });
    let request = parse(body).request;
    let assistant = &request.messages[1].content;
    assert_eq!(assistant.len(), 3, "the signature carrier adds no part");
    let Some(Part::Reasoning(redacted)) = &assistant[0].part else {
        panic!("redacted: {assistant:?}");
    };
    assert_eq!(redacted.redacted, "b3BhcXVl");
    assert_eq!(redacted.signature, "");
    assert_eq!(redacted.id, "rs_k1");
    let Some(Part::ToolCall(call)) = &assistant[1].part else {
        panic!("call: {assistant:?}");
    };
    assert_eq!(assistant[1].thought_signature, "c2lnbmF0dXJl");
    assert_eq!(call.arguments_json, "{}");
    assert_eq!(assistant[2].thought_signature, "", "one call only");
}

#[test]
fn instructions_text_format_and_sampling() {
    let read = parse(json!({
        "model": "gpt-5",
        "instructions": "Be brief.",
        "input": "hello",
        "text": {"format": {"type": "json_schema", "name": "answer", "description": "An answer",
                            "schema": {"type": "object"}, "strict": true},
                 "verbosity": "low"},
        "reasoning": {"effort": "high", "summary": "detailed"},
        "max_output_tokens": 500,
        "temperature": 0.2,
        "top_p": 0.9,
        "user": "legacy-user",
        "safety_identifier": "hashed-user",
        "metadata": {"ticket": "42"},
        "previous_response_id": "resp_1",
        "tool_choice": {"type": "function", "name": "exec_command"},
        "truncation": "auto",
        "service_tier": "flex"
    }));
    let request = &read.request;
    assert_eq!(request.messages[0].role(), pb::Role::System);
    assert_eq!(text(&request.messages[0].content[0]), "Be brief.");
    assert_eq!(request.messages[1].role(), pb::Role::User);
    assert_eq!(text(&request.messages[1].content[0]), "hello");
    let format = request.response_format.as_ref().unwrap();
    assert_eq!(format.r#type(), pb::ResponseFormatType::JsonSchema);
    assert_eq!(
        (
            format.name.as_str(),
            format.description.as_str(),
            format.schema_json.as_str(),
            format.strict
        ),
        ("answer", "An answer", "{\"type\":\"object\"}", true)
    );
    let reasoning = request.reasoning.as_ref().unwrap();
    assert!(reasoning.enabled);
    assert_eq!(reasoning.effort, "high");
    let sampling = request.sampling.as_ref().unwrap();
    assert_eq!(sampling.max_tokens, Some(500));
    assert_eq!(sampling.temperature, Some(0.2));
    assert_eq!(sampling.top_p, Some(0.9));
    assert_eq!(request.end_user, "hashed-user");
    let choice = request.tool_choice.as_ref().unwrap();
    assert_eq!(
        (choice.mode(), choice.name.as_str()),
        (pb::ToolChoiceMode::Tool, "exec_command")
    );
    let options = request.responses.as_ref().unwrap();
    assert_eq!(options.reasoning_summary, "detailed");
    assert_eq!(options.metadata["ticket"], "42");
    assert_eq!(options.previous_response_id, "resp_1");
    assert_eq!(options.store, None);
    assert!(!read.context.encrypted_reasoning);
    assert_eq!(read.context.echo["truncation"], "auto");
    assert_eq!(read.context.echo["service_tier"], "flex");
    assert_eq!(read.context.echo["store"], true);
    assert_eq!(read.context.echo["user"], "legacy-user");

    let none = parse(json!({"model": "gpt-5", "input": "x", "reasoning": {"effort": "none"}}));
    assert!(!none.request.reasoning.unwrap().enabled);
}

#[test]
fn narrowing_choices_narrow_the_tools() {
    let tools = json!([
        {"type": "function", "name": "a", "strict": true, "parameters": {}},
        {"type": "function", "name": "b", "strict": null, "parameters": {}},
        {"type": "namespace", "name": "ns", "description": "", "tools": [
            {"type": "function", "name": "c"}]},
        {"type": "web_search_preview"},
        {"type": "mcp", "server_label": "deepwiki", "server_url": "https://mcp.example"}
    ]);
    let allowed = parse(json!({"model": "m", "input": "x", "tools": tools,
        "tool_choice": {"type": "allowed_tools", "mode": "required",
                        "tools": [{"type": "function", "name": "b"},
                                  {"type": "function", "name": "ns__c"},
                                  {"type": "mcp", "server_label": "deepwiki"}]}}))
    .request;
    let names: Vec<&str> = allowed.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["b", "ns__c"]);
    assert_eq!(
        allowed.tool_choice.as_ref().unwrap().mode(),
        pb::ToolChoiceMode::Required
    );
    let hosted = crate::responses::hosted_tools(&allowed);
    assert_eq!(hosted.len(), 1);
    assert_eq!(hosted[0]["type"], "mcp");
    assert!(!crate::responses::needs_hosted_tools(&allowed));

    let forced = parse(json!({"model": "m", "input": "x", "tools": tools,
        "tool_choice": {"type": "web_search_preview"}}))
    .request;
    assert!(forced.tools.is_empty());
    assert_eq!(
        crate::responses::hosted_tools(&forced),
        [json!({"type": "web_search_preview"})]
    );
    assert!(crate::responses::needs_hosted_tools(&forced));
}

#[test]
fn bad_inputs_name_the_field() {
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!([1]), "", "JSON object"),
        (json!({"input": "x"}), "model", "required"),
        (json!({"model": "m"}), "input", "required"),
        (
            json!({"model": "m", "input": 7}),
            "input",
            "string or an array",
        ),
        (
            json!({"model": "m", "input": [{"type": "frobnicate"}]}),
            "input[0].type",
            "knows",
        ),
        (
            json!({"model": "m", "input": [{"role": "robot", "content": "x"}]}),
            "input[0].role",
            "robot",
        ),
        (
            json!({"model": "m", "input": [{"role": "user"}]}),
            "input[0].content",
            "required",
        ),
        (
            json!({"model": "m", "input": [{"type": "function_call_output", "output": "x"}]}),
            "input[0].call_id",
            "required",
        ),
        (
            json!({"model": "m", "input": [{"type": "function_call", "call_id": "c"}]}),
            "input[0].name",
            "required",
        ),
        (
            json!({"model": "m", "input": [{"type": "item_reference", "id": "msg_1"}]}),
            "input[0]",
            "stores no items",
        ),
        (
            json!({"model": "m", "input": [{"id": "msg_1"}]}),
            "input[0]",
            "stores no items",
        ),
        (
            json!({"model": "m", "input": [{"type": "local_shell_call"}]}),
            "input[0].type",
            "function calls only",
        ),
        (
            json!({"model": "m", "input": [{"role": "user", "content": [
            {"type": "input_text", "text": "see"}, {"type": "input_image", "file_id": "file-1"}]}]}),
            "input[0].content[1].file_id",
            "stores no files",
        ),
        (
            json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_image"}]}]}),
            "input[0].content[0].image_url",
            "required",
        ),
        (
            json!({"model": "m", "input": [{"role": "user", "content": [
            {"type": "input_file", "file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"}]}]}),
            "input[0].content[0].type",
            "input_file",
        ),
        (
            json!({"model": "m", "input": [{"type": "reasoning", "summary": [{"type": "summary_text"}]}]}),
            "input[0].summary[0].text",
            "required",
        ),
        (
            json!({"model": "m", "input": "x", "tools": [{"type": "function"}]}),
            "tools[0].name",
            "required",
        ),
        (
            json!({"model": "m", "input": "x", "tools": [{"type": "function", "name": "f", "parameters": "x"}]}),
            "tools[0].parameters",
            "JSON Schema",
        ),
        (
            json!({"model": "m", "input": "x", "tools": [{"type": "custom", "name": "apply_patch"}]}),
            "tools[0]",
            "custom",
        ),
        (
            json!({"model": "m", "input": "x", "tools": [{"type": "namespace", "name": "n", "tools": [{"type": "custom", "name": "p"}]}]}),
            "tools[0].tools[0]",
            "custom",
        ),
        (
            json!({"model": "m", "input": "x", "tools": [{"type": "teleport"}]}),
            "tools[0].type",
            "teleport",
        ),
        (
            json!({"model": "m", "input": "x", "tools": {}}),
            "tools",
            "array",
        ),
        (
            json!({"model": "m", "input": "x", "tool_choice": "sometimes"}),
            "tool_choice",
            "none, auto",
        ),
        (
            json!({"model": "m", "input": "x", "tool_choice": {"type": "function"}}),
            "tool_choice.name",
            "required",
        ),
        (
            json!({"model": "m", "input": "x", "tool_choice": {"type": "file_search"}}),
            "tool_choice.type",
            "not among",
        ),
        (
            json!({"model": "m", "input": "x", "text": {"format": {"type": "xml"}}}),
            "text.format.type",
            "json_schema",
        ),
        (
            json!({"model": "m", "input": "x", "text": {"format": {"type": "json_schema", "name": "n"}}}),
            "text.format.schema",
            "required",
        ),
        (
            json!({"model": "m", "input": "x", "text": {"format": {"type": "json_schema", "schema": {}}}}),
            "text.format.name",
            "required",
        ),
        (
            json!({"model": "m", "input": "x", "reasoning": {"effort": 3}}),
            "reasoning.effort",
            "string",
        ),
        (
            json!({"model": "m", "input": "x", "max_output_tokens": -1}),
            "max_output_tokens",
            "integer",
        ),
        (
            json!({"model": "m", "input": "x", "temperature": "hot"}),
            "temperature",
            "number",
        ),
        (
            json!({"model": "m", "input": "x", "metadata": {"k": 1}}),
            "metadata.k",
            "string",
        ),
        (
            json!({"model": "m", "input": "x", "include": "reasoning.encrypted_content"}),
            "include",
            "array",
        ),
        (
            json!({"model": "m", "input": "x", "background": true}),
            "background",
            "background",
        ),
        (
            json!({"model": "m", "input": "x", "conversation": "conv_1"}),
            "conversation",
            "input",
        ),
        (
            json!({"model": "m", "input": "x", "prompt": {"id": "pmpt_1"}}),
            "prompt",
            "templates",
        ),
    ];
    for (body, param, words) in cases {
        let error = refused(body.clone());
        assert_eq!(error.param, param, "{body}: {error}");
        assert!(error.message.contains(words), "{body}: {error}");
    }
    let not_json = parse_request(b"{\"model\":").unwrap_err();
    assert_eq!(not_json.param, "");
    assert!(not_json.message.contains("not valid JSON"));
}

#[test]
fn lenient_where_openai_is() {
    // Unknown fields and include values, and hosted-call records in history, do not refuse.
    let read = parse(json!({
        "model": "m",
        "input": [
            {"role": "user", "content": "search"},
            {"type": "web_search_call", "id": "ws_1", "status": "completed"},
            {"role": "assistant", "content": "found"}
        ],
        "include": ["web_search_call.action.sources", "reasoning.encrypted_content"],
        "stream_options": {"include_obfuscation": false},
        "context_management": [{"type": "compaction"}],
        "some_future_field": {"x": 1},
        "background": false,
        "previous_response_id": null
    }));
    assert_eq!(read.request.messages.len(), 2);
    assert!(!read.stream);
    assert_eq!(read.request.responses.unwrap().include.len(), 2);
    // Continuing a stored response may send no input at all.
    let continued = parse(json!({"model": "m", "previous_response_id": "resp_9"}));
    assert!(continued.request.messages.is_empty());
}
