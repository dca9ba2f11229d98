//! The bulk of a Messages request (the conversation, the system prompt and the tools) written
//! straight into bytes for the egress, without the `Value` trees `blocks` built: a coding
//! agent's turn is mostly these. Keys go in serde_json's order, so the bytes are the trees';
//! tool inputs and schemas that are valid JSON are copied as they came (the edge wrote them
//! compact and sorted already).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;

use crate::canonical::pb::{self, content_part::Part};
use crate::error::WireError;
use crate::json_out::{ArrayOut, ObjectOut, conversation_size, copy_json, string, value};
use crate::responses::THOUGHT_SIGNATURE_PREFIX;

/// The written conversation: `messages` always, `system` when there was one.
pub(super) struct Conversation {
    pub messages: Vec<u8>,
    pub system: Option<Vec<u8>>,
}

/// Writes the turns as `build_request` merged them: system and developer messages join the
/// top-level system prompt (or, with `in_place`, stay where they are once the conversation
/// has begun); messages that give no block are dropped; consecutive turns of one role merge.
/// Faults are found in message order, as before.
pub(super) fn write_conversation(
    messages: &[pb::Message],
    in_place: bool,
) -> Result<Conversation, WireError> {
    let mut out = Vec::with_capacity(conversation_size(messages));
    let mut system = Vec::new();
    let mut system_blocks = Vec::new();
    out.push(b'[');
    // The role of the turn whose content array is open.
    let mut open: Option<&str> = None;
    let mut any_turn = false;
    for message in messages {
        let role = match pb::Role::try_from(message.role).unwrap_or(pb::Role::User) {
            pb::Role::System | pb::Role::Developer if in_place && any_turn => {
                if message.content.iter().any(is_block) {
                    close_turn(&mut out, open.take());
                    out.extend_from_slice(b",{\"content\":[");
                    write_blocks(&mut out, &message.content, 0)?;
                    out.extend_from_slice(b"],\"role\":\"system\"}");
                }
                continue;
            }
            pb::Role::System | pb::Role::Developer => {
                let before = system_blocks.len();
                system_blocks.extend(message.content.iter().filter(|part| is_block(part)));
                write_blocks(&mut system, &message.content, before)?;
                continue;
            }
            pb::Role::Assistant => "assistant",
            _ => "user",
        };
        if !message.content.iter().any(is_block) {
            continue;
        }
        // A merged turn already holds a block: this message's follow a comma.
        let mut already = 1;
        if open != Some(role) {
            close_turn(&mut out, open.take());
            out.extend_from_slice(if any_turn {
                b",{\"content\":["
            } else {
                b"{\"content\":["
            });
            open = Some(role);
            any_turn = true;
            already = 0;
        }
        write_blocks(&mut out, &message.content, already)?;
    }
    close_turn(&mut out, open);
    out.push(b']');
    let system = match system_blocks.as_slice() {
        [] => None,
        // One block without a cache hint goes as plain text (`null` when it has none).
        [only] if only.cache.is_none() => {
            let mut plain = Vec::new();
            match &only.part {
                Some(Part::Text(text)) => string(&mut plain, text),
                Some(Part::Image(image)) if image.source.is_none() => string(&mut plain, ""),
                _ => plain.extend_from_slice(b"null"),
            }
            Some(plain)
        }
        _ => {
            let mut array = Vec::with_capacity(system.len() + 2);
            array.push(b'[');
            array.append(&mut system);
            array.push(b']');
            Some(array)
        }
    };
    Ok(Conversation {
        messages: out,
        system,
    })
}

fn close_turn(out: &mut Vec<u8>, role: Option<&str>) {
    if let Some(role) = role {
        out.extend_from_slice(b"],\"role\":");
        string(out, role);
        out.push(b'}');
    }
}

/// Whether a part gives a block: empty text, reasoning that cannot be sent back (no
/// signature, as from another provider, or a Gemini thought signature's carrier) and empty
/// parts give none.
fn is_block(part: &pb::ContentPart) -> bool {
    match &part.part {
        Some(Part::Text(text)) => !text.is_empty(),
        Some(Part::Reasoning(reasoning)) => {
            !reasoning.redacted.is_empty()
                || !(reasoning.signature.is_empty()
                    || reasoning.signature.starts_with(THOUGHT_SIGNATURE_PREFIX))
        }
        Some(_) => true,
        None => false,
    }
}

