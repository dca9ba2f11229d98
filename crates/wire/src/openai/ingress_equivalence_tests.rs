//! The typed Chat Completions ingress against the `Value`-tree reader it replaced
//! (`legacy_ingress.rs`): generated bodies (fields of every type, missing, repeated, in any
//! order, unknown ones passed through) must give the same canonical request or the same
//! fault, named by the same field.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;

use super::legacy_ingress::legacy_parse_request;
use super::{ClientRequest, parse_request};
use crate::generated::{array, count, either, leading, leaf, name, object, one_of, text};
use crate::ingress::IngressError;
use crate::ingress_check::{SPACED_SCHEMA, kept_as_tree_writes, refused_kept_values};

fn part() -> BoxedStrategy<String> {
    either(object(vec![
        ("type", name(&["text", "image_url", "audio", ""])),
        ("text", text()),
        (
            "image_url",
            either(object(vec![("url", text()), ("detail", text())])),
        ),
    ]))
}

fn tool_calls() -> BoxedStrategy<String> {
    let arguments = prop_oneof![
        3 => text(),
        1 => either(object(vec![("b", leaf()), ("a", leaf())])),
    ]
    .boxed();
    let function = either(object(vec![("name", text()), ("arguments", arguments)]));
    either(array(either(object(vec![
        ("id", text()),
        ("type", text()),
        ("function", function),
    ]))))
}

fn message() -> BoxedStrategy<String> {
    let content = prop_oneof![3 => text(), 1 => array(part())].boxed();
    let rest = object(vec![
        ("content", content),
        ("tool_call_id", text()),
        ("reasoning_content", text()),
        ("tool_calls", tool_calls()),
        ("name", text()),
        ("role", leaf()),
    ]);
    let roles = &["system", "developer", "user", "assistant", "tool", "wizard"];
    // Mostly with a role up front (the rest may repeat or replace it).
    either(leading("role", name(roles), rest))
}

