//! A Responses request's `input` as canonical messages. Consecutive assistant-side items
//! (reasoning, assistant messages, function calls) make one assistant message, in order, the
//! way Chat Completions history holds them; consecutive function call outputs make one tool
//! message.

use std::collections::HashMap;
use std::fmt;

use super::input_body::{Input, ItemIn, Loose, PartIn, TextOr};
use crate::canonical::pb::{self, content_part::Part};
use crate::ingress::IngressError;
use crate::lenient::Obj;
use crate::responses::{REDACTED_PREFIX, THOUGHT_SIGNATURE_PREFIX, namespaced};

/// Items the model's hosted tools left in a conversation (the server ran them; what they found
/// already shaped the assistant's messages). The canonical chat has no place for them: skipped.
pub(super) const SERVER_RECORDS: &[&str] = &[
    "web_search_call",
    "file_search_call",
    "code_interpreter_call",
    "image_generation_call",
    "mcp_list_tools",
    "mcp_call",
];

/// Items a client runs or answers itself, whose calls and outputs the canonical chat cannot
/// carry to any upstream.
pub(super) const CLIENT_TOOL_ITEMS: &[&str] = &[
    "computer_call",
    "computer_call_output",
    "local_shell_call",
    "local_shell_call_output",
    "shell_call",
    "shell_call_output",
    "apply_patch_call",
    "apply_patch_call_output",
    "mcp_approval_request",
    "mcp_approval_response",
    "tool_search_call",
    "tool_search_output",
    "additional_tools",
    "compaction",
    "program",
    "program_output",
];

pub(super) fn invalid(at: &str, message: impl AsRef<str>) -> IngressError {
    IngressError::invalid(at, message.as_ref())
}

/// The 400 for freeform (`custom`) tools and their items.
pub(super) fn custom_tools_unsupported(at: &str) -> IngressError {
    invalid(
        at,
        "custom (freeform) tools are not supported by keyroute yet: declare a function tool \
         with a string parameter instead",
    )
}

pub(super) fn text_part(text: &str) -> pb::ContentPart {
    pb::ContentPart {
        part: Some(Part::Text(text.to_owned())),
        ..Default::default()
    }
}

pub(super) fn message(role: pb::Role, content: Vec<pb::ContentPart>) -> pb::Message {
    pb::Message {
        role: role as i32,
        content,
        name: String::new(),
    }
}

/// Reads `input`: a string (one user message) or an array of items.
pub(super) fn read_input(input: Input<'_>) -> Result<Vec<pb::Message>, IngressError> {
    match input {
        TextOr::Text(text) => Ok(vec![message(pb::Role::User, vec![text_part(&text)])]),
        TextOr::List(items) => {
            let mut reader = Reader {
                messages: Vec::with_capacity(items.len()),
                ..Reader::default()
            };
            for (i, item) in items.iter().enumerate() {
                reader.item(item, i)?;
            }
            Ok(reader.messages)
        }
        TextOr::Null | TextOr::Other => Err(invalid(
            "input",
            "must be a string or an array of input items",
        )),
    }
}

#[derive(Default)]
struct Reader {
    messages: Vec<pb::Message>,
    /// A Gemini thought signature from a carrier reasoning item, for the next function call
    /// of the same assistant turn.
    signature: Option<String>,
    /// Canonical tool names by `call_id`, to name function call outputs.
    calls: HashMap<String, String>,
}

/// Where item `i` of `input` is, for a fault's name.
fn at(i: usize) -> String {
    format!("input[{i}]")
}

/// Where a content part is (`input[i].content[j]`, `input[i].output[j]`): written out only
/// for a fault's name.
#[derive(Debug, Clone, Copy)]
struct PartAt {
    item: usize,
    field: &'static str,
    part: usize,
}

impl fmt::Display for PartAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "input[{}].{}[{}]", self.item, self.field, self.part)
    }
}

fn required_str<'v>(field: &'v Loose<'_>, key: &str, i: usize) -> Result<&'v str, IngressError> {
    match field {
        Loose::Text(value) if !value.is_empty() => Ok(value),
        Loose::Null | Loose::Text(_) => Err(invalid(&format!("{}.{key}", at(i)), "is required")),
        Loose::Other(_) => Err(invalid(&format!("{}.{key}", at(i)), "must be a string")),
    }
}

impl Reader {
    fn item(&mut self, item: &Obj<ItemIn<'_>>, i: usize) -> Result<(), IngressError> {
        let Some(item) = item.object() else {
            return Err(invalid(&at(i), "must be an object"));
        };
        let kind = match &item.kind {
            Loose::Text(kind) => kind.as_ref(),
            Loose::Null if item.role.present => "message",
            Loose::Null if item.id.present => "item_reference",
            Loose::Null => return Err(invalid(&format!("{}.type", at(i)), "is required")),
            Loose::Other(_) => {
                return Err(invalid(&format!("{}.type", at(i)), "must be a string"));
            }
        };
        match kind {
            "message" => self.message(item, i),
            "function_call" => self.function_call(item, i),
            "function_call_output" => self.function_call_output(item, i),
            "reasoning" => self.reasoning(item, i),
            "item_reference" => Err(invalid(
                &at(i),
                "item references are not supported: keyroute stores no items; send the item \
                 itself",
            )),
            "custom_tool_call" | "custom_tool_call_output" => {
                Err(custom_tools_unsupported(&format!("{}.type", at(i))))
            }
            record if SERVER_RECORDS.contains(&record) => Ok(()),
            client if CLIENT_TOOL_ITEMS.contains(&client) => Err(invalid(
                &format!("{}.type", at(i)),
                format!("{client:?} items are not supported: keyroute carries function calls only"),
            )),
            other => Err(invalid(
                &format!("{}.type", at(i)),
                format!("{other:?} is not an input item type keyroute knows"),
            )),
        }
    }

