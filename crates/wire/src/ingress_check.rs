//! What the ingress equivalence tests share: a typed ingress keeps tool schemas and tool
//! inputs as the client wrote them, where the tree reader it replaced wrote them again
//! (compact, keys sorted); so the two readings are compared with those texts as trees.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;

use crate::canonical::pb::{self, content_part::Part};

/// A JSON text as a `Value` writes it (unchanged when not JSON).
fn as_tree_writes(json: &mut String) {
    if let Ok(value) = serde_json::from_str::<Value>(json) {
        *json = serde_json::to_string(&value).unwrap();
    }
}

/// The request with its kept texts (tool schemas, call arguments) as a tree writes them.
pub(crate) fn kept_as_tree_writes(mut request: pb::ChatRequest) -> pb::ChatRequest {
    fn parts(list: &mut [pb::ContentPart]) {
        for part in list {
            match &mut part.part {
                Some(Part::ToolCall(call)) => as_tree_writes(&mut call.arguments_json),
                Some(Part::ToolResult(result)) => parts(&mut result.content),
                _ => {}
            }
        }
    }
    for tool in &mut request.tools {
        as_tree_writes(&mut tool.parameters_json);
    }
    for message in &mut request.messages {
        parts(&mut message.content);
    }
    request
}

/// A tool schema written with spaces and unsorted keys, which a kept text must keep as is.
pub(crate) const SPACED_SCHEMA: &str = "{ \"type\": \"object\",\n  \"properties\": {\"z\": {\"type\": \"string\"}, \"a\": {\"maximum\": 1e3, \"type\": \"integer\"}} }";

/// Values a tree refused, to be kept raw: a bad number, escape or surrogate, a raw tab, a
/// syntax error, and nesting around `serde_json`'s limit of 128 levels in all and around the
/// depth at which a kept value alone no longer decides.
pub(crate) fn refused_kept_values() -> Vec<String> {
    let mut values: Vec<String> = [
        "1e999",
        r#""\uZZZZ""#,
        r#""\ud800""#,
        "\"tab\there\"",
        "[1,]",
    ]
    .map(str::to_owned)
    .to_vec();
    for depth in (60..70).chain(118..132) {
        values.push("[".repeat(depth) + &"]".repeat(depth));
        values.push(r#"{"a":"#.repeat(depth) + "1" + &"}".repeat(depth));
    }
    values
}