/// Writes the blocks of `parts` into an array that holds `already` blocks, comma-separated.
fn write_blocks(
    out: &mut Vec<u8>,
    parts: &[pb::ContentPart],
    already: usize,
) -> Result<(), WireError> {
    for (i, part) in parts.iter().filter(|part| is_block(part)).enumerate() {
        if already + i > 0 {
            out.push(b',');
        }
        write_block(out, part)?;
    }
    Ok(())
}

fn write_block(out: &mut Vec<u8>, part: &pb::ContentPart) -> Result<(), WireError> {
    let mut object = ObjectOut::begin(out);
    if let Some(hint) = &part.cache {
        cache_control(object.key("cache_control"), hint);
    }
    match &part.part {
        Some(Part::Text(text)) => {
            string(object.key("text"), text);
            string(object.key("type"), "text");
        }
        Some(Part::Image(image)) => write_image(&mut object, image),
        Some(Part::ToolCall(call)) => {
            string(object.key("id"), &call.id);
            let input = object.key("input");
            if call.arguments_json.trim().is_empty() {
                input.extend_from_slice(b"{}");
            } else if !copy_json(input, &call.arguments_json) {
                return Err(WireError::from_status(
                    "anthropic",
                    400,
                    "invalid_request_error",
                    format!("tool call {} has arguments that are not JSON", call.id),
                ));
            }
            string(object.key("name"), &call.name);
            string(object.key("type"), "tool_use");
        }
        Some(Part::ToolResult(result)) => {
            let content = object.key("content");
            content.push(b'[');
            write_blocks(content, &result.content, 0)?;
            content.push(b']');
            if result.is_error {
                object.key("is_error").extend_from_slice(b"true");
            }
            string(object.key("tool_use_id"), &result.tool_call_id);
            string(object.key("type"), "tool_result");
        }
        Some(Part::Reasoning(reasoning)) if !reasoning.redacted.is_empty() => {
            string(object.key("data"), &reasoning.redacted);
            string(object.key("type"), "redacted_thinking");
        }
        Some(Part::Reasoning(reasoning)) => {
            string(object.key("signature"), &reasoning.signature);
            string(object.key("thinking"), &reasoning.text);
            string(object.key("type"), "thinking");
        }
        None => {}
    }
    object.end();
    Ok(())
}

fn write_image(object: &mut ObjectOut<'_>, image: &pb::Image) {
    let base64 = |object: &mut ObjectOut<'_>, media_type: &str, data: &str| {
        let mut source = ObjectOut::begin(object.key("source"));
        string(source.key("data"), data);
        string(source.key("media_type"), media_type);
        string(source.key("type"), "base64");
        source.end();
    };
    match &image.source {
        Some(pb::image::Source::Data(data)) => {
            base64(object, &image.media_type, &BASE64.encode(data));
        }
        Some(pb::image::Source::Url(url)) => match crate::canonical::data_url(url) {
            Some((media_type, data)) => base64(object, media_type, data),
            None => {
                let mut source = ObjectOut::begin(object.key("source"));
                string(source.key("type"), "url");
                string(source.key("url"), url);
                source.end();
            }
        },
        None => {
            string(object.key("text"), "");
            string(object.key("type"), "text");
            return;
        }
    }
    string(object.key("type"), "image");
}

fn cache_control(out: &mut Vec<u8>, hint: &pb::CacheHint) {
    let mut object = ObjectOut::begin(out);
    if !hint.ttl.is_empty() {
        string(object.key("ttl"), &hint.ttl);
    }
    string(object.key("type"), "ephemeral");
    object.end();
}

/// Writes the tool list: the request's tools (a schema that is not JSON goes as
/// `{"type":"object"}`), then the server tools the client's Anthropic options carried.
pub(super) fn write_tools(tools: &[pb::Tool], server_tools: &[Value]) -> Vec<u8> {
    let size: usize = tools
        .iter()
        .map(|tool| tool.parameters_json.len() + tool.description.len() + 64)
        .sum();
    let mut out = Vec::with_capacity(size + 2);
    let mut array = ArrayOut::begin(&mut out);
    for tool in tools {
        let mut object = ObjectOut::begin(array.item());
        if let Some(hint) = &tool.cache {
            cache_control(object.key("cache_control"), hint);
        }
        if !tool.description.is_empty() {
            string(object.key("description"), &tool.description);
        }
        let schema = object.key("input_schema");
        if !copy_json(schema, &tool.parameters_json) {
            schema.extend_from_slice(br#"{"type":"object"}"#);
        }
        string(object.key("name"), &tool.name);
        if tool.strict {
            object.key("strict").extend_from_slice(b"true");
        }
        object.end();
    }
    for tool in server_tools {
        value(array.item(), tool);
    }
    array.end();
    out
}
