//! Chat Completions messages to and from canonical messages. Reading is what the ingress does
//! with a client's request; writing is what the egress sends upstream, so one is the inverse
//! of the other for every field both sides have.

use std::borrow::Cow;

use serde_json::{Map, Value, json};

use super::ingress_body::{Content, MessageIn};
use crate::canonical::pb::{self, content_part::Part};
use crate::ingress::IngressError;
use crate::json::str_of;
use crate::lenient::{List, Obj, Seen};

pub(super) fn text_part(text: &str) -> pb::ContentPart {
    pb::ContentPart {
        part: Some(Part::Text(text.to_owned())),
        ..Default::default()
    }
}

pub(super) fn read_part(part: &Value, at: &str) -> Result<pb::ContentPart, IngressError> {
    match str_of(part, "type") {
        "text" => {
            let text = part
                .get("text")
                .and_then(Value::as_str)
                .ok_or_else(|| IngressError::invalid(&format!("{at}.text"), "is required"))?;
            Ok(text_part(text))
        }
        "image_url" => {
            let image = part
                .get("image_url")
                .ok_or_else(|| IngressError::invalid(&format!("{at}.image_url"), "is required"))?;
            let url = match image {
                Value::String(url) => url.as_str(),
                _ => image.get("url").and_then(Value::as_str).ok_or_else(|| {
                    IngressError::invalid(&format!("{at}.image_url.url"), "is required")
                })?,
            };
            Ok(pb::ContentPart {
                part: Some(Part::Image(pb::Image {
                    source: Some(pb::image::Source::Url(url.to_owned())),
                    detail: str_of(image, "detail").to_owned(),
                    ..Default::default()
                })),
                ..Default::default()
            })
        }
        "" => Err(IngressError::invalid(&format!("{at}.type"), "is required")),
        other => Err(IngressError::invalid(
            &format!("{at}.type"),
            &format!("{other:?} is not supported; use text or image_url"),
        )),
    }
}

/// Reads the `messages` array of a client's request.
pub(crate) fn read_messages(
    messages: Seen<List<Obj<MessageIn<'_>>>>,
) -> Result<Vec<pb::Message>, IngressError> {
    if !messages.present {
        return Err(IngressError::invalid("messages", "is required"));
    }
    let Some(array) = messages.value.0 else {
        return Err(IngressError::invalid("messages", "must be an array"));
    };
    if array.is_empty() {
        return Err(IngressError::invalid("messages", "must not be empty"));
    }
    array
        .into_iter()
        .enumerate()
        .map(|(i, message)| read_message(message.value, i))
        .collect()
}

/// One message; `i` names it in a fault (the path is written only then).
fn read_message(message: MessageIn<'_>, i: usize) -> Result<pb::Message, IngressError> {
    let at = |field: &str| format!("messages[{i}].{field}");
    let role = match message.role.as_str() {
        "system" => pb::Role::System,
        "developer" => pb::Role::Developer,
        "user" => pb::Role::User,
        "assistant" => pb::Role::Assistant,
        "tool" => pb::Role::Tool,
        "" => return Err(IngressError::invalid(&at("role"), "is required")),
        other => {
            return Err(IngressError::invalid(
                &at("role"),
                &format!("{other:?} is not one of system, developer, user, assistant, tool"),
            ));
        }
    };
    let content = match message.content {
        Content::Null => Vec::new(),
        Content::Text(text) => vec![pb::ContentPart {
            part: Some(Part::Text(text.into_owned())),
            ..Default::default()
        }],
        Content::Parts(parts) => {
            let at = at("content");
            parts
                .iter()
                .enumerate()
                .map(|(j, part)| read_part(part, &format!("{at}[{j}]")))
                .collect::<Result<_, _>>()?
        }
        Content::Other => {
            return Err(IngressError::invalid(
                &at("content"),
                "must be a string or an array of content parts",
            ));
        }
    };
    let mut parts = Vec::new();
    if role == pb::Role::Tool {
        let id = message
            .tool_call_id
            .get()
            .ok_or_else(|| IngressError::invalid(&at("tool_call_id"), "is required"))?;
        parts.push(pb::ContentPart {
            part: Some(Part::ToolResult(pb::ToolResult {
                tool_call_id: id.to_owned(),
                content,
                ..Default::default()
            })),
            ..Default::default()
        });
    } else {
        if role == pb::Role::Assistant {
            // DeepSeek-style reasoning sent back by a client precedes the answer.
            let reasoning = message.reasoning_content.as_str();
            if !reasoning.is_empty() {
                parts.push(pb::ContentPart {
                    part: Some(Part::Reasoning(pb::Reasoning {
                        text: reasoning.to_owned(),
                        ..Default::default()
                    })),
                    ..Default::default()
                });
            }
        }
        if parts.is_empty() {
            parts = content;
        } else {
            parts.extend(content);
        }
        for (j, call) in message.tool_calls.0.into_iter().flatten().enumerate() {
            let call_at = |field: &str| at(&format!("tool_calls[{j}].{field}"));
            let call = call.value;
            if !call.function.is_present() {
                return Err(IngressError::invalid(&call_at("function"), "is required"));
            }
            let function = call.function.value;
            let Some(name) = function.name.0 else {
                return Err(IngressError::invalid(
                    &call_at("function.name"),
                    "is required",
                ));
            };
            let arguments = match function.arguments.and_then(|arguments| arguments.0) {
                Some(Value::String(arguments)) => arguments,
                Some(Value::Null) | None => "{}".to_owned(),
                Some(other) => other.to_string(),
            };
            parts.push(pb::ContentPart {
                part: Some(Part::ToolCall(pb::ToolCall {
                    id: call.id.0.map(Cow::into_owned).unwrap_or_default(),
                    name: name.into_owned(),
                    arguments_json: arguments,
                })),
                ..Default::default()
            });
        }
    }
    Ok(pb::Message {
        role: role as i32,
        content: parts,
        name: message.name.as_str().to_owned(),
    })
}

