//! The typed Messages API ingress against the `Value`-tree reader it replaced
//! (`legacy_ingress.rs`): generated bodies (blocks of every kind, nested tool results and
//! `mid_conv_system` blocks, fields of every type, missing, repeated, in any order, unknown
//! ones passed through) must give the same canonical request or the same fault, named by
//! the same field.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;

use super::legacy_ingress::legacy_parse_request;
use super::{ClientRequest, parse_request};
use crate::canonical::pb::content_part::Part;
use crate::generated::{array, count, either, leading, leaf, name, object, one_of, text};
use crate::ingress::IngressError;
use crate::ingress_check::{SPACED_SCHEMA, kept_as_tree_writes, refused_kept_values};

const KINDS: &[&str] = &[
    "text",
    "image",
    "tool_use",
    "tool_result",
    "thinking",
    "redacted_thinking",
    "mid_conv_system",
    "document",
    "",
];

/// A block; `content` is text or, when `inner` is given, a list of those blocks.
fn block(inner: Option<BoxedStrategy<String>>) -> BoxedStrategy<String> {
    let content = match inner {
        Some(inner) => prop_oneof![1 => text(), 1 => array(inner)].boxed(),
        None => text(),
    };
    let signature = prop_oneof![
        2 => text(),
        1 => Just(r#""keyroute.thought_signature:c2ln""#.to_owned()),
    ]
    .boxed();
    let source = either(object(vec![
        ("type", name(&["base64", "url", "file"])),
        ("data", name(&["aGk=", "!!"])),
        ("media_type", text()),
        ("url", text()),
    ]));
    let input = prop_oneof![
        2 => leaf(),
        2 => either(object(vec![("b", leaf()), ("a", leaf())])),
        1 => Just(SPACED_SCHEMA.to_owned()),
    ]
    .boxed();
    let rest = object(vec![
        ("text", text()),
        ("signature", signature),
        ("source", source),
        ("id", text()),
        ("name", text()),
        ("input", input),
        ("tool_use_id", text()),
        ("content", content),
        ("is_error", leaf()),
        ("thinking", text()),
        ("data", text()),
        (
            "cache_control",
            either(object(vec![("type", text()), ("ttl", text())])),
        ),
        ("type", leaf()),
    ]);
    either(leading("type", name(KINDS), rest))
}

fn blocks() -> BoxedStrategy<String> {
    prop_oneof![1 => text(), 2 => array(block(Some(block(None))))].boxed()
}

fn message() -> BoxedStrategy<String> {
    let rest = object(vec![
        ("content", blocks()),
        ("clear_at", name(&["next_user_message", "never"])),
        ("role", leaf()),
    ]);
    either(leading(
        "role",
        name(&["user", "assistant", "system", "tool"]),
        rest,
    ))
}

fn tools() -> BoxedStrategy<String> {
    either(array(either(object(vec![
        ("type", name(&["custom", "web_search_20250305", ""])),
        ("name", name(&["get_weather", ""])),
        ("description", text()),
        ("input_schema", schema()),
        ("strict", leaf()),
        (
            "cache_control",
            either(object(vec![("type", text()), ("ttl", text())])),
        ),
        ("max_uses", leaf()),
    ]))))
}

/// A tool schema: any value, or one written with spaces and unsorted keys.
fn schema() -> BoxedStrategy<String> {
    prop_oneof![
        2 => leaf(),
        1 => Just(SPACED_SCHEMA.to_owned()),
    ]
    .boxed()
}

fn body() -> BoxedStrategy<String> {
    let tool_choice = either(object(vec![
        ("type", name(&["auto", "any", "none", "tool", "sometimes"])),
        ("name", text()),
        ("disable_parallel_tool_use", leaf()),
    ]));
    let thinking = either(object(vec![
        ("type", name(&["enabled", "adaptive", "disabled"])),
        ("budget_tokens", count()),
        ("display", text()),
    ]));
    let format = either(object(vec![
        ("type", name(&["json_schema", "text"])),
        ("schema", leaf()),
    ]));
    let output_config = either(object(vec![("effort", text()), ("format", format)]));
    let rest = object(vec![
        ("system", blocks()),
        ("messages", either(array(message()))),
        ("tools", tools()),
        ("tool_choice", tool_choice),
        ("temperature", leaf()),
        ("top_p", leaf()),
        ("top_k", count()),
        (
            "stop_sequences",
            prop_oneof![2 => text(), 1 => array(text())].boxed(),
        ),
        ("stream", leaf()),
        ("metadata", either(object(vec![("user_id", text())]))),
        ("thinking", thinking),
        ("output_config", output_config),
        ("max_tokens", leaf()),
        ("model", leaf()),
        (
            "x_vendor",
            either(object(vec![("b", leaf()), ("a", leaf())])),
        ),
    ]);
    // Mostly with a model, max_tokens and messages up front.
    let rest = leading("messages", array(message()), rest);
    let rest = leading("max_tokens", count(), rest);
    either(leading("model", name(&["claude-sonnet-4-5", ""]), rest))
}

/// Bodies the ingress accepts, with every modelled field in its accepted shapes.
fn good_body() -> BoxedStrategy<String> {
    let message = one_of(&[
        r#"{"role":"user","content":"hi \"there\" \u00e9"}"#,
        r#"{"role":"user","content":[{"type":"text","text":"a","cache_control":{"type":"ephemeral","ttl":"1h"}},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"aGk="}},{"type":"image","source":{"type":"url","url":"https://x/y.png"}}]}"#,
        r#"{"role":"assistant","content":[{"type":"thinking","thinking":"hm","signature":"s1"},{"type":"redacted_thinking","data":"xx"},{"type":"text","text":"ok"},{"type":"thinking","thinking":"","signature":"keyroute.thought_signature:c2ln"},{"type":"tool_use","id":"t1","name":"f","input":{"b":1,"a":[2]}},{"type":"tool_use","id":"t2","name":"g"}]}"#,
        r#"{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"42"},{"type":"tool_result","tool_use_id":"t2","is_error":true,"content":[{"type":"text","text":"no"}]},{"type":"text","text":"next"}]}"#,
        r#"{"role":"user","content":[{"type":"tool_result","tool_use_id":"t3"}]}"#,
        r#"{"role":"system","content":"be brief","clear_at":"next_user_message"}"#,
        r#"{"role":"system","content":[{"type":"text","text":"a"},{"type":"mid_conv_system","content":"b"},{"type":"mid_conv_system","content":[{"type":"text","text":"c"}]}]}"#,
    ]);
    let messages = proptest::collection::vec(message, 1..4)
        .prop_map(|m| format!("[{}]", m.join(",")))
        .boxed();
    let rest = object(vec![
        (
            "system",
            one_of(&[
                "null",
                r#""You are terse.""#,
                r#"[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}]"#,
            ]),
        ),
        (
            "tools",
            one_of(&[
                "[]",
                r#"[{"name":"f","description":"d","input_schema":{"type":"object","properties":{"b":{},"a":{}}},"strict":true,"cache_control":{"type":"ephemeral"}}]"#,
                r#"[{"type":"custom","name":"g"},{"type":"web_search_20250305","name":"web_search","max_uses":3}]"#,
            ]),
        ),
        (
            "tool_choice",
            one_of(&[
                "null",
                r#"{"type":"auto"}"#,
                r#"{"type":"any","disable_parallel_tool_use":true}"#,
                r#"{"type":"tool","name":"f"}"#,
                r#"{"type":"none"}"#,
            ]),
        ),
        ("temperature", one_of(&["null", "0", "0.7", "1"])),
        ("top_p", one_of(&["null", "0.9"])),
        ("top_k", one_of(&["null", "40", "4294967297", "-1"])),
        (
            "stop_sequences",
            one_of(&["null", r#""END""#, r#"["a","b"]"#]),
        ),
        ("stream", one_of(&["true", "false", "null", "1"])),
        ("metadata", one_of(&[r#"{"user_id":"u-1"}"#, "null", "[]"])),
        (
            "thinking",
            one_of(&[
                r#"{"type":"enabled","budget_tokens":2048}"#,
                r#"{"type":"adaptive","display":"summarized"}"#,
                r#"{"type":"disabled"}"#,
                "null",
            ]),
        ),
        (
            "output_config",
            one_of(&[
                r#"{"effort":"high"}"#,
                r#"{"effort":""}"#,
                r#"{"format":{"type":"json_schema","schema":{"b":1,"a":2}}}"#,
                "null",
            ]),
        ),
        (
            "x_vendor",
            one_of(&[r#"{"b":[1,{"d":null,"c":"x"}],"a":true}"#, r#""v""#]),
        ),
        ("context_management", one_of(&[r#"{"edits":[]}"#])),
    ]);
    let rest = leading("messages", messages, rest);
    let rest = leading("max_tokens", one_of(&["1", "1024", "4294967295"]), rest);
    leading(
        "model",
        Just(r#""claude-sonnet-4-5""#.to_owned()).boxed(),
        rest,
    )
}

/// The request read from `body`, with its kept texts as a tree writes them.
fn read(body: &[u8]) -> Result<ClientRequest, IngressError> {
    parse_request(body).map(|mut read| {
        read.request = kept_as_tree_writes(read.request);
        read
    })
}

fn same_reading(body: &str) {
    assert_eq!(
        read(body.as_bytes()),
        legacy_parse_request(body.as_bytes()),
        "{body}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn requests_read_as_the_value_tree_read_them(body in body()) {
        same_reading(&body);
    }

    #[test]
    fn accepted_requests_read_as_the_value_tree_read_them(body in good_body()) {
        prop_assert!(parse_request(body.as_bytes()).is_ok(), "{}", body);
        same_reading(&body);
    }
}

#[test]
fn malformed_and_faulty_bodies_fail_as_before() {
    // Past `serde_json`'s recursion limit, inside a field that is read and one that is not.
    let deep = "[".repeat(200) + &"]".repeat(200);
    let deep_messages = format!(r#"{{"model":"m","max_tokens":1,"messages":{deep}}}"#);
    let deep_extra = format!(r#"{{"model":"m","x":{deep},"messages":[]}}"#);
    for body in [
        "",
        "{",
        "[]",
        "{\"model\":\"m\"} x",
        r#"{"model":"m","max_tokens":null,"messages":[]}"#,
        r#"{"model":"m","max_tokens":0,"messages":[]}"#,
        r#"{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"hi"}],"x":1e999}"#,
        r#"{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"\ud800"}]}"#,
        r#"{"model":"m","max_tokens":1,"messages":[{"role":"user","content":null}]}"#,
        r#"{"model":"m","max_tokens":1,"messages":[{"role":"user"}]}"#,
        r#"{"model":"m","max_tokens":1,"messages":[{"role":"system","content":[{"type":"mid_conv_system"}]}]}"#,
        r#"{"model":"m","max_tokens":1,"messages":[{"role":"system","content":[{"type":"text"}]}]}"#,
        r#"{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":null}]}]}"#,
        r#"{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":null,"content":null}]}]}"#,
        r#"{"model":"m","max_tokens":1,"messages":[{"role":"assistant","content":[{"type":"tool_use","input":null}]}]}"#,
        r#"{"mod\u0065l":"m","max_tokens":1,"messages":[{"rol\u0065":"user","content":"hi"}],"x\u0079":1}"#,
        r#"{"model":"m","max_tokens":1,"system":5,"messages":[{"role":"user","content":"hi"}]}"#,
        // Faults inside nested blocks, named by their whole path.
        r#"{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"document"}]}]}]}"#,
        r#"{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"hi"},{"role":"system","content":[{"type":"text","text":"a"},{"type":"mid_conv_system","content":[{"type":"image"}]}]}]}"#,
        deep_messages.as_str(),
        deep_extra.as_str(),
    ] {
        same_reading(body);
    }
    // Bytes that are not UTF-8, in a field nobody reads: `Value` refused them.
    let body = b"{\"x\":\"\xff\",\"model\":\"m\",\"max_tokens\":1,\"messages\":[]}";
    assert_eq!(read(body), legacy_parse_request(body));
    assert!(parse_request(body).is_err());
}

#[test]
fn schemas_and_inputs_keep_the_clients_bytes() {
    let body = format!(
        r#"{{"model":"m","max_tokens":1,"messages":[{{"role":"assistant","content":[{{"type":"tool_use","id":"t","name":"f","input": {SPACED_SCHEMA} }}]}}],"tools":[{{"name":"f","input_schema":{SPACED_SCHEMA}}},{{"type":"web_search_20250305","name":"web_search","max_uses":3,"name":"w2","allowed_domains":["a.example"]}}]}}"#
    );
    let read = parse_request(body.as_bytes()).unwrap().request;
    assert_eq!(read.tools[0].parameters_json, SPACED_SCHEMA);
    let Some(Part::ToolCall(call)) = &read.messages[0].content[0].part else {
        panic!("{:?}", read.messages);
    };
    assert_eq!(call.arguments_json, SPACED_SCHEMA);
    // The server tool goes on whole, its repeated key as a tree kept it (the last).
    let options: serde_json::Value = serde_json::from_str(&read.anthropic_options_json).unwrap();
    assert_eq!(
        options["tools"],
        serde_json::json!([{"type":"web_search_20250305","name":"w2","max_uses":3,"allowed_domains":["a.example"]}])
    );
    same_reading(&body);
}

#[test]
fn kept_values_are_refused_where_a_tree_refused_them() {
    for value in &refused_kept_values() {
        for body in [
            format!(
                r#"{{"model":"m","max_tokens":1,"messages":[{{"role":"assistant","content":[{{"type":"tool_use","input":{value}}}]}}]}}"#
            ),
            format!(
                r#"{{"model":"m","max_tokens":1,"messages":[],"tools":[{{"name":"f","input_schema":{value}}}]}}"#
            ),
            format!(
                r#"{{"model":"m","max_tokens":1,"messages":[],"tools":[{{"type":"x","name":"f","more":{value}}}]}}"#
            ),
        ] {
            same_reading(&body);
        }
    }
    let body = b"{\"model\":\"m\",\"max_tokens\":1,\"messages\":[],\"tools\":[{\"name\":\"f\",\"input_schema\":{\"d\":\"\xff\"}}]}";
    assert_eq!(read(body), legacy_parse_request(body));
    assert!(parse_request(body).is_err());
}
