//! The bulk of a Converse request (the conversation, the system prompt and the tool
//! configuration) written straight into bytes, without the `Value` trees `blocks` built. Keys
//! go in serde_json's order, so the bytes are the trees'; tool inputs and schemas that are
//! valid JSON are copied as they came (the edge wrote them compact and sorted already).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::converse::invalid;
use crate::canonical::pb::{self, content_part::Part};
use crate::error::WireError;
use crate::json_out::{ArrayOut, ObjectOut, conversation_size, copy_json, string};

/// The written conversation: `messages` always, `system` when there was one.
pub(super) struct Conversation {
    pub messages: Vec<u8>,
    pub system: Option<Vec<u8>>,
}

/// Writes the turns as `build_request` merged them: system and developer messages before the
/// conversation form the system prompt, later ones stay in place as user text; messages that
/// give no block are dropped; consecutive turns of one role merge. Faults are found in
/// message order, as before.
pub(super) fn write_conversation(messages: &[pb::Message]) -> Result<Conversation, WireError> {
    let mut out = Vec::with_capacity(conversation_size(messages));
    let mut system = Vec::new();
    let mut system_blocks = 0;
    out.push(b'[');
    // The role of the turn whose content array is open, and whether any turn was begun.
    let mut open: Option<&str> = None;
    let mut any_turn = false;
    for message in messages {
        let role = pb::Role::try_from(message.role).unwrap_or(pb::Role::User);
        let (role, in_place_text) = match role {
            // Instructions given after the conversation began keep their place as user text
            // (the same rule as Gemini's).
            pb::Role::System | pb::Role::Developer if any_turn => {
                ("user", Some(super::mid_conversation_text(&message.content)))
            }
            pb::Role::System | pb::Role::Developer => {
                system_blocks = write_blocks(&mut system, &message.content, system_blocks)?;
                continue;
            }
            pb::Role::Assistant => ("assistant", None),
            _ => ("user", None),
        };
        if in_place_text.is_none() && !message.content.iter().any(is_block) {
            continue;
        }
        // A merged turn already holds a block: this message's follow a comma.
        let mut already = 1;
        if open != Some(role) {
            if let Some(previous) = open.take() {
                close_turn(&mut out, previous);
            }
            out.extend_from_slice(if any_turn {
                b",{\"content\":["
            } else {
                b"{\"content\":["
            });
            open = Some(role);
            any_turn = true;
            already = 0;
        }
        match in_place_text {
            Some(text) => {
                if already > 0 {
                    out.push(b',');
                }
                text_block(&mut out, &text);
            }
            None => {
                write_blocks(&mut out, &message.content, already)?;
            }
        }
    }
    if let Some(role) = open {
        close_turn(&mut out, role);
    }
    out.push(b']');
    let system = (system_blocks > 0).then(|| {
        let mut array = Vec::with_capacity(system.len() + 2);
        array.push(b'[');
        array.append(&mut system);
        array.push(b']');
        array
    });
    Ok(Conversation {
        messages: out,
        system,
    })
}

fn close_turn(out: &mut Vec<u8>, role: &str) {
    out.extend_from_slice(b"],\"role\":");
    string(out, role);
    out.push(b'}');
}

fn text_block(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(b"{\"text\":");
    string(out, text);
    out.push(b'}');
}

/// Whether a part gives a block: empty text, reasoning with neither redacted data nor a
/// signature, and empty parts give none.
fn is_block(part: &pb::ContentPart) -> bool {
    match &part.part {
        Some(Part::Text(text)) => !text.is_empty(),
        Some(Part::Reasoning(reasoning)) => {
            !reasoning.redacted.is_empty() || !reasoning.signature.is_empty()
        }
        Some(_) => true,
        None => false,
    }
}