/// How a provider wants messages written.
#[derive(Debug, Clone, Copy)]
pub struct MessageStyle {
    /// Send `developer` as is; otherwise as `system`.
    pub developer_role: bool,
    /// Send reasoning back as `reasoning_content` (hosts that accept it in history).
    pub reasoning_content: bool,
}

fn write_text_or_parts(parts: &[&pb::ContentPart]) -> Value {
    let only_text = parts.iter().all(|p| matches!(p.part, Some(Part::Text(_))));
    if only_text {
        let text: String = parts
            .iter()
            .filter_map(|p| match &p.part {
                Some(Part::Text(t)) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        return Value::String(text);
    }
    Value::Array(
        parts
            .iter()
            .filter_map(|part| match &part.part {
                Some(Part::Text(text)) => Some(json!({ "type": "text", "text": text })),
                Some(Part::Image(image)) => Some(image_url(image)),
                _ => None,
            })
            .collect(),
    )
}

/// An image as `image_url`: URLs pass through, bytes become a data URL.
fn image_url(image: &pb::Image) -> Value {
    use base64::Engine;
    let url = match &image.source {
        Some(pb::image::Source::Url(url)) => url.clone(),
        Some(pb::image::Source::Data(data)) => format!(
            "data:{};base64,{}",
            image.media_type,
            base64::engine::general_purpose::STANDARD.encode(data)
        ),
        None => String::new(),
    };
    let mut inner = json!({ "url": url });
    if !image.detail.is_empty() {
        inner["detail"] = json!(image.detail);
    }
    json!({ "type": "image_url", "image_url": inner })
}

/// Writes canonical messages as Chat Completions messages. One canonical tool message with
/// several results becomes one `tool` message per result.
pub(crate) fn write_messages(messages: &[pb::Message], style: MessageStyle) -> Vec<Value> {
    let mut out = Vec::with_capacity(messages.len());
    for message in messages {
        let role = pb::Role::try_from(message.role).unwrap_or(pb::Role::User);
        let mut object = Map::new();
        if !message.name.is_empty() && role != pb::Role::Tool {
            object.insert("name".into(), json!(message.name));
        }
        match role {
            pb::Role::Tool => {
                for part in &message.content {
                    if let Some(Part::ToolResult(result)) = &part.part {
                        let content: Vec<&pb::ContentPart> = result.content.iter().collect();
                        out.push(json!({ "role": "tool", "tool_call_id": result.tool_call_id, "content": write_text_or_parts(&content) }));
                    }
                }
                continue;
            }
            pb::Role::Assistant => {
                object.insert("role".into(), json!("assistant"));
                let content: Vec<&pb::ContentPart> = message
                    .content
                    .iter()
                    .filter(|p| matches!(p.part, Some(Part::Text(_))))
                    .collect();
                object.insert(
                    "content".into(),
                    if content.is_empty() {
                        Value::Null
                    } else {
                        write_text_or_parts(&content)
                    },
                );
                if style.reasoning_content {
                    let reasoning: String = message
                        .content
                        .iter()
                        .filter_map(|p| match &p.part {
                            Some(Part::Reasoning(r)) => Some(r.text.as_str()),
                            _ => None,
                        })
                        .collect();
                    if !reasoning.is_empty() {
                        object.insert("reasoning_content".into(), json!(reasoning));
                    }
                }
                let calls: Vec<Value> = message
                    .content
                    .iter()
                    .filter_map(|p| match &p.part {
                        Some(Part::ToolCall(call)) => Some(json!({ "id": call.id, "type": "function", "function": { "name": call.name, "arguments": call.arguments_json } })),
                        _ => None,
                    })
                    .collect();
                if !calls.is_empty() {
                    object.insert("tool_calls".into(), Value::Array(calls));
                }
            }
            other => {
                let name = match other {
                    pb::Role::System => "system",
                    pb::Role::Developer if style.developer_role => "developer",
                    pb::Role::Developer => "system",
                    _ => "user",
                };
                object.insert("role".into(), json!(name));
                let content: Vec<&pb::ContentPart> = message.content.iter().collect();
                object.insert("content".into(), write_text_or_parts(&content));
            }
        }
        out.push(Value::Object(object));
    }
    out
}

/// The top-level fields keyroute does not model, kept as a JSON object to pass through.
pub(crate) fn provider_options(object: &Map<String, Value>, known: &[&str]) -> String {
    let extras: Map<String, Value> = object
        .iter()
        .filter(|(key, _)| !known.contains(&key.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if extras.is_empty() {
        String::new()
    } else {
        Value::Object(extras).to_string()
    }
}
