//! The `Value`-tree reader of a Responses request's `input` that `input.rs` replaced, kept
//! as the reference its equivalence tests hold the typed reader to.

use std::collections::HashMap;

use serde_json::Value;

use super::input::{
    CLIENT_TOOL_ITEMS, SERVER_RECORDS, custom_tools_unsupported, invalid, message, text_part,
};
use super::tools::{HOSTED, Tools, namespace_shell};
use crate::canonical::pb::{self, content_part::Part};
use crate::ingress::IngressError;
use crate::json::str_of;
use crate::responses::{REDACTED_PREFIX, THOUGHT_SIGNATURE_PREFIX, namespaced};

/// Reads `input`: a string (one user message) or an array of items.
pub(super) fn legacy_read_input(input: &Value) -> Result<Vec<pb::Message>, IngressError> {
    match input {
        Value::String(text) => Ok(vec![message(pb::Role::User, vec![text_part(text)])]),
        Value::Array(items) => {
            let mut reader = Reader::default();
            for (i, item) in items.iter().enumerate() {
                reader.item(item, &format!("input[{i}]"))?;
            }
            Ok(reader.messages)
        }
        _ => Err(invalid(
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

fn required_str<'v>(item: &'v Value, key: &str, at: &str) -> Result<&'v str, IngressError> {
    match item.get(key) {
        Some(Value::String(value)) if !value.is_empty() => Ok(value),
        None | Some(Value::Null) | Some(Value::String(_)) => {
            Err(invalid(&format!("{at}.{key}"), "is required"))
        }
        Some(_) => Err(invalid(&format!("{at}.{key}"), "must be a string")),
    }
}

impl Reader {
    fn item(&mut self, item: &Value, at: &str) -> Result<(), IngressError> {
        if !item.is_object() {
            return Err(invalid(at, "must be an object"));
        }
        let kind = match item.get("type") {
            Some(Value::String(kind)) => kind.as_str(),
            None | Some(Value::Null) if item.get("role").is_some() => "message",
            None | Some(Value::Null) if item.get("id").is_some() => "item_reference",
            None | Some(Value::Null) => {
                return Err(invalid(&format!("{at}.type"), "is required"));
            }
            Some(_) => return Err(invalid(&format!("{at}.type"), "must be a string")),
        };
        match kind {
            "message" => self.message(item, at),
            "function_call" => self.function_call(item, at),
            "function_call_output" => self.function_call_output(item, at),
            "reasoning" => self.reasoning(item, at),
            "item_reference" => Err(invalid(
                at,
                "item references are not supported: keyroute stores no items; send the item \
                 itself",
            )),
            "custom_tool_call" | "custom_tool_call_output" => {
                Err(custom_tools_unsupported(&format!("{at}.type")))
            }
            record if SERVER_RECORDS.contains(&record) => Ok(()),
            client if CLIENT_TOOL_ITEMS.contains(&client) => Err(invalid(
                &format!("{at}.type"),
                format!("{client:?} items are not supported: keyroute carries function calls only"),
            )),
            other => Err(invalid(
                &format!("{at}.type"),
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

    fn message(&mut self, item: &Value, at: &str) -> Result<(), IngressError> {
        let role = match str_of(item, "role") {
            "user" => pb::Role::User,
            "system" => pb::Role::System,
            "developer" => pb::Role::Developer,
            "assistant" => pb::Role::Assistant,
            "" => return Err(invalid(&format!("{at}.role"), "is required")),
            other => {
                return Err(invalid(
                    &format!("{at}.role"),
                    format!("{other:?} is not one of user, assistant, system, developer"),
                ));
            }
        };
        let content = read_content(item.get("content"), &format!("{at}.content"))?;
        if role == pb::Role::Assistant {
            self.assistant(content);
        } else {
            self.signature = None;
            self.messages.push(message(role, content));
        }
        Ok(())
    }

    fn function_call(&mut self, item: &Value, at: &str) -> Result<(), IngressError> {
        let call_id = required_str(item, "call_id", at)?;
        let name = namespaced(str_of(item, "namespace"), required_str(item, "name", at)?);
        let arguments = match item.get("arguments") {
            Some(Value::String(arguments)) if !arguments.is_empty() => arguments.clone(),
            None | Some(Value::Null) | Some(Value::String(_)) => "{}".to_owned(),
            Some(other) => crate::ingress::json_text(other),
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

    fn function_call_output(&mut self, item: &Value, at: &str) -> Result<(), IngressError> {
        let call_id = match item.get("call_id") {
            Some(Value::String(id)) if !id.is_empty() => id.as_str(),
            _ => {
                return Err(invalid(
                    &format!("{at}.call_id"),
                    "is required: an output answers the function call with this call_id",
                ));
            }
        };
        let content = match item.get("output") {
            Some(Value::String(text)) => vec![text_part(text)],
            Some(Value::Array(parts)) => parts
                .iter()
                .enumerate()
                .map(|(j, part)| read_part(part, &format!("{at}.output[{j}]")))
                .collect::<Result<_, _>>()?,
            None | Some(Value::Null) => {
                return Err(invalid(&format!("{at}.output"), "is required"));
            }
            Some(_) => {
                return Err(invalid(
                    &format!("{at}.output"),
                    "must be a string or an array of content parts",
                ));
            }
        };
        let name = self
            .calls
            .get(call_id)
            .cloned()
            .unwrap_or_else(|| namespaced(str_of(item, "namespace"), str_of(item, "name")));
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

    fn reasoning(&mut self, item: &Value, at: &str) -> Result<(), IngressError> {
        let summary = texts(item, "summary", at)?;
        let text = if summary.is_empty() {
            texts(item, "content", at)?
        } else {
            summary
        };
        let id = str_of(item, "id").to_owned();
        let encrypted = match item.get("encrypted_content") {
            Some(Value::String(encrypted)) => encrypted.as_str(),
            None | Some(Value::Null) => "",
            Some(_) => {
                return Err(invalid(
                    &format!("{at}.encrypted_content"),
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
fn texts(item: &Value, key: &str, at: &str) -> Result<String, IngressError> {
    let parts = match item.get(key) {
        None | Some(Value::Null) => return Ok(String::new()),
        Some(Value::Array(parts)) => parts,
        Some(_) => return Err(invalid(&format!("{at}.{key}"), "must be an array")),
    };
    let mut texts = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter().enumerate() {
        let text = part
            .get("text")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(&format!("{at}.{key}[{j}].text"), "is required"))?;
        texts.push(text);
    }
    Ok(texts.join("\n\n"))
}

/// Reads a message's `content`: a string or an array of parts.
fn read_content(content: Option<&Value>, at: &str) -> Result<Vec<pb::ContentPart>, IngressError> {
    match content {
        Some(Value::String(text)) => Ok(vec![text_part(text)]),
        Some(Value::Array(parts)) => parts
            .iter()
            .enumerate()
            .map(|(j, part)| read_part(part, &format!("{at}[{j}]")))
            .collect(),
        None | Some(Value::Null) => Err(invalid(at, "is required")),
        Some(_) => Err(invalid(at, "must be a string or an array of content parts")),
    }
}

/// One content part: text (`input_text`, `output_text`), a `refusal` or an `input_image`.
fn read_part(part: &Value, at: &str) -> Result<pb::ContentPart, IngressError> {
    let mut read = match str_of(part, "type") {
        "input_text" | "output_text" => text_part(required_text(part, "text", at)?),
        "refusal" => pb::ContentPart {
            refusal: true,
            ..text_part(required_text(part, "refusal", at)?)
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
    if part
        .get("prompt_cache_breakpoint")
        .is_some_and(Value::is_object)
    {
        read.cache = Some(pb::CacheHint::default());
    }
    Ok(read)
}

fn required_text<'v>(part: &'v Value, key: &str, at: &str) -> Result<&'v str, IngressError> {
    match part.get(key) {
        Some(Value::String(text)) => Ok(text),
        None | Some(Value::Null) => Err(invalid(&format!("{at}.{key}"), "is required")),
        Some(_) => Err(invalid(&format!("{at}.{key}"), "must be a string")),
    }
}

fn image(part: &Value, at: &str) -> Result<pb::ContentPart, IngressError> {
    match part.get("image_url") {
        Some(Value::String(url)) if !url.is_empty() => Ok(pb::ContentPart {
            part: Some(Part::Image(pb::Image {
                source: Some(pb::image::Source::Url(url.clone())),
                detail: str_of(part, "detail").to_owned(),
                ..Default::default()
            })),
            ..Default::default()
        }),
        Some(value) if !value.is_null() && !value.is_string() => Err(invalid(
            &format!("{at}.image_url"),
            "must be a string (an https or data: URL)",
        )),
        _ if part.get("file_id").is_some_and(|id| !id.is_null()) => Err(invalid(
            &format!("{at}.file_id"),
            "file ids are not supported: keyroute stores no files; send the image as \
             image_url (an https or data: URL)",
        )),
        _ => Err(invalid(&format!("{at}.image_url"), "is required")),
    }
}

/// The whole request as the tree reader read it: the body parsed as a `Value`, `input` read
/// from its tree.
pub(super) fn legacy_parse_request(
    body: &[u8],
) -> Result<crate::responses::ResponsesClientRequest, IngressError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|error| IngressError::not_json(&error))?;
    let Value::Object(mut body) = value else {
        return Err(invalid("", "the body must be a JSON object"));
    };
    let input = body.remove("input");
    let tools = body.get("tools").cloned();
    super::ingress::translate(
        body,
        || {
            input
                .filter(|input| !input.is_null())
                .map(|input| legacy_read_input(&input))
        },
        || legacy_read_tools(tools.as_ref()),
    )
}

fn legacy_function(tool: &Value, at: &str, namespace: &str) -> Result<pb::Tool, IngressError> {
    let name = match tool.get("name") {
        Some(Value::String(name)) if !name.is_empty() => name,
        _ => return Err(invalid(&format!("{at}.name"), "is required")),
    };
    let parameters_json = match tool.get("parameters") {
        None | Some(Value::Null) => String::new(),
        Some(tree @ Value::Object(_)) => crate::ingress::json_text(tree),
        Some(_) => {
            return Err(invalid(
                &format!("{at}.parameters"),
                "must be a JSON Schema object",
            ));
        }
    };
    let strict = match tool.get("strict") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(strict)) => *strict,
        Some(_) => return Err(invalid(&format!("{at}.strict"), "must be a boolean")),
    };
    Ok(pb::Tool {
        name: namespaced(namespace, name),
        description: str_of(tool, "description").to_owned(),
        parameters_json,
        strict,
        cache: None,
        namespace: namespace.to_owned(),
    })
}

/// Reads `tools` from their tree.
fn legacy_read_tools(tools: Option<&Value>) -> Result<Tools, IngressError> {
    let mut read = Tools::default();
    let list = match tools {
        None | Some(Value::Null) => return Ok(read),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(invalid("tools", "must be an array")),
    };
    for (i, tool) in list.iter().enumerate() {
        let at = format!("tools[{i}]");
        match tool.get("type").and_then(Value::as_str).unwrap_or_default() {
            "function" => read.functions.push(legacy_function(tool, &at, "")?),
            "namespace" => {
                let name = match tool.get("name") {
                    Some(Value::String(name)) if !name.is_empty() => name.as_str(),
                    _ => return Err(invalid(&format!("{at}.name"), "is required")),
                };
                let inner = tool.get("tools").and_then(Value::as_array).ok_or_else(|| {
                    invalid(&format!("{at}.tools"), "must be an array of function tools")
                })?;
                for (j, member) in inner.iter().enumerate() {
                    let member_at = format!("{at}.tools[{j}]");
                    match str_of(member, "type") {
                        "function" => {
                            read.functions
                                .push(legacy_function(member, &member_at, name)?);
                        }
                        "custom" => return Err(custom_tools_unsupported(&member_at)),
                        _ => {
                            return Err(invalid(&format!("{member_at}.type"), "must be function"));
                        }
                    }
                }
                read.namespaces.push(name.to_owned());
                read.hosted
                    .push(namespace_shell(name, str_of(tool, "description")));
            }
            "custom" => return Err(custom_tools_unsupported(&at)),
            hosted if HOSTED.contains(&hosted) => read.hosted.push(tool.clone()),
            "" => return Err(invalid(&format!("{at}.type"), "is required")),
            other => {
                return Err(invalid(
                    &format!("{at}.type"),
                    format!("{other:?} is not a tool type keyroute knows"),
                ));
            }
        }
    }
    Ok(read)
}
