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
