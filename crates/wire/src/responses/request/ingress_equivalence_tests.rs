//! The typed Responses ingress against the `Value`-tree reader it replaced
//! (`legacy_input.rs`): generated bodies (items of every type, fields of every type, missing,
//! repeated, in any order) must give the same canonical request, delivery and echo, or the
//! same fault, named by the same field.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;

use super::legacy_input::legacy_parse_request;
use super::parse_request;
use crate::generated::{array, either, leading, leaf, name, object, one_of, text};
use crate::ingress::IngressError;
use crate::ingress_check::{SPACED_SCHEMA, kept_as_tree_writes, refused_kept_values};
use crate::responses::{REDACTED_PREFIX, ResponseContext, THOUGHT_SIGNATURE_PREFIX};

/// What a reading gives, comparable.
type Reading = Result<(crate::canonical::pb::ChatRequest, bool, ResponseContext), IngressError>;

fn reading(read: Result<crate::responses::ResponsesClientRequest, IngressError>) -> Reading {
    read.map(|read| (read.request, read.stream, read.context))
}

/// The typed reading, with what it keeps as the client wrote it (schemas, the tools the
/// answer repeats) as a tree holds it.
fn typed(body: &[u8]) -> Reading {
    reading(parse_request(body)).map(|(request, stream, mut context)| {
        if !context.tools_json.is_empty() {
            let tools = serde_json::from_str(&std::mem::take(&mut context.tools_json)).unwrap();
            context.echo.insert("tools".to_owned(), tools);
        }
        (kept_as_tree_writes(request), stream, context)
    })
}

fn same_reading(body: &str) {
    assert_eq!(
        typed(body.as_bytes()),
        reading(legacy_parse_request(body.as_bytes())),
        "{body}"
    );
}

fn part() -> BoxedStrategy<String> {
    either(object(vec![
        (
            "type",
            name(&[
                "input_text",
                "output_text",
                "refusal",
                "input_image",
                "input_file",
                "summary_text",
                "",
            ]),
        ),
        ("text", text()),
        ("refusal", text()),
        ("image_url", text()),
        ("detail", text()),
        ("file_id", text()),
        ("prompt_cache_breakpoint", leaf()),
    ]))
}

fn parts() -> BoxedStrategy<String> {
    prop_oneof![2 => text(), 2 => array(part())].boxed()
}

fn encrypted() -> BoxedStrategy<String> {
    prop_oneof![
        3 => text(),
        1 => Just(format!("\"{THOUGHT_SIGNATURE_PREFIX}sig\"")),
        1 => Just(format!("\"{REDACTED_PREFIX}data\"")),
    ]
    .boxed()
}

fn item() -> BoxedStrategy<String> {
    let arguments = prop_oneof![
        3 => text(),
        1 => either(object(vec![("b", leaf()), ("a", leaf())])),
    ]
    .boxed();
    let rest = object(vec![
        (
            "role",
            name(&["user", "assistant", "system", "developer", "tool", ""]),
        ),
        ("content", parts()),
        ("call_id", name(&["c1", "c2", ""])),
        ("name", name(&["f", "g", ""])),
        ("namespace", name(&["ns", ""])),
        ("arguments", arguments),
        ("output", parts()),
        ("summary", parts()),
        ("encrypted_content", encrypted()),
        ("id", text()),
        ("x_unknown", leaf()),
    ]);
    let kinds = &[
        "message",
        "function_call",
        "function_call_output",
        "reasoning",
        "item_reference",
        "custom_tool_call",
        "web_search_call",
        "local_shell_call",
        "wizardry",
    ];
    // Mostly with a type up front (the rest may repeat or replace it).
    either(prop_oneof![4 => leading("type", name(kinds), rest.clone()), 1 => rest].boxed())
}