fn tools() -> BoxedStrategy<String> {
    let parameters = prop_oneof![
        2 => leaf(),
        2 => Just(r#"{"type":"object","properties":{"b":{},"a":{"type":"string"}}}"#.to_owned()),
        1 => Just(SPACED_SCHEMA.to_owned()),
    ]
    .boxed();
    let function = either(object(vec![
        ("name", name(&["get_weather", ""])),
        ("description", text()),
        ("parameters", parameters),
        ("strict", leaf()),
    ]));
    either(array(either(object(vec![
        ("type", text()),
        ("function", function),
    ]))))
}

fn body() -> BoxedStrategy<String> {
    let tool_choice = prop_oneof![
        1 => name(&["auto", "none", "required", "sometimes"]),
        1 => either(object(vec![
            ("type", text()),
            ("function", either(object(vec![("name", text())]))),
        ])),
    ]
    .boxed();
    let schema = either(object(vec![
        ("name", text()),
        ("description", text()),
        ("schema", leaf()),
        ("strict", leaf()),
    ]));
    let response_format = either(object(vec![
        (
            "type",
            name(&["text", "json_object", "json_schema", "yaml"]),
        ),
        ("json_schema", schema),
    ]));
    let stop = prop_oneof![2 => text(), 1 => array(text())].boxed();
    let rest = object(vec![
        ("messages", either(array(message()))),
        ("tools", tools()),
        ("tool_choice", tool_choice),
        ("parallel_tool_calls", leaf()),
        ("response_format", response_format),
        ("temperature", leaf()),
        ("top_p", leaf()),
        ("max_tokens", count()),
        ("max_completion_tokens", count()),
        ("stop", stop),
        ("seed", leaf()),
        ("presence_penalty", leaf()),
        ("frequency_penalty", leaf()),
        ("n", count()),
        ("user", text()),
        ("reasoning_effort", name(&["none", "low", "xhigh", ""])),
        ("stream", leaf()),
        (
            "stream_options",
            either(object(vec![("include_usage", leaf())])),
        ),
        ("model", leaf()),
        ("top_k", leaf()),
        (
            "x_vendor",
            either(object(vec![("b", leaf()), ("a", leaf())])),
        ),
    ]);
    // Mostly with a model and messages up front.
    let rest = leading("messages", array(message()), rest);
    either(leading("model", name(&["gpt-4o-mini", ""]), rest))
}

/// Bodies the ingress accepts, with every modelled field in its accepted shapes.
fn good_body() -> BoxedStrategy<String> {
    let message = one_of(&[
        r#"{"role":"user","content":"hi \"there\" \u00e9"}"#,
        r#"{"role":"system","content":null,"name":"n"}"#,
        r#"{"role":"developer","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"https://x/y.png","detail":"low"}}]}"#,
        r#"{"role":"assistant","content":"","reasoning_content":"think","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}},{"function":{"name":"g","arguments":{"b":2,"a":1}}},{"function":{"name":"h","arguments":null}}]}"#,
        r#"{"role":"tool","tool_call_id":"c1","content":"42"}"#,
        r#"{"role":"tool","tool_call_id":"c2","content":[{"type":"text","text":"x"}],"extra":[1]}"#,
    ]);
    let messages = proptest::collection::vec(message, 1..4)
        .prop_map(|m| format!("[{}]", m.join(",")))
        .boxed();
    let rest = object(vec![
        (
            "tools",
            one_of(&[
                "[]",
                r#"[{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object","properties":{"b":{},"a":{}}},"strict":true}}]"#,
                r#"[{"function":{"name":"g","parameters":null,"strict":false}},{"function":{"name":"h"}}]"#,
            ]),
        ),
        (
            "tool_choice",
            one_of(&[
                "null",
                "\"auto\"",
                "\"none\"",
                "\"required\"",
                r#"{"type":"function","function":{"name":"f"}}"#,
            ]),
        ),
        ("parallel_tool_calls", one_of(&["null", "true", "false"])),
        (
            "response_format",
            one_of(&[
                "null",
                r#"{"type":"text"}"#,
                r#"{"type":"json_object"}"#,
                r#"{"type":"json_schema","json_schema":{"name":"s","description":"d","schema":{"b":1,"a":2},"strict":true}}"#,
            ]),
        ),
        (
            "temperature",
            one_of(&["null", "0", "0.7", "2", "-1", "18446744073709551615"]),
        ),
        ("top_p", one_of(&["null", "1", "0.95"])),
        (
            "max_tokens",
            one_of(&["null", "0", "512", "4294967296", "18446744073709551615"]),
        ),
        ("max_completion_tokens", one_of(&["null", "64"])),
        ("stop", one_of(&["null", "\"END\"", r#"["a","b"]"#, "[]"])),
        ("seed", one_of(&["null", "-5", "7", "9223372036854775807"])),
        ("presence_penalty", one_of(&["null", "0.5"])),
        ("frequency_penalty", one_of(&["null", "-0.5", "1"])),
        ("n", one_of(&["null", "1", "3", "4294967296"])),
        ("user", one_of(&["\"u-1\"", "5", "null"])),
        (
            "reasoning_effort",
            one_of(&["\"none\"", "\"minimal\"", "\"high\"", "null", "3"]),
        ),
        ("stream", one_of(&["null", "true", "false"])),
        (
            "stream_options",
            one_of(&[
                "null",
                r#"{"include_usage":true}"#,
                r#"{"include_usage":false}"#,
                "[]",
            ]),
        ),
        ("top_k", one_of(&["40", "null", "1.5"])),
        (
            "x_vendor",
            one_of(&[r#"{"b":[1,{"d":null,"c":"x"}],"a":true}"#, "\"v\""]),
        ),
        ("safety_identifier", one_of(&["\"s\"", "\"a\\u0000b\""])),
    ]);
    leading(
        "model",
        Just("\"gpt-4o-mini\"".to_owned()).boxed(),
        leading("messages", messages, rest),
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
    let deep_messages = format!(r#"{{"model":"m","messages":{deep}}}"#);
    let deep_extra = format!(r#"{{"model":"m","x":{deep},"messages":[]}}"#);
    for body in [
        "",
        "{",
        "[]",
        "\"just a string\"",
        "{\"model\":\"m\"} x",
        r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"x":1e999}"#,
        r#"{"model":"m","messages":[{"role":"user","content":"\uZZZZ"}]}"#,
        r#"{"model":"m","messages":[{"role":"user","content":"\ud800"}]}"#,
        r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"x":"tab	here"}"#,
        r#"{"model":"m","messages":null}"#,
        r#"{"model":"m","messages":[5]}"#,
        r#"{"model":"m","messages":[{"role":"tool","content":{"a":1}}]}"#,
        r#"{"model":"m","messages":[{"role":"assistant","tool_calls":[{"function":null}]}]}"#,
        r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"function":{"name":"f","parameters":null}}]}"#,
        r#"{"mod\u0065l":"m","messages":[{"rol\u0065":"user","content":"hi"}],"x\u0079":1}"#,
        r#"{"model":"m","model":"","messages":[{"role":"user","content":"hi"}]}"#,
        r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"seed":9223372036854775808}"#,
        r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":-1,"temperature":"hot"}"#,
        deep_messages.as_str(),
        deep_extra.as_str(),
    ] {
        same_reading(body);
    }
    // Bytes that are not UTF-8, in a field nobody reads: `Value` refused them.
    let body = b"{\"x\":\"\xff\",\"model\":\"m\",\"messages\":[]}";
    assert_eq!(read(body), legacy_parse_request(body));
    assert!(parse_request(body).is_err());
}

#[test]
fn tool_schemas_keep_the_clients_bytes() {
    let body = format!(
        r#"{{"model":"m","messages":[{{"role":"user","content":"hi"}}],"tools":[{{"type":"function","function":{{"name":"f","parameters": {SPACED_SCHEMA} }}}}]}}"#
    );
    let read = parse_request(body.as_bytes()).unwrap().request;
    assert_eq!(read.tools[0].parameters_json, SPACED_SCHEMA);
    same_reading(&body);
}

#[test]
fn kept_schemas_are_refused_where_a_tree_refused_them() {
    for value in &refused_kept_values() {
        let body = format!(
            r#"{{"model":"m","messages":[{{"role":"user","content":"hi"}}],"tools":[{{"function":{{"name":"f","parameters":{value}}}}}]}}"#
        );
        same_reading(&body);
    }
    let body = b"{\"model\":\"m\",\"messages\":[],\"tools\":[{\"function\":{\"name\":\"f\",\"parameters\":{\"d\":\"\xff\"}}}]}";
    assert_eq!(read(body), legacy_parse_request(body));
    assert!(parse_request(body).is_err());
}