    /// Appends parts to the current assistant turn, or opens one.
    fn assistant(&mut self, parts: Vec<pb::ContentPart>) {
        match self.messages.last_mut() {
            Some(last) if last.role == pb::Role::Assistant as i32 => last.content.extend(parts),
            _ => self.messages.push(message(pb::Role::Assistant, parts)),
        }
    }

    fn message(&mut self, item: &ItemIn<'_>, i: usize) -> Result<(), IngressError> {
        let role = match item.role.value.as_str() {
            "user" => pb::Role::User,
            "system" => pb::Role::System,
            "developer" => pb::Role::Developer,
            "assistant" => pb::Role::Assistant,
            "" => return Err(invalid(&format!("{}.role", at(i)), "is required")),
            other => {
                return Err(invalid(
                    &format!("{}.role", at(i)),
                    format!("{other:?} is not one of user, assistant, system, developer"),
                ));
            }
        };
        let content = read_content(&item.content, i)?;
        if role == pb::Role::Assistant {
            self.assistant(content);
        } else {
            self.signature = None;
            self.messages.push(message(role, content));
        }
        Ok(())
    }

    fn function_call(&mut self, item: &ItemIn<'_>, i: usize) -> Result<(), IngressError> {
        let call_id = required_str(&item.call_id, "call_id", i)?;
        let name = namespaced(
            item.namespace.as_str(),
            required_str(&item.name, "name", i)?,
        );
        let arguments = match &item.arguments {
            Loose::Text(arguments) if !arguments.is_empty() => arguments.as_ref().to_owned(),
            Loose::Null | Loose::Text(_) => "{}".to_owned(),
            Loose::Other(other) => crate::ingress::json_text(other),
        };
        self.calls.insert(call_id.to_owned(), name.clone());
        let part = pb::ContentPart {
            part: Some(Part::ToolCall(pb::ToolCall {
                id: call_id.to_owned(),
                name,
                arguments_json: arguments,
            })),
            thought_signature: self.signature.take().unwrap_or_default(),
            ..Default::default()
        };
        self.assistant(vec![part]);
        Ok(())
    }

    fn function_call_output(&mut self, item: &ItemIn<'_>, i: usize) -> Result<(), IngressError> {
        let call_id = match &item.call_id {
            Loose::Text(id) if !id.is_empty() => id.as_ref(),
            _ => {
                return Err(invalid(
                    &format!("{}.call_id", at(i)),
                    "is required: an output answers the function call with this call_id",
                ));
            }
        };
        let content = match &item.output {
            TextOr::Text(text) => vec![text_part(text)],
            TextOr::List(parts) => read_parts(parts, i, "output")?,
            TextOr::Null => {
                return Err(invalid(&format!("{}.output", at(i)), "is required"));
            }
            TextOr::Other => {
                return Err(invalid(
                    &format!("{}.output", at(i)),
                    "must be a string or an array of content parts",
                ));
            }
        };
        let name = self.calls.get(call_id).cloned().unwrap_or_else(|| {
            let name = match &item.name {
                Loose::Text(name) => name.as_ref(),
                _ => "",
            };
            namespaced(item.namespace.as_str(), name)
        });
        let part = pb::ContentPart {
            part: Some(Part::ToolResult(pb::ToolResult {
                tool_call_id: call_id.to_owned(),
                name,
                content,
                is_error: false,
            })),
            ..Default::default()
        };
        self.signature = None;
        match self.messages.last_mut() {
            Some(last) if last.role == pb::Role::Tool as i32 => last.content.push(part),
            _ => self.messages.push(message(pb::Role::Tool, vec![part])),
        }
        Ok(())
    }

