//! Any JSON arguments, streamed the way Vertex streams them (`partialArgs` at `jsonPath`s in
//! document order, strings cut into `willContinue` pieces, numbers, booleans and nulls
//! whole, with or without the closing empty `functionCall`), decode at any split of the bytes
//! into one call whose arguments are that JSON, typed as sent.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{accumulate, decode, gemini, summarize};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Keys: plain ones (dot notation) and ones only bracket notation can carry.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9_]{0,6}",
        Just("a b".to_owned()),
        Just("x.y".to_owned()),
        Just("it's".to_owned()),
        Just("[0]".to_owned()),
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        ".{0,12}".prop_map(Value::String),
        (-1_000_000i64..1_000_000).prop_map(|n| json!(n)),
        (-1000i32..1000).prop_map(|n| json!(f64::from(n) + 0.25)),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ]
}

/// JSON without empty containers (a container with no leaves has no path to stream).
fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 1..4).prop_map(Value::Array),
            proptest::collection::btree_map(key(), inner, 1..4)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn arguments() -> impl Strategy<Value = Value> {
    proptest::collection::btree_map(key(), value(), 1..4)
        .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>()))
}

fn step(path: &str, key: &str) -> String {
    if key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        format!("{path}.{key}")
    } else {
        format!(
            "{path}['{}']",
            key.replace('\\', "\\\\").replace('\'', "\\'")
        )
    }
}

fn leaves(path: String, value: &Value, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(map) => map.iter().for_each(|(k, v)| leaves(step(&path, k), v, out)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .for_each(|(i, v)| leaves(format!("{path}[{i}]"), v, out)),
        scalar => out.push((path, scalar.clone())),
    }
}

fn body(args: &Value, cut: usize, closed: bool) -> Vec<u8> {
    let chunk = |parts: Value, finish: bool| {
        let mut candidate = json!({ "content": { "role": "model", "parts": parts } });
        if finish {
            candidate["finishReason"] = json!("STOP");
        }
        format!("data: {}\r\n\r\n", json!({ "candidates": [candidate] }))
    };
    let mut out = chunk(
        json!([{ "functionCall": { "name": "f", "willContinue": true } }]),
        false,
    );
    let mut all = Vec::new();
    leaves("$".to_owned(), args, &mut all);
    for (path, value) in all {
        let items = match &value {
            Value::String(text) => {
                let at = text
                    .char_indices()
                    .nth(cut % (text.chars().count() + 1))
                    .map_or(text.len(), |(i, _)| i);
                vec![
                    json!({ "jsonPath": path, "stringValue": &text[..at], "willContinue": true }),
                    json!({ "jsonPath": path, "stringValue": &text[at..] }),
                ]
            }
            Value::Number(n) => vec![json!({ "jsonPath": path, "numberValue": n })],
            Value::Bool(b) => vec![json!({ "jsonPath": path, "boolValue": b })],
            _ => vec![json!({ "jsonPath": path, "nullValue": "NULL_VALUE" })],
        };
        for item in items {
            out.push_str(&chunk(
                json!([{ "functionCall": { "partialArgs": [item], "willContinue": true } }]),
                false,
            ));
        }
    }
    if closed {
        out.push_str(&chunk(json!([{ "functionCall": {} }]), false));
    }
    out.push_str(&chunk(json!([{ "text": "" }]), true));
    out.into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn streamed_arguments_assemble_into_the_json_sent(args in arguments(), cut in any::<usize>(), closed in any::<bool>(), split in any::<usize>()) {
        let bytes = body(&args, cut, closed);
        let split = split % (bytes.len() + 1);
        let summary = summarize(&accumulate(&decode(gemini, &bytes, &[split]).unwrap()));
        prop_assert_eq!(summary.tool_calls.len(), 1);
        prop_assert_eq!(&summary.tool_calls[0].0, "f");
        prop_assert_eq!(&summary.tool_calls[0].1, &args);
    }
}
