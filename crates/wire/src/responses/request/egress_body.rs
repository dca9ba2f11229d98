//! A Responses request's `input` and `tools` (most of a coding agent's turn) written straight
//! into bytes for the egress: what `write_input` and `write_tools` built as trees, without the
//! trees. Keys go in serde_json's order, so the bytes are the trees'; a function's parameters,
//! when they are valid JSON, are copied as they came (the edge wrote them compact and sorted).

use base64::Engine;
use serde_json::Value;

use super::build::Style;
use crate::canonical::pb::{self, content_part::Part};
use crate::json::str_of;
use crate::json_out::{ArrayOut, ObjectOut, copy_json, joined, string, value};
use crate::responses::{NAMESPACE_SEPARATOR, split_namespace};

/// Writes the messages as input items: user, system and developer messages as `message`
/// items of input parts; an assistant's parts in order as reasoning, `message` (its text
/// runs) and `function_call` items; tool results as `function_call_output` items.
pub(super) fn write_input_into(out: &mut Vec<u8>, messages: &[pb::Message], style: &Style<'_>) {
    let mut items = ArrayOut::begin(out);
    for message in messages {
        let role = match message.role() {
            pb::Role::Assistant => {
                assistant_items(&mut items, message, style);
                continue;
            }
            pb::Role::Tool => {
                for part in &message.content {
                    if let Some(Part::ToolResult(result)) = &part.part {
                        let mut item = ObjectOut::begin(items.item());
                        string(item.key("call_id"), &result.tool_call_id);
                        output(item.key("output"), &result.content);
                        string(item.key("type"), "function_call_output");
                        item.end();
                    }
                }
                continue;
            }
            pb::Role::System => "system",
            pb::Role::Developer => "developer",
            pb::Role::User | pb::Role::Unspecified => "user",
        };
        let mut item = ObjectOut::begin(items.item());
        input_parts(item.key("content"), &message.content);
        string(item.key("role"), role);
        string(item.key("type"), "message");
        item.end();
    }
    items.end();
}

/// An assistant message's parts as items, in order: reasoning, messages (each run of text
/// parts), function calls.
fn assistant_items(items: &mut ArrayOut<'_>, message: &pb::Message, style: &Style<'_>) {
    // Whether a `message` item is open, its content array taking text parts.
    let mut open = false;
    for part in &message.content {
        let Some(kind) = &part.part else { continue };
        if let Part::Text(text) = kind {
            let out = if open {
                let out = items.current();
                out.push(b',');
                out
            } else {
                let out = items.item();
                out.extend_from_slice(b"{\"content\":[");
                open = true;
                out
            };
            let mut content = ObjectOut::begin(out);
            if part.refusal {
                string(content.key("refusal"), text);
                string(content.key("type"), "refusal");
            } else {
                content.key("annotations").extend_from_slice(b"[]");
                string(content.key("text"), text);
                string(content.key("type"), "output_text");
            }
            content.end();
            continue;
        }
        if !matches!(kind, Part::Reasoning(_) | Part::ToolCall(_)) {
            continue;
        }
        if open {
            close_message(items.current());
            open = false;
        }
        match kind {
            Part::Reasoning(reasoning) => {
                // OpenAI reasoning has an item id; redacted data is Anthropic's.
                if reasoning.id.is_empty()
                    || !reasoning.redacted.is_empty()
                    || (reasoning.signature.is_empty() && !style.bare_reasoning)
                {
                    continue;
                }
                let mut item = ObjectOut::begin(items.item());
                if !reasoning.signature.is_empty() {
                    string(item.key("encrypted_content"), &reasoning.signature);
                }
                string(item.key("id"), &reasoning.id);
                let summary = item.key("summary");
                if reasoning.text.is_empty() {
                    summary.extend_from_slice(b"[]");
                } else {
                    summary.extend_from_slice(b"[{\"text\":");
                    string(summary, &reasoning.text);
                    summary.extend_from_slice(b",\"type\":\"summary_text\"}]");
                }
                string(item.key("type"), "reasoning");
                item.end();
            }
            Part::ToolCall(call) => {
                let (namespace, name) = split_namespace(&call.name, style.namespaces);
                let arguments = if call.arguments_json.is_empty() {
                    "{}"
                } else {
                    call.arguments_json.as_str()
                };
                let mut item = ObjectOut::begin(items.item());
                string(item.key("arguments"), arguments);
                string(item.key("call_id"), &call.id);
                string(item.key("name"), name);
                if let Some(namespace) = namespace {
                    string(item.key("namespace"), namespace);
                }
                string(item.key("type"), "function_call");
                item.end();
            }
            _ => {}
        }
    }
    if open {
        close_message(items.current());
    }
}

fn close_message(out: &mut Vec<u8>) {
    out.extend_from_slice(b"],\"role\":\"assistant\",\"type\":\"message\"}");
}