    fn reasoning(&mut self, item: &ItemIn<'_>, i: usize) -> Result<(), IngressError> {
        let summary = texts(&item.summary, "summary", i)?;
        let text = if summary.is_empty() {
            texts(&item.content, "content", i)?
        } else {
            summary
        };
        let id = item.id.value.as_str().to_owned();
        let encrypted = match &item.encrypted_content {
            Loose::Text(encrypted) => encrypted.as_ref(),
            Loose::Null => "",
            Loose::Other(_) => {
                return Err(invalid(
                    &format!("{}.encrypted_content", at(i)),
                    "must be a string",
                ));
            }
        };
        let reasoning = if let Some(signature) = encrypted.strip_prefix(THOUGHT_SIGNATURE_PREFIX) {
            // A carrier: the signature belongs to the function call that follows.
            self.signature = Some(signature.to_owned());
            if text.is_empty() {
                return Ok(());
            }
            pb::Reasoning {
                text,
                id,
                ..Default::default()
            }
        } else if let Some(redacted) = encrypted.strip_prefix(REDACTED_PREFIX) {
            pb::Reasoning {
                text,
                redacted: redacted.to_owned(),
                id,
                ..Default::default()
            }
        } else {
            pb::Reasoning {
                text,
                signature: encrypted.to_owned(),
                id,
                ..Default::default()
            }
        };
        self.assistant(vec![pb::ContentPart {
            part: Some(Part::Reasoning(reasoning)),
            ..Default::default()
        }]);
        Ok(())
    }
}

/// The texts of a reasoning item's `summary` or `content` parts, joined by a blank line.
fn texts(parts: &TextOr<'_, Obj<PartIn<'_>>>, key: &str, i: usize) -> Result<String, IngressError> {
    let parts = match parts {
        TextOr::Null => return Ok(String::new()),
        TextOr::List(parts) => parts,
        TextOr::Text(_) | TextOr::Other => {
            return Err(invalid(&format!("{}.{key}", at(i)), "must be an array"));
        }
    };
    let mut texts = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter().enumerate() {
        let Loose::Text(text) = &part.text else {
            return Err(invalid(
                &format!("{}.{key}[{j}].text", at(i)),
                "is required",
            ));
        };
        texts.push(text.as_ref());
    }
    Ok(texts.join("\n\n"))
}

/// Reads a message's `content`: a string or an array of parts.
fn read_content(
    content: &TextOr<'_, Obj<PartIn<'_>>>,
    i: usize,
) -> Result<Vec<pb::ContentPart>, IngressError> {
    match content {
        TextOr::Text(text) => Ok(vec![text_part(text)]),
        TextOr::List(parts) => read_parts(parts, i, "content"),
        TextOr::Null => Err(invalid(&format!("{}.content", at(i)), "is required")),
        TextOr::Other => Err(invalid(
            &format!("{}.content", at(i)),
            "must be a string or an array of content parts",
        )),
    }
}

/// The parts of item `i`'s `field` (`content` or `output`).
fn read_parts(
    parts: &[Obj<PartIn<'_>>],
    item: usize,
    field: &'static str,
) -> Result<Vec<pb::ContentPart>, IngressError> {
    parts
        .iter()
        .enumerate()
        .map(|(part, read)| read_part(read, PartAt { item, field, part }))
        .collect()
}

/// One content part: text (`input_text`, `output_text`), a `refusal` or an `input_image`.
fn read_part(part: &PartIn<'_>, at: PartAt) -> Result<pb::ContentPart, IngressError> {
    let mut read = match part.kind.as_str() {
        "input_text" | "output_text" => text_part(required_text(&part.text, "text", at)?),
        "refusal" => pb::ContentPart {
            refusal: true,
            ..text_part(required_text(&part.refusal, "refusal", at)?)
        },
        "input_image" => image(part, at)?,
        "input_file" => {
            return Err(invalid(
                &format!("{at}.type"),
                "input_file is not supported: keyroute carries text and images only; send the \
                 file's text as input_text, or its pages as input_image",
            ));
        }
        "" => return Err(invalid(&format!("{at}.type"), "is required")),
        other => {
            return Err(invalid(
                &format!("{at}.type"),
                format!(
                    "{other:?} is not supported; use input_text, input_image, output_text or \
                     refusal"
                ),
            ));
        }
    };
    // An explicit prompt-cache breakpoint marks the same place for providers that take hints.
    if part.prompt_cache_breakpoint.object().is_some() {
        read.cache = Some(pb::CacheHint::default());
    }
    Ok(read)
}

fn required_text<'v>(field: &'v Loose<'_>, key: &str, at: PartAt) -> Result<&'v str, IngressError> {
    match field {
        Loose::Text(text) => Ok(text),
        Loose::Null => Err(invalid(&format!("{at}.{key}"), "is required")),
        Loose::Other(_) => Err(invalid(&format!("{at}.{key}"), "must be a string")),
    }
}

fn image(part: &PartIn<'_>, at: PartAt) -> Result<pb::ContentPart, IngressError> {
    match &part.image_url {
        Loose::Text(url) if !url.is_empty() => Ok(pb::ContentPart {
            part: Some(Part::Image(pb::Image {
                source: Some(pb::image::Source::Url(url.as_ref().to_owned())),
                detail: part.detail.as_str().to_owned(),
                ..Default::default()
            })),
            ..Default::default()
        }),
        Loose::Other(_) => Err(invalid(
            &format!("{at}.image_url"),
            "must be a string (an https or data: URL)",
        )),
        _ if !matches!(part.file_id, Loose::Null) => Err(invalid(
            &format!("{at}.file_id"),
            "file ids are not supported: keyroute stores no files; send the image as \
             image_url (an https or data: URL)",
        )),
        _ => Err(invalid(&format!("{at}.image_url"), "is required")),
    }
}
