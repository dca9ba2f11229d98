//! The bulk of a `generateContent` request (the contents, the system instruction and the
//! function declarations) written straight into bytes, without the `Value` trees the builder
//! made and then patched. The turns are laid out first (which parts merge into which turn,
//! which call gets the placeholder signature), then written. Keys go in serde_json's order, so
//! the bytes are the trees'; call arguments, JSON tool results and schemas that are valid JSON
//! are copied as they came (the edge wrote them compact and sorted already).

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::request::{SKIP_THOUGHT_SIGNATURE, media_type_of};
use crate::canonical::pb::{self, content_part::Part};
use crate::json_out::{ArrayOut, ObjectOut, conversation_size, copy_json, joined, string};

/// What one part of a turn is written from.
enum Piece<'m> {
    Part(&'m pb::ContentPart),
    /// A system message given after the conversation began, as user text.
    Text(String),
}

struct Turn<'m> {
    role: &'static str,
    pieces: Vec<Piece<'m>>,
    /// The piece (a function call without a signature) that carries the placeholder.
    placeholder: Option<usize>,
}

/// The written conversation: `contents` always, the system instruction's parts when there
/// were any.
pub(super) struct Conversation {
    pub contents: Vec<u8>,
    pub system: Option<Vec<u8>>,
}

/// Whether a part is written: reasoning (Gemini needs only the signatures, which ride on the
/// parts) and empty text without a signature are not.
fn is_part(part: &pb::ContentPart) -> bool {
    match &part.part {
        Some(Part::Text(text)) => !text.is_empty() || !part.thought_signature.is_empty(),
        Some(Part::Reasoning(_)) | None => false,
        Some(_) => true,
    }
}

/// Lays the messages out as turns and writes them. `sign` gives the placeholder signature
/// to the calls Google checks that came without one (see `sign_unsigned_calls`' rule: in
/// the current turn, which begins after the latest user content without function
/// responses, the first function call of each model content).
pub(super) fn write_conversation(messages: &[pb::Message], sign: bool) -> Conversation {
    // Gemini matches results to calls by name: learn names from the calls.
    let mut call_names: HashMap<&str, &str> = HashMap::new();
    for message in messages {
        for part in &message.content {
            if let Some(Part::ToolCall(call)) = &part.part {
                call_names.insert(&call.id, &call.name);
            }
        }
    }
    let mut system: Vec<&pb::ContentPart> = Vec::new();
    let mut turns: Vec<Turn<'_>> = Vec::new();
    for message in messages {
        if !message.content.iter().any(is_part) {
            continue;
        }
        let parts = message.content.iter().filter(|part| is_part(part));
        let (role, pieces): (&'static str, Vec<Piece<'_>>) =
            match pb::Role::try_from(message.role).unwrap_or(pb::Role::User) {
                // Instructions given after the conversation began keep their place as user
                // text.
                pb::Role::System | pb::Role::Developer if !turns.is_empty() => (
                    "user",
                    vec![Piece::Text(crate::bedrock::mid_conversation_text(
                        &message.content,
                    ))],
                ),
                pb::Role::System | pb::Role::Developer => {
                    system.extend(parts);
                    continue;
                }
                pb::Role::Assistant => ("model", parts.map(Piece::Part).collect()),
                _ => ("user", parts.map(Piece::Part).collect()),
            };
        match turns.last_mut() {
            Some(last) if last.role == role => last.pieces.extend(pieces),
            _ => turns.push(Turn {
                role,
                pieces,
                placeholder: None,
            }),
        }
    }
    if sign {
        mark_unsigned_calls(&mut turns);
    }

    let mut out = Vec::with_capacity(conversation_size(messages));
    let mut contents = ArrayOut::begin(&mut out);
    for turn in &turns {
        let mut content = ObjectOut::begin(contents.item());
        let mut parts = ArrayOut::begin(content.key("parts"));
        for (i, piece) in turn.pieces.iter().enumerate() {
            match piece {
                Piece::Part(part) => {
                    write_part(parts.item(), part, &call_names, turn.placeholder == Some(i));
                }
                Piece::Text(text) => {
                    let mut object = ObjectOut::begin(parts.item());
                    string(object.key("text"), text);
                    object.end();
                }
            }
        }
        parts.end();
        string(content.key("role"), turn.role);
        content.end();
    }
    contents.end();
    let system = (!system.is_empty()).then(|| {
        let mut out = Vec::new();
        let mut parts = ArrayOut::begin(&mut out);
        for part in system {
            write_part(parts.item(), part, &call_names, false);
        }
        parts.end();
        out
    });
    Conversation {
        contents: out,
        system,
    }
}

fn is_call(piece: &Piece<'_>) -> bool {
    matches!(piece, Piece::Part(part) if matches!(part.part, Some(Part::ToolCall(_))))
}