/// Text and images as input content parts.
fn input_parts(out: &mut Vec<u8>, parts: &[pb::ContentPart]) {
    let mut array = ArrayOut::begin(out);
    for part in parts {
        match &part.part {
            Some(Part::Text(text)) => {
                let mut object = ObjectOut::begin(array.item());
                string(object.key("text"), text);
                string(object.key("type"), "input_text");
                object.end();
            }
            Some(Part::Image(picture)) => image(array.item(), picture),
            _ => {}
        }
    }
    array.end();
}

fn image(out: &mut Vec<u8>, image: &pb::Image) {
    let mut object = ObjectOut::begin(out);
    let detail = if image.detail.is_empty() {
        "auto"
    } else {
        image.detail.as_str()
    };
    string(object.key("detail"), detail);
    let url = object.key("image_url");
    match &image.source {
        Some(pb::image::Source::Url(address)) => string(url, address),
        Some(pb::image::Source::Data(data)) => string(
            url,
            &format!(
                "data:{};base64,{}",
                image.media_type,
                base64::engine::general_purpose::STANDARD.encode(data)
            ),
        ),
        None => string(url, ""),
    }
    string(object.key("type"), "input_image");
    object.end();
}

/// A function call's output: a string when it is all text, else input parts.
fn output(out: &mut Vec<u8>, parts: &[pb::ContentPart]) {
    let texts = parts.iter().map(|part| match &part.part {
        Some(Part::Text(text)) => Some(text.as_str()),
        _ => None,
    });
    if !texts.clone().all(|text| text.is_some()) {
        input_parts(out, parts);
        return;
    }
    string(out, &joined(texts.flatten()));
}

/// One entry of the tool list: a function, or a namespace with its member functions (at its
/// first member's place).
enum Entry<'t> {
    Function(&'t pb::Tool),
    Namespace(&'t str, Vec<&'t pb::Tool>),
}

/// Writes the tool list (`None` when empty): function tools, namespaced ones regrouped into
/// their namespace, then the hosted tools.
pub(super) fn write_tools_into(request: &pb::ChatRequest, hosted: &[Value]) -> Option<Vec<u8>> {
    let mut entries: Vec<Entry<'_>> = Vec::with_capacity(request.tools.len());
    for tool in &request.tools {
        if tool.namespace.is_empty() {
            entries.push(Entry::Function(tool));
            continue;
        }
        let group = entries.iter_mut().find_map(|entry| match entry {
            Entry::Namespace(name, members) if *name == tool.namespace => Some(members),
            _ => None,
        });
        match group {
            Some(members) => members.push(tool),
            None => entries.push(Entry::Namespace(&tool.namespace, vec![tool])),
        }
    }
    let shells = hosted;
    let hosted: Vec<&Value> = hosted
        .iter()
        .filter(|tool| str_of(tool, "type") != "namespace")
        .collect();
    if entries.is_empty() && hosted.is_empty() {
        return None;
    }
    let size: usize = request
        .tools
        .iter()
        .map(|tool| tool.parameters_json.len() + tool.description.len() + 64)
        .sum();
    let mut out = Vec::with_capacity(size + 2);
    let mut array = ArrayOut::begin(&mut out);
    for entry in &entries {
        match entry {
            Entry::Function(tool) => function(array.item(), tool, &tool.name),
            Entry::Namespace(namespace, members) => {
                let mut group = ObjectOut::begin(array.item());
                // The client's description of the namespace travels as a hosted shell.
                let description = shells
                    .iter()
                    .find(|h| str_of(h, "type") == "namespace" && str_of(h, "name") == *namespace)
                    .map(|shell| str_of(shell, "description"))
                    .filter(|d| !d.is_empty())
                    .unwrap_or(namespace);
                string(group.key("description"), description);
                string(group.key("name"), namespace);
                let mut tools = ArrayOut::begin(group.key("tools"));
                for tool in members {
                    let name = tool
                        .name
                        .strip_prefix(*namespace)
                        .and_then(|rest| rest.strip_prefix(NAMESPACE_SEPARATOR))
                        .unwrap_or(&tool.name);
                    function(tools.item(), tool, name);
                }
                tools.end();
                string(group.key("type"), "namespace");
                group.end();
            }
        }
    }
    for tool in hosted {
        value(array.item(), tool);
    }
    array.end();
    Some(out)
}

fn function(out: &mut Vec<u8>, tool: &pb::Tool, name: &str) {
    let mut object = ObjectOut::begin(out);
    if !tool.description.is_empty() {
        string(object.key("description"), &tool.description);
    }
    string(object.key("name"), name);
    let parameters = object.key("parameters");
    if !copy_json(parameters, &tool.parameters_json) {
        parameters.extend_from_slice(br#"{"properties":{},"type":"object"}"#);
    }
    // Responses defaults to strict: canonical tools say which they are.
    object
        .key("strict")
        .extend_from_slice(if tool.strict { b"true" } else { b"false" });
    string(object.key("type"), "function");
    object.end();
}
