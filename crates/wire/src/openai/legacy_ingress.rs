//! The `Value`-tree reader of Chat Completions requests that the typed one replaced, kept as
//! the reference: for any body, the typed ingress must give what this gave (the same
//! canonical request, or the same fault). `tool_choice` and `response_format`, read from a
//! tree by both, are shared.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Map, Value};

use super::ingress::{ClientRequest, response_format, tool_choice};
use super::messages::{provider_options, read_part, text_part};
use crate::canonical::pb::{self, content_part::Part};
use crate::ingress::{IngressError, string_list};
use crate::json::str_of;

/// Top-level request fields keyroute models; anything else passes through as provider options.
const KNOWN: &[&str] = &[
    "model",
    "messages",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "n",
    "user",
    "reasoning_effort",
    "stream",
    "stream_options",
];

fn number(object: &Map<String, Value>, key: &str) -> Result<Option<f64>, IngressError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_f64()
            .map(Some)
            .ok_or_else(|| IngressError::invalid(key, "must be a number")),
    }
}

fn integer(object: &Map<String, Value>, key: &str) -> Result<Option<u64>, IngressError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_u64()
            .map(Some)
            .ok_or_else(|| IngressError::invalid(key, "must be a non-negative integer")),
    }
}

fn boolean(object: &Map<String, Value>, key: &str) -> Result<Option<bool>, IngressError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_bool()
            .map(Some)
            .ok_or_else(|| IngressError::invalid(key, "must be a boolean")),
    }
}