fn mark_unsigned_calls(turns: &mut [Turn<'_>]) {
    let responds = |piece: &Piece<'_>| matches!(piece, Piece::Part(part) if matches!(part.part, Some(Part::ToolResult(_))));
    let start = turns
        .iter()
        .rposition(|turn| turn.role == "user" && !turn.pieces.iter().any(responds))
        .map_or(0, |at| at + 1);
    for turn in &mut turns[start..] {
        if turn.role != "model" {
            continue;
        }
        let first_call = turn.pieces.iter().position(is_call);
        if let Some(at) = first_call
            && let Piece::Part(part) = &turn.pieces[at]
            && part.thought_signature.is_empty()
        {
            turn.placeholder = Some(at);
        }
    }
}

fn write_part(
    out: &mut Vec<u8>,
    part: &pb::ContentPart,
    call_names: &HashMap<&str, &str>,
    placeholder: bool,
) {
    let mut object = ObjectOut::begin(out);
    match &part.part {
        Some(Part::Text(text)) => string(object.key("text"), text),
        Some(Part::Image(image)) => match &image.source {
            Some(pb::image::Source::Data(data)) => {
                let mut inline = ObjectOut::begin(object.key("inlineData"));
                string(inline.key("data"), &BASE64.encode(data));
                string(inline.key("mimeType"), &image.media_type);
                inline.end();
            }
            Some(pb::image::Source::Url(url)) => match crate::canonical::data_url(url) {
                Some((media_type, data)) => {
                    let mut inline = ObjectOut::begin(object.key("inlineData"));
                    string(inline.key("data"), data);
                    string(inline.key("mimeType"), media_type);
                    inline.end();
                }
                None => {
                    let mut file = ObjectOut::begin(object.key("fileData"));
                    string(file.key("fileUri"), url);
                    string(file.key("mimeType"), &media_type_of(image, url));
                    file.end();
                }
            },
            None => string(object.key("text"), ""),
        },
        Some(Part::ToolCall(call)) => {
            let mut function = ObjectOut::begin(object.key("functionCall"));
            let args = function.key("args");
            if !copy_json(args, &call.arguments_json) {
                args.extend_from_slice(b"{}");
            }
            string(function.key("name"), &call.name);
            function.end();
        }
        Some(Part::ToolResult(result)) => {
            let name = if result.name.is_empty() {
                call_names
                    .get(result.tool_call_id.as_str())
                    .copied()
                    .unwrap_or_default()
            } else {
                result.name.as_str()
            };
            let mut function = ObjectOut::begin(object.key("functionResponse"));
            string(function.key("name"), name);
            function_response(function.key("response"), result);
            function.end();
        }
        Some(Part::Reasoning(_)) | None => {}
    }
    if placeholder {
        string(object.key("thoughtSignature"), SKIP_THOUGHT_SIGNATURE);
    } else if !part.thought_signature.is_empty() {
        string(object.key("thoughtSignature"), &part.thought_signature);
    }
    object.end();
}

/// A tool result's `response` must be an object: a JSON object passes as is, any other JSON
/// is wrapped as `{"output": ...}` (an error's as `{"error": ...}`), and text as a string.
fn function_response(out: &mut Vec<u8>, result: &pb::ToolResult) {
    let texts = result.content.iter().filter_map(|part| match &part.part {
        Some(Part::Text(text)) => Some(text.as_str()),
        _ => None,
    });
    let text = joined(texts);
    let key = if result.is_error { "error" } else { "output" };
    let object = text
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .starts_with('{');
    if object && !result.is_error && copy_json(out, &text) {
        return;
    }
    let mut wrapper = ObjectOut::begin(out);
    let inner = wrapper.key(key);
    if !copy_json(inner, &text) {
        string(inner, &text);
    }
    wrapper.end();
}

/// Writes the tools as one set of function declarations (a schema that is not JSON goes as
/// `{"type":"object"}`).
pub(super) fn write_tools(tools: &[pb::Tool]) -> Vec<u8> {
    let size: usize = tools
        .iter()
        .map(|tool| tool.parameters_json.len() + tool.description.len() + 64)
        .sum();
    let mut out = Vec::with_capacity(size + 32);
    out.extend_from_slice(b"[{\"functionDeclarations\":");
    let mut declarations = ArrayOut::begin(&mut out);
    for tool in tools {
        let mut declaration = ObjectOut::begin(declarations.item());
        string(declaration.key("description"), &tool.description);
        string(declaration.key("name"), &tool.name);
        if !tool.parameters_json.is_empty() {
            let schema = declaration.key("parametersJsonSchema");
            if !copy_json(schema, &tool.parameters_json) {
                schema.extend_from_slice(br#"{"type":"object"}"#);
            }
        }
        declaration.end();
    }
    declarations.end();
    out.extend_from_slice(b"}]");
    out
}
