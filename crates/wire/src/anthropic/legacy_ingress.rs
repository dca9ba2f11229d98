//! The `Value`-tree reader of Messages API requests that the typed one replaced, kept as the
//! reference: for any body, the typed ingress must give what this gave (the same canonical
//! request, or the same fault).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};

use super::ingress::{ClientRequest, read_image, read_tool_choice};
use crate::canonical::pb::{self, content_part::Part};
use crate::ingress::{IngressError, string_list};
use crate::json::str_of;
use crate::responses::THOUGHT_SIGNATURE_PREFIX;

const KNOWN: &[&str] = &[
    "model",
    "max_tokens",
    "messages",
    "system",
    "tools",
    "tool_choice",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "stream",
    "metadata",
    "thinking",
    "output_config",
];

fn read_blocks(content: &Value, at: &str) -> Result<Vec<(pb::ContentPart, bool)>, IngressError> {
    let blocks = match content {
        Value::String(text) => {
            return Ok(vec![(
                pb::ContentPart {
                    part: Some(Part::Text(text.clone())),
                    ..Default::default()
                },
                false,
            )]);
        }
        Value::Array(blocks) => blocks,
        _ => {
            return Err(IngressError::invalid(
                at,
                "must be a string or an array of content blocks",
            ));
        }
    };
    let mut parts = Vec::with_capacity(blocks.len());
    // A Gemini thought signature carried by an empty thinking block, for the next tool call.
    let mut carried: Option<String> = None;
    for (i, block) in blocks.iter().enumerate() {
        let here = format!("{at}[{i}]");
        if str_of(block, "type") == "thinking"
            && let Some(signature) =
                str_of(block, "signature").strip_prefix(THOUGHT_SIGNATURE_PREFIX)
        {
            carried = Some(signature.to_owned());
            continue;
        }
        let required = |key: &str| {
            block
                .get(key)
                .ok_or_else(|| IngressError::invalid(&format!("{here}.{key}"), "is required"))
        };
        let (part, is_result) = match str_of(block, "type") {
            "text" => (
                Part::Text(required("text")?.as_str().unwrap_or_default().to_owned()),
                false,
            ),
            "image" => (
                Part::Image(read_image(required("source")?, &format!("{here}.source"))?),
                false,
            ),
            "tool_use" => {
                let input = block.get("input").cloned().unwrap_or_else(|| json!({}));
                (
                    Part::ToolCall(pb::ToolCall {
                        id: str_of(block, "id").to_owned(),
                        name: str_of(block, "name").to_owned(),
                        arguments_json: input.to_string(),
                    }),
                    false,
                )
            }
            "tool_result" => {
                let id = required("tool_use_id")?
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let content = match block.get("content") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(content) => read_blocks(content, &format!("{here}.content"))?
                        .into_iter()
                        .map(|(p, _)| p)
                        .collect(),
                };
                let is_error = block
                    .get("is_error")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                (
                    Part::ToolResult(pb::ToolResult {
                        tool_call_id: id,
                        name: String::new(),
                        content,
                        is_error,
                    }),
                    true,
                )
            }
            "thinking" => (
                Part::Reasoning(pb::Reasoning {
                    text: str_of(block, "thinking").to_owned(),
                    signature: str_of(block, "signature").to_owned(),
                    redacted: String::new(),
                    ..Default::default()
                }),
                false,
            ),
            "redacted_thinking" => (
                Part::Reasoning(pb::Reasoning {
                    redacted: str_of(block, "data").to_owned(),
                    ..Default::default()
                }),
                false,
            ),
            "" => {
                return Err(IngressError::invalid(
                    &format!("{here}.type"),
                    "is required",
                ));
            }
            other => {
                return Err(IngressError::invalid(
                    &format!("{here}.type"),
                    &format!("{other:?} blocks are not supported"),
                ));
            }
        };
        let thought_signature = match part {
            Part::ToolCall(_) => carried.take().unwrap_or_default(),
            _ => String::new(),
        };
        parts.push((
            pb::ContentPart {
                part: Some(part),
                cache: cache_of_value(block),
                thought_signature,
                refusal: false,
            },
            is_result,
        ));
    }
    Ok(parts)
}