pub(super) fn legacy_parse_request(body: &[u8]) -> Result<ClientRequest, IngressError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|error| IngressError::not_json(&error))?;
    let object = value
        .as_object()
        .ok_or_else(|| IngressError::invalid("", "the body must be a JSON object"))?;
    let model = object
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| IngressError::invalid("model", "is required"))?;
    let messages = legacy_read_messages(
        object
            .get("messages")
            .ok_or_else(|| IngressError::invalid("messages", "is required"))?,
    )?;

    let mut tools = Vec::new();
    for (i, tool) in object
        .get("tools")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let function = tool
            .get("function")
            .ok_or_else(|| IngressError::invalid(&format!("tools[{i}].function"), "is required"))?;
        let name = function
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| {
                IngressError::invalid(&format!("tools[{i}].function.name"), "is required")
            })?;
        tools.push(pb::Tool {
            name: name.to_owned(),
            description: str_of(function, "description").to_owned(),
            parameters_json: function
                .get("parameters")
                .map(Value::to_string)
                .unwrap_or_default(),
            strict: function
                .get("strict")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            cache: None,
            ..Default::default()
        });
    }
    let tool_choice = tool_choice(object.get("tool_choice"))?;
    let response_format = response_format(object.get("response_format"))?;
    let stop = string_list(object, "stop")?;
    let max_tokens = integer(object, "max_completion_tokens")?.or(integer(object, "max_tokens")?);
    let sampling = pb::Sampling {
        temperature: number(object, "temperature")?,
        top_p: number(object, "top_p")?,
        top_k: None,
        max_tokens: max_tokens.map(|m| u32::try_from(m).unwrap_or(u32::MAX)),
        stop,
        seed: match object.get("seed") {
            None | Some(Value::Null) => None,
            Some(seed) => Some(
                seed.as_i64()
                    .ok_or_else(|| IngressError::invalid("seed", "must be an integer"))?,
            ),
        },
        presence_penalty: number(object, "presence_penalty")?,
        frequency_penalty: number(object, "frequency_penalty")?,
    };
    let effort = str_of(&value, "reasoning_effort");
    let request = pb::ChatRequest {
        model: model.to_owned(),
        messages,
        tools,
        tool_choice,
        parallel_tool_calls: boolean(object, "parallel_tool_calls")?,
        response_format,
        sampling: Some(sampling),
        // `none` asks for no reasoning; every other value (minimal ... xhigh) for some.
        reasoning: (!effort.is_empty()).then(|| pb::ReasoningConfig {
            enabled: effort != "none",
            effort: effort.to_owned(),
            ..Default::default()
        }),
        choice_count: integer(object, "n")?.map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)),
        end_user: str_of(&value, "user").to_owned(),
        provider_options_json: provider_options(object, KNOWN),
        anthropic_beta: Vec::new(),
        fim: None,
        anthropic_options_json: String::new(),
        ..Default::default()
    };
    Ok(ClientRequest {
        request,
        stream: boolean(object, "stream")?.unwrap_or(false),
        // `get` twice, not `pointer`, which allocates each step of its path.
        include_usage: object
            .get("stream_options")
            .and_then(|options| options.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

/// Reads `content`: a string, null, or an array of parts.
fn read_content(content: &Value, at: &str) -> Result<Vec<pb::ContentPart>, IngressError> {
    match content {
        Value::Null => Ok(Vec::new()),
        Value::String(text) => Ok(vec![text_part(text)]),
        Value::Array(parts) => parts
            .iter()
            .enumerate()
            .map(|(i, part)| read_part(part, &format!("{at}[{i}]")))
            .collect(),
        _ => Err(IngressError::invalid(
            at,
            "must be a string or an array of content parts",
        )),
    }
}

/// Reads the `messages` array of a client's request.
fn legacy_read_messages(messages: &Value) -> Result<Vec<pb::Message>, IngressError> {
    let array = messages
        .as_array()
        .ok_or_else(|| IngressError::invalid("messages", "must be an array"))?;
    if array.is_empty() {
        return Err(IngressError::invalid("messages", "must not be empty"));
    }
    array
        .iter()
        .enumerate()
        .map(|(i, message)| read_message(message, &format!("messages[{i}]")))
        .collect()
}

fn read_message(message: &Value, at: &str) -> Result<pb::Message, IngressError> {
    let role = match str_of(message, "role") {
        "system" => pb::Role::System,
        "developer" => pb::Role::Developer,
        "user" => pb::Role::User,
        "assistant" => pb::Role::Assistant,
        "tool" => pb::Role::Tool,
        "" => return Err(IngressError::invalid(&format!("{at}.role"), "is required")),
        other => {
            return Err(IngressError::invalid(
                &format!("{at}.role"),
                &format!("{other:?} is not one of system, developer, user, assistant, tool"),
            ));
        }
    };
    let content = read_content(
        message.get("content").unwrap_or(&Value::Null),
        &format!("{at}.content"),
    )?;
    let mut parts = Vec::new();
    if role == pb::Role::Tool {
        let id = message
            .get("tool_call_id")
            .and_then(Value::as_str)
            .ok_or_else(|| IngressError::invalid(&format!("{at}.tool_call_id"), "is required"))?;
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
            let reasoning = str_of(message, "reasoning_content");
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
        parts.extend(content);
        for (i, call) in message
            .get("tool_calls")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let call_at = format!("{at}.tool_calls[{i}]");
            let function = call.get("function").ok_or_else(|| {
                IngressError::invalid(&format!("{call_at}.function"), "is required")
            })?;
            let name = function
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    IngressError::invalid(&format!("{call_at}.function.name"), "is required")
                })?;
            let arguments = match function.get("arguments") {
                Some(Value::String(arguments)) => arguments.clone(),
                Some(Value::Null) | None => "{}".to_owned(),
                Some(other) => other.to_string(),
            };
            parts.push(pb::ContentPart {
                part: Some(Part::ToolCall(pb::ToolCall {
                    id: str_of(call, "id").to_owned(),
                    name: name.to_owned(),
                    arguments_json: arguments,
                })),
                ..Default::default()
            });
        }
    }
    Ok(pb::Message {
        role: role as i32,
        content: parts,
        name: str_of(message, "name").to_owned(),
    })
}
