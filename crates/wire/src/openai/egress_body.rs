//! The bulk of a Chat Completions request (the conversation and the tools) written straight
//! into bytes for the egress: what `write_messages` and the tool list built as trees, without
//! the trees. An agent's turn is mostly these two, so this is where its copies were. Keys go
//! in serde_json's order, so the bytes are the trees'; a tool's parameters, when they are
//! valid JSON, are copied as they came (the edge wrote them compact and sorted already).

use super::messages::MessageStyle;
use crate::canonical::pb::{self, content_part::Part};
use crate::json_out::{ArrayOut, ObjectOut, copy_json, joined, string};

/// Writes canonical messages as Chat Completions messages, as `write_messages` does: one
/// canonical tool message with several results becomes one `tool` message per result.
pub(super) fn write_messages_into(
    out: &mut Vec<u8>,
    messages: &[pb::Message],
    style: MessageStyle,
) {
    let mut array = ArrayOut::begin(out);
    for message in messages {
        let role = pb::Role::try_from(message.role).unwrap_or(pb::Role::User);
        match role {
            pb::Role::Tool => {
                for part in &message.content {
                    if let Some(Part::ToolResult(result)) = &part.part {
                        let mut object = ObjectOut::begin(array.item());
                        text_or_parts(object.key("content"), result.content.iter());
                        string(object.key("role"), "tool");
                        string(object.key("tool_call_id"), &result.tool_call_id);
                        object.end();
                    }
                }
            }
            pb::Role::Assistant => assistant(array.item(), message, style),
            other => {
                let name = match other {
                    pb::Role::System => "system",
                    pb::Role::Developer if style.developer_role => "developer",
                    pb::Role::Developer => "system",
                    _ => "user",
                };
                let mut object = ObjectOut::begin(array.item());
                text_or_parts(object.key("content"), message.content.iter());
                if !message.name.is_empty() {
                    string(object.key("name"), &message.name);
                }
                string(object.key("role"), name);
                object.end();
            }
        }
    }
    array.end();
}

fn assistant(out: &mut Vec<u8>, message: &pb::Message, style: MessageStyle) {
    let mut object = ObjectOut::begin(out);
    let texts = message
        .content
        .iter()
        .filter(|part| matches!(part.part, Some(Part::Text(_))));
    let content = object.key("content");
    if texts.clone().next().is_none() {
        content.extend_from_slice(b"null");
    } else {
        text_or_parts(content, texts);
    }
    if !message.name.is_empty() {
        string(object.key("name"), &message.name);
    }
    if style.reasoning_content {
        let reasoning = joined(message.content.iter().filter_map(|part| match &part.part {
            Some(Part::Reasoning(reasoning)) => Some(reasoning.text.as_str()),
            _ => None,
        }));
        if !reasoning.is_empty() {
            string(object.key("reasoning_content"), &reasoning);
        }
    }
    string(object.key("role"), "assistant");
    let mut calls = message.content.iter().filter_map(|part| match &part.part {
        Some(Part::ToolCall(call)) => Some(call),
        _ => None,
    });
    if let Some(first) = calls.next() {
        let mut array = ArrayOut::begin(object.key("tool_calls"));
        for call in std::iter::once(first).chain(calls) {
            let mut written = ObjectOut::begin(array.item());
            let mut function = ObjectOut::begin(written.key("function"));
            string(function.key("arguments"), &call.arguments_json);
            string(function.key("name"), &call.name);
            function.end();
            string(written.key("id"), &call.id);
            string(written.key("type"), "function");
            written.end();
        }
        array.end();
    }
    object.end();
}

/// Text alone as one string; anything else as an array of text and image parts (other parts
/// are dropped, as the tree writer drops them).
fn text_or_parts<'p>(out: &mut Vec<u8>, parts: impl Iterator<Item = &'p pb::ContentPart> + Clone) {
    let text_of = |part: &'p pb::ContentPart| match &part.part {
        Some(Part::Text(text)) => Some(text.as_str()),
        _ => None,
    };
    if parts.clone().all(|part| text_of(part).is_some()) {
        string(out, &joined(parts.filter_map(text_of)));
        return;
    }
    let mut array = ArrayOut::begin(out);
    for part in parts {
        match &part.part {
            Some(Part::Text(text)) => {
                let mut object = ObjectOut::begin(array.item());
                string(object.key("text"), text);
                string(object.key("type"), "text");
                object.end();
            }
            Some(Part::Image(image)) => image_url(array.item(), image),
            _ => {}
        }
    }
    array.end();
}

/// An image as `image_url`: URLs pass through, bytes become a data URL.
fn image_url(out: &mut Vec<u8>, image: &pb::Image) {
    use base64::Engine;
    let mut object = ObjectOut::begin(out);
    let mut inner = ObjectOut::begin(object.key("image_url"));
    if !image.detail.is_empty() {
        string(inner.key("detail"), &image.detail);
    }
    let url = inner.key("url");
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
    inner.end();
    string(object.key("type"), "image_url");
    object.end();
}

/// Writes the `tools` list. Parameters that are not JSON (a `Value` would refuse them) are
/// written as `null`, as before.
pub(super) fn write_tools_into(out: &mut Vec<u8>, tools: &[pb::Tool]) {
    let mut array = ArrayOut::begin(out);
    for tool in tools {
        let mut object = ObjectOut::begin(array.item());
        let mut function = ObjectOut::begin(object.key("function"));
        if !tool.description.is_empty() {
            string(function.key("description"), &tool.description);
        }
        string(function.key("name"), &tool.name);
        if !tool.parameters_json.is_empty() {
            let parameters = function.key("parameters");
            if !copy_json(parameters, &tool.parameters_json) {
                parameters.extend_from_slice(b"null");
            }
        }
        if tool.strict {
            function.key("strict").extend_from_slice(b"true");
        }
        function.end();
        string(object.key("type"), "function");
        object.end();
    }
    array.end();
}