fn tools() -> BoxedStrategy<String> {
    let parameters = prop_oneof![
        2 => leaf(),
        2 => Just(r#"{"type":"object","properties":{"b":{},"a":{"type":"string"}}}"#.to_owned()),
        1 => Just(SPACED_SCHEMA.to_owned()),
    ]
    .boxed();
    let function = object(vec![
        ("type", name(&["function", "custom", ""])),
        ("name", name(&["f", ""])),
        ("description", text()),
        ("parameters", parameters),
        ("strict", leaf()),
    ]);
    let namespace = object(vec![
        ("type", name(&["namespace"])),
        ("name", name(&["ns", ""])),
        ("description", text()),
        ("tools", either(array(either(function.clone())))),
    ]);
    let hosted = one_of(&[
        r#"{"type":"web_search"}"#,
        r#"{"type":"mcp","server_label":"m"}"#,
    ]);
    either(array(
        prop_oneof![4 => either(function), 2 => namespace, 1 => hosted].boxed(),
    ))
}

fn body() -> BoxedStrategy<String> {
    let input = prop_oneof![1 => text(), 4 => array(item())].boxed();
    let rest = object(vec![
        ("input", input.clone()),
        ("instructions", text()),
        ("previous_response_id", text()),
        ("stream", leaf()),
        ("store", leaf()),
        ("temperature", leaf()),
        ("max_output_tokens", leaf()),
        ("user", text()),
        ("metadata", either(object(vec![("k", text())]))),
        ("tools", tools()),
        ("tool_choice", name(&["auto", "none", "required"])),
        ("x_vendor", leaf()),
        ("model", leaf()),
    ]);
    let rest = leading("input", input, rest);
    either(leading("model", name(&["gpt-5", ""]), rest))
}

/// Bodies the ingress accepts: the items of a coding agent's session.
fn good_body() -> BoxedStrategy<String> {
    let item = one_of(&[
        r#"{"type":"message","role":"user","content":[{"type":"input_text","text":"hi \"there\" \u00e9"}]}"#,
        r#"{"role":"developer","content":"be brief"}"#,
        r#"{"role":"user","content":[{"type":"input_text","text":"a","prompt_cache_breakpoint":null},{"type":"input_text","text":"b","prompt_cache_breakpoint":{"ttl":"5m"}}]}"#,
        r#"{"type":"message","role":"assistant","content":[{"type":"output_text","text":"ok","annotations":[]},{"type":"refusal","refusal":"no"}]}"#,
        r#"{"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"a"},{"type":"summary_text","text":"b"}],"encrypted_content":"gAAA"}"#,
        r#"{"type":"reasoning","summary":[],"content":[{"type":"reasoning_text","text":"c"}],"encrypted_content":"keyroute.thought_signature:s1"}"#,
        r#"{"type":"reasoning","summary":[],"encrypted_content":"keyroute.redacted:r1"}"#,
        r#"{"type":"function_call","call_id":"c1","name":"exec","arguments":"{\"cmd\":[\"ls\"]}","id":"fc_1","status":"completed"}"#,
        r#"{"type":"function_call","call_id":"c2","namespace":"ns","name":"f","arguments":{"b":2,"a":1}}"#,
        r#"{"type":"function_call_output","call_id":"c1","output":"done"}"#,
        r#"{"type":"function_call_output","call_id":"c9","name":"g","output":[{"type":"input_text","text":"x"},{"type":"input_image","image_url":"https://x/y.png","detail":"low","prompt_cache_breakpoint":{}}]}"#,
        r#"{"type":"web_search_call","id":"ws_1","status":"completed"}"#,
    ]);
    let input = proptest::collection::vec(item, 1..6)
        .prop_map(|items| format!("[{}]", items.join(",")))
        .boxed();
    let rest = object(vec![
        ("instructions", one_of(&["\"You are Codex.\"", "null"])),
        ("stream", one_of(&["true", "false", "null"])),
        ("store", one_of(&["false", "null"])),
        (
            "tools",
            one_of(&[
                "[]",
                r#"[{"type":"function","name":"exec","description":"d","parameters":{"type":"object","properties":{"b":{},"a":{}}},"strict":false}]"#,
                r#"[{"type":"namespace","name":"ns","description":"d","tools":[{"type":"function","name":"f","parameters":{"b":1,"a":2}},{"type":"function","name":"g","parameters":null}]},{"type":"web_search"}]"#,
            ]),
        ),
        (
            "include",
            one_of(&[r#"["reasoning.encrypted_content"]"#, "[]"]),
        ),
        ("prompt_cache_key", one_of(&["\"k\"", "null"])),
    ]);
    leading(
        "model",
        Just("\"gpt-5\"".to_owned()).boxed(),
        leading("input", input, rest),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn requests_read_as_the_value_tree_read_them(body in body()) {
        same_reading(&body);
    }

    /// Tools alone, behind an input that reads, so that their faults are reached.
    #[test]
    fn tools_read_as_the_value_tree_read_them(
        tools in tools(),
        choice in either(name(&["auto", "required", "web_search", "mcp"])),
    ) {
        same_reading(&format!(r#"{{"model":"m","input":"hi","tools":{tools},"tool_choice":{choice}}}"#));
    }

    #[test]
    fn accepted_requests_read_as_the_value_tree_read_them(body in good_body()) {
        prop_assert!(parse_request(body.as_bytes()).is_ok(), "{}", body);
        same_reading(&body);
    }
}

#[test]
fn malformed_and_faulty_bodies_fail_as_before() {
    // Past `serde_json`'s recursion limit, inside the typed field and outside it.
    let deep = "[".repeat(200) + &"]".repeat(200);
    let deep_input = format!(r#"{{"model":"m","input":{deep}}}"#);
    let deep_extra = format!(r#"{{"model":"m","x":{deep},"input":"hi"}}"#);
    let deep_arguments = format!(
        r#"{{"model":"m","input":[{{"type":"function_call","call_id":"c","name":"f","arguments":{deep}}}]}}"#
    );
    for body in [
        "",
        "{",
        "[]",
        "\"just a string\"",
        "{\"model\":\"m\",\"input\":\"hi\"} x",
        r#"{"model":"m","input":"hi","x":1e999}"#,
        r#"{"model":"m","input":[{"role":"user","content":"\uZZZZ"}]}"#,
        r#"{"model":"m","input":[{"role":"user","content":"\ud800"}]}"#,
        r#"{"model":"m","input":[{"role":"user","content":"tab	here"}]}"#,
        r#"{"model":"m","input":null}"#,
        r#"{"model":"m","input":null,"previous_response_id":"resp_1"}"#,
        r#"{"model":"m","input":[5]}"#,
        r#"{"model":"m","input":{"a":1}}"#,
        r#"{"model":"m","input":[{"type":"function_call","call_id":"c","name":"f","arguments":1.5e300}]}"#,
        r#"{"model":"m","input":[{"type":"function_call","call_id":"c","name":"f","arguments":[1,{"b":null,"a":2}]}]}"#,
        r#"{"model":"m","input":[{"type":"reasoning","summary":"s"}]}"#,
        r#"{"model":"m","input":[{"type":"reasoning","summary":[{"text":5}]}]}"#,
        r#"{"model":"m","input":[{"type":null,"id":"msg_1"}]}"#,
        r#"{"model":"m","input":[{"type":null,"role":null,"content":"x"}]}"#,
        r#"{"mod\u0065l":"m","inp\u0075t":[{"rol\u0065":"user","content":"hi"}]}"#,
        r#"{"model":"m","input":"a","input":[{"role":"user","content":"b"}]}"#,
        r#"{"model":"m","input":[{"role":"user","content":[{"type":"input_image","image_url":""}]}]}"#,
        r#"{"model":"m","input":[{"role":"user","content":[{"type":"input_image","file_id":"f"}]}]}"#,
        r#"{"model":"m","input":[{"role":"user","content":[{"type":"input_image","image_url":{"url":"u"}}]}]}"#,
        r#"{"model":"m","background":true,"input":[5]}"#,
        deep_input.as_str(),
        deep_extra.as_str(),
        deep_arguments.as_str(),
    ] {
        same_reading(body);
    }
    // Bytes that are not UTF-8, in a field nobody reads: `Value` refused them.
    let body =
        b"{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":\"hi\",\"x\":\"\xff\"}]}";
    assert_eq!(typed(body), reading(legacy_parse_request(body)));
    assert!(parse_request(body).is_err());
}

#[test]
fn tool_schemas_keep_the_clients_bytes() {
    let body = format!(
        r#"{{"model":"m","input":"hi","tools":[{{"type":"function","name":"f","parameters": {SPACED_SCHEMA} }},{{"type":"namespace","name":"ns","tools":[{{"type":"function","name":"g","parameters":{SPACED_SCHEMA}}}]}}]}}"#
    );
    let read = parse_request(body.as_bytes()).unwrap();
    assert_eq!(read.request.tools[0].parameters_json, SPACED_SCHEMA);
    assert_eq!(read.request.tools[1].parameters_json, SPACED_SCHEMA);
    assert_eq!(read.request.tools[1].name, "ns__g");
    // The answer repeats the tools as sent, on one line (an event's `data:` line).
    assert!(!read.context.tools_json.contains('\n'));
    let tools: serde_json::Value = serde_json::from_str(&read.context.tools_json).unwrap();
    assert_eq!(tools[0]["parameters"]["properties"]["z"]["type"], "string");
    assert!(read.context.tools_json.find("\"z\"") < read.context.tools_json.find("\"a\""));
    same_reading(&body);
}

#[test]
fn kept_schemas_are_refused_where_a_tree_refused_them() {
    for value in &refused_kept_values() {
        let body = format!(
            r#"{{"model":"m","input":"hi","tools":[{{"type":"function","name":"f","parameters":{value}}}]}}"#
        );
        same_reading(&body);
    }
    let body = b"{\"model\":\"m\",\"input\":\"hi\",\"tools\":[{\"type\":\"function\",\"name\":\"f\",\"parameters\":{\"d\":\"\xff\"}}]}";
    assert_eq!(typed(body), reading(legacy_parse_request(body)));
    assert!(parse_request(body).is_err());
}