/// Writes the blocks of `parts` (each hinted one followed by a `cachePoint`) into an array
/// that holds `already` blocks; gives how many it holds after.
fn write_blocks(
    out: &mut Vec<u8>,
    parts: &[pb::ContentPart],
    mut already: usize,
) -> Result<usize, WireError> {
    for part in parts.iter().filter(|part| is_block(part)) {
        if already > 0 {
            out.push(b',');
        }
        write_block(out, part)?;
        already += 1;
        if part.cache.is_some() {
            out.extend_from_slice(br#",{"cachePoint":{"type":"default"}}"#);
            already += 1;
        }
    }
    Ok(already)
}

fn write_block(out: &mut Vec<u8>, part: &pb::ContentPart) -> Result<(), WireError> {
    let mut block = ObjectOut::begin(out);
    match &part.part {
        Some(Part::Text(text)) => string(block.key("text"), text),
        Some(Part::Image(image)) => write_image(block.key("image"), image)?,
        Some(Part::ToolCall(call)) => {
            let mut tool_use = ObjectOut::begin(block.key("toolUse"));
            let input = tool_use.key("input");
            if !copy_json(input, &call.arguments_json) {
                input.extend_from_slice(b"{}");
            }
            string(tool_use.key("name"), &call.name);
            string(tool_use.key("toolUseId"), &call.id);
            tool_use.end();
        }
        Some(Part::ToolResult(result)) => {
            let mut tool_result = ObjectOut::begin(block.key("toolResult"));
            let content = tool_result.key("content");
            content.push(b'[');
            if write_blocks(content, &result.content, 0)? == 0 {
                text_block(content, "");
            }
            content.push(b']');
            let status = if result.is_error { "error" } else { "success" };
            string(tool_result.key("status"), status);
            string(tool_result.key("toolUseId"), &result.tool_call_id);
            tool_result.end();
        }
        Some(Part::Reasoning(reasoning)) => {
            let mut content = ObjectOut::begin(block.key("reasoningContent"));
            if reasoning.redacted.is_empty() {
                let mut text = ObjectOut::begin(content.key("reasoningText"));
                string(text.key("signature"), &reasoning.signature);
                string(text.key("text"), &reasoning.text);
                text.end();
            } else {
                string(content.key("redactedContent"), &reasoning.redacted);
            }
            content.end();
        }
        None => {}
    }
    block.end();
    Ok(())
}

/// Converse takes images inline only, as png, jpeg, gif or webp bytes.
fn write_image(out: &mut Vec<u8>, image: &pb::Image) -> Result<(), WireError> {
    let decoded;
    let (media_type, data): (&str, &[u8]) = match &image.source {
        Some(pb::image::Source::Data(data)) => (&image.media_type, data),
        Some(pb::image::Source::Url(url)) => {
            let (media_type, data) = crate::canonical::data_url(url).ok_or_else(|| {
                invalid("bedrock takes images inline: send bytes or a data: URL, not a remote URL")
            })?;
            decoded = BASE64
                .decode(data)
                .map_err(|_| invalid("image data URL is not valid base64"))?;
            (media_type, &decoded)
        }
        None => return Err(invalid("image without data")),
    };
    let format = media_type
        .strip_prefix("image/")
        .filter(|f| ["png", "jpeg", "gif", "webp"].contains(f))
        .ok_or_else(|| {
            invalid(format!(
                "image type {media_type:?} is not png, jpeg, gif or webp"
            ))
        })?;
    let mut object = ObjectOut::begin(out);
    string(object.key("format"), format);
    let mut source = ObjectOut::begin(object.key("source"));
    string(source.key("bytes"), &BASE64.encode(data));
    source.end();
    object.end();
    Ok(())
}

/// Writes the tool configuration: each tool's spec (a schema that is not JSON goes as
/// `{"type":"object"}`), a `cachePoint` after each hinted one, and the tool choice (Converse
/// has no "none": leaving the choice out keeps history with tool blocks valid).
pub(super) fn write_tool_config(request: &pb::ChatRequest) -> Vec<u8> {
    let size: usize = request
        .tools
        .iter()
        .map(|tool| tool.parameters_json.len() + tool.description.len() + 96)
        .sum();
    let mut out = Vec::with_capacity(size + 64);
    let mut config = ObjectOut::begin(&mut out);
    if let Some(choice) = &request.tool_choice {
        match choice.mode() {
            pb::ToolChoiceMode::Auto => config
                .key("toolChoice")
                .extend_from_slice(br#"{"auto":{}}"#),
            pb::ToolChoiceMode::Required => {
                config.key("toolChoice").extend_from_slice(br#"{"any":{}}"#)
            }
            pb::ToolChoiceMode::Tool => {
                let out = config.key("toolChoice");
                out.extend_from_slice(br#"{"tool":{"name":"#);
                string(out, &choice.name);
                out.extend_from_slice(b"}}");
            }
            _ => {}
        }
    }
    let mut tools = ArrayOut::begin(config.key("tools"));
    for tool in &request.tools {
        let out = tools.item();
        out.extend_from_slice(b"{\"toolSpec\":");
        let mut spec = ObjectOut::begin(out);
        if !tool.description.is_empty() {
            string(spec.key("description"), &tool.description);
        }
        let schema = spec.key("inputSchema");
        schema.extend_from_slice(b"{\"json\":");
        if !copy_json(schema, &tool.parameters_json) {
            schema.extend_from_slice(br#"{"type":"object"}"#);
        }
        schema.push(b'}');
        string(spec.key("name"), &tool.name);
        spec.end();
        out.push(b'}');
        if tool.cache.is_some() {
            tools
                .item()
                .extend_from_slice(br#"{"cachePoint":{"type":"default"}}"#);
        }
    }
    tools.end();
    config.end();
    out
}