/// A system message's content: a string, text blocks, or `mid_conv_system` blocks holding
/// either.
fn read_system(content: &Value, at: &str) -> Result<Vec<pb::ContentPart>, IngressError> {
    let Value::Array(blocks) = content else {
        return Ok(read_blocks(content, at)?
            .into_iter()
            .map(|(p, _)| p)
            .collect());
    };
    let mut parts = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        let here = format!("{at}[{i}]");
        let inner = match str_of(block, "type") {
            "mid_conv_system" => block.get("content").cloned().unwrap_or(Value::Null),
            "text" => Value::Array(vec![block.clone()]),
            _ => {
                return Err(IngressError::invalid(
                    &format!("{here}.type"),
                    "must be text in a system message",
                ));
            }
        };
        parts.extend(read_blocks(&inner, &here)?.into_iter().map(|(p, _)| p));
    }
    Ok(parts)
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
    let max_tokens = object
        .get("max_tokens")
        .ok_or_else(|| IngressError::invalid("max_tokens", "is required"))?;
    let max_tokens = max_tokens
        .as_u64()
        .and_then(|m| u32::try_from(m).ok())
        .filter(|m| *m > 0)
        .ok_or_else(|| IngressError::invalid("max_tokens", "must be a positive integer"))?;
    let mut messages = Vec::new();
    match object.get("system") {
        None | Some(Value::Null) => {}
        Some(system) => {
            let parts = read_blocks(system, "system")?
                .into_iter()
                .map(|(p, _)| p)
                .collect();
            messages.push(pb::Message {
                role: pb::Role::System as i32,
                content: parts,
                name: String::new(),
            });
        }
    }
    let list = object
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| IngressError::invalid("messages", "is required and must be an array"))?;
    if list.is_empty() {
        return Err(IngressError::invalid("messages", "must not be empty"));
    }
    for (i, message) in list.iter().enumerate() {
        let at = format!("messages[{i}]");
        let role = match str_of(message, "role") {
            "user" => pb::Role::User,
            "assistant" => pb::Role::Assistant,
            // Mid-conversation instructions (beta `mid-conversation-system-2026-04-07`): a
            // system message in place, which each upstream format maps by its own rule.
            "system" => {
                let content = message.get("content").ok_or_else(|| {
                    IngressError::invalid(&format!("{at}.content"), "is required")
                })?;
                let content = read_system(content, &format!("{at}.content"))?;
                // `clear_at: next_user_message` shows the text only until the next user
                // turn: once one follows, the model no longer sees it, on any upstream.
                let cleared = str_of(message, "clear_at") == "next_user_message"
                    && list[i + 1..].iter().any(|m| str_of(m, "role") == "user");
                if !cleared {
                    messages.push(pb::Message {
                        role: pb::Role::System as i32,
                        content,
                        name: String::new(),
                    });
                }
                continue;
            }
            _ => {
                return Err(IngressError::invalid(
                    &format!("{at}.role"),
                    "must be user, assistant or system",
                ));
            }
        };
        let blocks = read_blocks(
            message
                .get("content")
                .ok_or_else(|| IngressError::invalid(&format!("{at}.content"), "is required"))?,
            &format!("{at}.content"),
        )?;
        // Tool results become a tool message ahead of the rest of the user's turn.
        let (results, rest): (Vec<_>, Vec<_>) =
            blocks.into_iter().partition(|(_, is_result)| *is_result);
        if !results.is_empty() {
            messages.push(pb::Message {
                role: pb::Role::Tool as i32,
                content: results.into_iter().map(|(p, _)| p).collect(),
                name: String::new(),
            });
        }
        if !rest.is_empty()
            || messages
                .last()
                .is_none_or(|m| m.role != pb::Role::Tool as i32)
        {
            messages.push(pb::Message {
                role: role as i32,
                content: rest.into_iter().map(|(p, _)| p).collect(),
                name: String::new(),
            });
        }
    }
    let tool_list = object
        .get("tools")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let (tools, server_tools) = read_tools(tool_list)?;
    let (tool_choice, parallel_tool_calls) = read_tool_choice(object.get("tool_choice"))?;
    let float = |key: &str| -> Result<Option<f64>, IngressError> {
        match object.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| IngressError::invalid(key, "must be a number")),
        }
    };
    let stop = string_list(object, "stop_sequences")?;
    let sampling = pb::Sampling {
        temperature: float("temperature")?,
        top_p: float("top_p")?,
        top_k: object
            .get("top_k")
            .and_then(Value::as_u64)
            .map(|k| k as u32),
        max_tokens: Some(max_tokens),
        stop,
        ..Default::default()
    };
    let effort = value
        .pointer("/output_config/effort")
        .and_then(Value::as_str);
    let reasoning = match object.get("thinking") {
        Some(thinking) if matches!(str_of(thinking, "type"), "enabled" | "adaptive") => {
            Some(pb::ReasoningConfig {
                enabled: true,
                budget_tokens: thinking
                    .get("budget_tokens")
                    .and_then(Value::as_u64)
                    .map(|b| u32::try_from(b).unwrap_or(u32::MAX)),
                effort: effort.unwrap_or_default().to_owned(),
                adaptive: str_of(thinking, "type") == "adaptive",
                display: str_of(thinking, "display").to_owned(),
            })
        }
        _ => effort.map(|effort| pb::ReasoningConfig {
            effort: effort.to_owned(),
            ..Default::default()
        }),
    };
    // What only an Anthropic upstream understands: unmodelled fields and server tools.
    let mut anthropic_options = match crate::openai::provider_options_of(object, KNOWN) {
        extras if extras.is_empty() => serde_json::Map::new(),
        extras => match serde_json::from_str(&extras) {
            Ok(Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        },
    };
    if !server_tools.is_empty() {
        anthropic_options.insert("tools".into(), Value::Array(server_tools));
    }
    let response_format = value
        .pointer("/output_config/format")
        .filter(|f| str_of(f, "type") == "json_schema")
        .map(|format| pb::ResponseFormat {
            r#type: pb::ResponseFormatType::JsonSchema as i32,
            schema_json: format
                .get("schema")
                .map(Value::to_string)
                .unwrap_or_default(),
            ..Default::default()
        });
    let request = pb::ChatRequest {
        model: model.to_owned(),
        messages,
        tools,
        tool_choice,
        parallel_tool_calls,
        response_format,
        sampling: Some(sampling),
        reasoning,
        choice_count: 0,
        end_user: value
            .pointer("/metadata/user_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        provider_options_json: String::new(),
        anthropic_beta: Vec::new(),
        fim: None,
        anthropic_options_json: if anthropic_options.is_empty() {
            String::new()
        } else {
            Value::Object(anthropic_options).to_string()
        },
        ..Default::default()
    };
    Ok(ClientRequest {
        request,
        stream: object
            .get("stream")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

/// A tool's or a block's `cache_control`, read from a tree.
fn cache_of_value(value: &Value) -> Option<pb::CacheHint> {
    value
        .get("cache_control")
        .filter(|c| c.is_object())
        .map(|c| pb::CacheHint {
            ttl: str_of(c, "ttl").to_owned(),
        })
}

/// Function tools, and the server tools that go to Anthropic upstreams unchanged.
fn read_tools(list: &[Value]) -> Result<(Vec<pb::Tool>, Vec<Value>), IngressError> {
    let mut tools = Vec::new();
    let mut server_tools = Vec::new();
    for (i, tool) in list.iter().enumerate() {
        let kind = str_of(tool, "type");
        if !kind.is_empty() && kind != "custom" {
            // Server tools (`web_search_20250305`, `web_fetch_20250910`...) and Anthropic's
            // versioned client tools go only to Anthropic upstreams, unchanged.
            server_tools.push(tool.clone());
            continue;
        }
        let name = tool
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| IngressError::invalid(&format!("tools[{i}].name"), "is required"))?;
        tools.push(pb::Tool {
            name: name.to_owned(),
            description: str_of(tool, "description").to_owned(),
            parameters_json: tool
                .get("input_schema")
                .map(crate::ingress::json_text)
                .unwrap_or_default(),
            strict: tool.get("strict").and_then(Value::as_bool).unwrap_or(false),
            cache: cache_of_value(tool),
            ..Default::default()
        });
    }
    Ok((tools, server_tools))
}
