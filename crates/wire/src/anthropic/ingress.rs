//! Messages API requests from clients (ingress): parsed into canonical form, with every
//! fault named by the field at fault. An empty thinking block whose signature starts with
//! [`THOUGHT_SIGNATURE_PREFIX`] is no reasoning: it carries a Gemini thought signature back to
//! the tool call that follows it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;

use super::ingress_body::{BlockIn, Blocks, CacheControl, ChatBody, ToolIn};
use crate::canonical::pb::{self, content_part::Part};
use crate::ingress::{IngressError, number, string_list_of, tree};
use crate::json::str_of;
use crate::lenient::{self, Flag, Obj, Text};
use crate::responses::THOUGHT_SIGNATURE_PREFIX;

/// The beta under which Anthropic takes `system` messages inside `messages`.
pub const MID_CONVERSATION_SYSTEM_BETA: &str = "mid-conversation-system-2026-04-07";

/// A client's request, canonical, with how it wants the answer delivered.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientRequest {
    pub request: pb::ChatRequest,
    pub stream: bool,
}

fn cache_of(block: &BlockIn<'_>) -> Option<pb::CacheHint> {
    block.cache_control.object().map(|c| pb::CacheHint {
        ttl: c.ttl.as_str().to_owned(),
    })
}

fn text_part(text: String) -> pb::ContentPart {
    pb::ContentPart {
        part: Some(Part::Text(text)),
        ..Default::default()
    }
}

/// Content blocks as parts, each marked when it is a tool result.
fn read_blocks(
    content: &Blocks<'_>,
    at: &str,
) -> Result<Vec<(pb::ContentPart, bool)>, IngressError> {
    match content {
        Blocks::Text(text) => Ok(vec![(text_part(text.as_ref().to_owned()), false)]),
        Blocks::List(blocks) => read_block_list(blocks, at),
        Blocks::Other => Err(IngressError::invalid(
            at,
            "must be a string or an array of content blocks",
        )),
    }
}

fn read_block_list(
    blocks: &[Obj<BlockIn<'_>>],
    at: &str,
) -> Result<Vec<(pb::ContentPart, bool)>, IngressError> {
    let mut parts = Vec::with_capacity(blocks.len());
    // A Gemini thought signature carried by an empty thinking block, for the next tool call.
    let mut carried: Option<String> = None;
    for (i, block) in blocks.iter().enumerate() {
        let here = || format!("{at}[{i}]");
        let required =
            |key: &str| IngressError::invalid(&format!("{}.{key}", here()), "is required");
        let kind = block.kind.as_str();
        if kind == "thinking"
            && let Some(signature) = block
                .signature
                .as_str()
                .strip_prefix(THOUGHT_SIGNATURE_PREFIX)
        {
            carried = Some(signature.to_owned());
            continue;
        }
        let (part, is_result) = match kind {
            "text" => {
                if !block.text.present {
                    return Err(required("text"));
                }
                (Part::Text(block.text.value.as_str().to_owned()), false)
            }
            "image" => {
                let source = match (&block.source.present, &block.source.value.0) {
                    (true, Some(source)) => source,
                    _ => return Err(required("source")),
                };
                (
                    Part::Image(read_image(source, &format!("{}.source", here()))?),
                    false,
                )
            }
            "tool_use" => (
                Part::ToolCall(pb::ToolCall {
                    id: block.id.as_str().to_owned(),
                    name: block.name.as_str().to_owned(),
                    arguments_json: block.input.text().unwrap_or("{}").to_owned(),
                }),
                false,
            ),
            "tool_result" => {
                if !block.tool_use_id.present {
                    return Err(required("tool_use_id"));
                }
                let content = match &block.content {
                    None => Vec::new(),
                    Some(content) => read_blocks(content, &format!("{}.content", here()))?
                        .into_iter()
                        .map(|(p, _)| p)
                        .collect(),
                };
                (
                    Part::ToolResult(pb::ToolResult {
                        tool_call_id: block.tool_use_id.value.as_str().to_owned(),
                        name: String::new(),
                        content,
                        is_error: block.is_error.is_true(),
                    }),
                    true,
                )
            }
            "thinking" => (
                Part::Reasoning(pb::Reasoning {
                    text: block.thinking.as_str().to_owned(),
                    signature: block.signature.as_str().to_owned(),
                    redacted: String::new(),
                    ..Default::default()
                }),
                false,
            ),
            "redacted_thinking" => (
                Part::Reasoning(pb::Reasoning {
                    redacted: block.data.as_str().to_owned(),
                    ..Default::default()
                }),
                false,
            ),
            "" => {
                return Err(IngressError::invalid(
                    &format!("{}.type", here()),
                    "is required",
                ));
            }
            other => {
                return Err(IngressError::invalid(
                    &format!("{}.type", here()),
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
                cache: cache_of(block),
                thought_signature,
                refusal: false,
            },
            is_result,
        ));
    }
    Ok(parts)
}

/// Parts without their tool-result marks.
fn unmarked(parts: Vec<(pb::ContentPart, bool)>) -> impl Iterator<Item = pb::ContentPart> {
    parts.into_iter().map(|(p, _)| p)
}

/// A system message's content: a string, text blocks, or `mid_conv_system` blocks holding
/// either.
fn read_system(content: &Blocks<'_>, at: &str) -> Result<Vec<pb::ContentPart>, IngressError> {
    let Blocks::List(blocks) = content else {
        return Ok(unmarked(read_blocks(content, at)?).collect());
    };
    let mut parts = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        let here = format!("{at}[{i}]");
        let read = match block.kind.as_str() {
            "mid_conv_system" => match &block.content {
                Some(inner) => read_blocks(inner, &here)?,
                None => read_blocks(&Blocks::Other, &here)?,
            },
            "text" => read_block_list(std::slice::from_ref(block), &here)?,
            _ => {
                return Err(IngressError::invalid(
                    &format!("{here}.type"),
                    "must be text in a system message",
                ));
            }
        };
        parts.extend(unmarked(read));
    }
    Ok(parts)
}

pub(super) fn read_image(source: &Value, at: &str) -> Result<pb::Image, IngressError> {
    match str_of(source, "type") {
        "base64" => {
            let data = BASE64
                .decode(str_of(source, "data"))
                .map_err(|_| IngressError::invalid(&format!("{at}.data"), "is not valid base64"))?;
            Ok(pb::Image {
                source: Some(pb::image::Source::Data(data)),
                media_type: str_of(source, "media_type").to_owned(),
                detail: String::new(),
            })
        }
        "url" => Ok(pb::Image {
            source: Some(pb::image::Source::Url(str_of(source, "url").to_owned())),
            ..Default::default()
        }),
        _ => Err(IngressError::invalid(
            &format!("{at}.type"),
            "must be base64 or url",
        )),
    }
}

/// Function tools, and the server tools that go to Anthropic upstreams unchanged. A function
/// tool's schema is kept as the client wrote it.
fn read_tools(list: &[Obj<ToolIn<'_>>]) -> Result<(Vec<pb::Tool>, Vec<Value>), IngressError> {
    let mut tools = Vec::with_capacity(list.len());
    let mut server_tools = Vec::new();
    for (i, tool) in list.iter().enumerate() {
        let kind = tool.kind.read::<Text<'_>>();
        if !kind.as_str().is_empty() && kind.as_str() != "custom" {
            // Server tools (`web_search_20250305`, `web_fetch_20250910`...) and Anthropic's
            // versioned client tools go only to Anthropic upstreams, unchanged.
            server_tools.push(tool.to_value());
            continue;
        }
        let name = tool.name.read::<Text<'_>>();
        let name = name
            .get()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| IngressError::invalid(&format!("tools[{i}].name"), "is required"))?;
        tools.push(pb::Tool {
            name: name.to_owned(),
            description: tool.description.read::<Text<'_>>().as_str().to_owned(),
            parameters_json: tool.input_schema.text().unwrap_or_default().to_owned(),
            strict: tool.strict.read::<Flag>().is_true(),
            cache: tool
                .cache_control
                .read::<Obj<CacheControl<'_>>>()
                .object()
                .map(|c| pb::CacheHint {
                    ttl: c.ttl.as_str().to_owned(),
                }),
            ..Default::default()
        });
    }
    Ok((tools, server_tools))
}

/// `tool_choice`, and whether it turns parallel tool calls off.
pub(super) fn read_tool_choice(
    choice: Option<&Value>,
) -> Result<(Option<pb::ToolChoice>, Option<bool>), IngressError> {
    let Some(choice) = choice.filter(|choice| !choice.is_null()) else {
        return Ok((None, None));
    };
    let parallel_tool_calls = (choice
        .get("disable_parallel_tool_use")
        .and_then(Value::as_bool)
        == Some(true))
    .then_some(false);
    let mode = match str_of(choice, "type") {
        "auto" => pb::ToolChoiceMode::Auto,
        "any" => pb::ToolChoiceMode::Required,
        "none" => pb::ToolChoiceMode::None,
        "tool" => pb::ToolChoiceMode::Tool,
        _ => {
            return Err(IngressError::invalid(
                "tool_choice.type",
                "must be auto, any, none or tool",
            ));
        }
    };
    let choice = pb::ToolChoice {
        mode: mode as i32,
        name: str_of(choice, "name").to_owned(),
    };
    Ok((Some(choice), parallel_tool_calls))
}

/// Parses a client's `POST /v1/messages` body. Faults are named in a fixed order (model,
/// max_tokens, system, messages, tools, ...), whatever the order of the fields in the body.
pub fn parse_request(body: &[u8]) -> Result<ClientRequest, IngressError> {
    let body =
        lenient::parse::<ChatBody<'_>>(body).map_err(|error| IngressError::not_json(&error))?;
    let Some(body) = body.into_object() else {
        return Err(IngressError::invalid("", "the body must be a JSON object"));
    };
    let model = body
        .model
        .get()
        .filter(|m| !m.is_empty())
        .ok_or_else(|| IngressError::invalid("model", "is required"))?;
    if !body.max_tokens.present {
        return Err(IngressError::invalid("max_tokens", "is required"));
    }
    let max_tokens = body
        .max_tokens
        .value
        .0
        .and_then(|m| u32::try_from(m).ok())
        .filter(|m| *m > 0)
        .ok_or_else(|| IngressError::invalid("max_tokens", "must be a positive integer"))?;
    let mut messages = Vec::new();
    if let Some(system) = &body.system {
        messages.push(pb::Message {
            role: pb::Role::System as i32,
            content: unmarked(read_blocks(system, "system")?).collect(),
            name: String::new(),
        });
    }
    let list = body
        .messages
        .0
        .as_deref()
        .ok_or_else(|| IngressError::invalid("messages", "is required and must be an array"))?;
    if list.is_empty() {
        return Err(IngressError::invalid("messages", "must not be empty"));
    }
    for (i, message) in list.iter().enumerate() {
        let at = |field: &str| format!("messages[{i}].{field}");
        let role = match message.role.as_str() {
            "user" => pb::Role::User,
            "assistant" => pb::Role::Assistant,
            // Mid-conversation instructions (beta `mid-conversation-system-2026-04-07`): a
            // system message in place, which each upstream format maps by its own rule.
            "system" => {
                if !message.content.present {
                    return Err(IngressError::invalid(&at("content"), "is required"));
                }
                let content = read_system(&message.content.value, &at("content"))?;
                // `clear_at: next_user_message` shows the text only until the next user
                // turn: once one follows, the model no longer sees it, on any upstream.
                let cleared = message.clear_at.as_str() == "next_user_message"
                    && list[i + 1..].iter().any(|m| m.role.as_str() == "user");
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
                    &at("role"),
                    "must be user, assistant or system",
                ));
            }
        };
        if !message.content.present {
            return Err(IngressError::invalid(&at("content"), "is required"));
        }
        let blocks = read_blocks(&message.content.value, &at("content"))?;
        // Tool results become a tool message ahead of the rest of the user's turn.
        let (results, rest): (Vec<_>, Vec<_>) =
            blocks.into_iter().partition(|(_, is_result)| *is_result);
        if !results.is_empty() {
            messages.push(pb::Message {
                role: pb::Role::Tool as i32,
                content: unmarked(results).collect(),
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
                content: unmarked(rest).collect(),
                name: String::new(),
            });
        }
    }
    let (tools, server_tools) = read_tools(body.tools.items())?;
    let (tool_choice, parallel_tool_calls) = read_tool_choice(tree(body.tool_choice.as_ref()))?;
    let stop = string_list_of("stop_sequences", tree(body.stop_sequences.as_ref()))?;
    let sampling = pb::Sampling {
        temperature: number("temperature", body.temperature)?,
        top_p: number("top_p", body.top_p)?,
        #[allow(clippy::cast_possible_truncation)] // As the tree reader did.
        top_k: body.top_k.0.map(|k| k as u32),
        max_tokens: Some(max_tokens),
        stop,
        ..Default::default()
    };
    let output_config = body.output_config.object();
    let effort = output_config.and_then(|config| config.effort.get());
    let thinking = body
        .thinking
        .object()
        .filter(|thinking| matches!(thinking.kind.as_str(), "enabled" | "adaptive"));
    let reasoning = match thinking {
        Some(thinking) => Some(pb::ReasoningConfig {
            enabled: true,
            budget_tokens: thinking
                .budget_tokens
                .0
                .map(|b| u32::try_from(b).unwrap_or(u32::MAX)),
            effort: effort.unwrap_or_default().to_owned(),
            adaptive: thinking.kind.as_str() == "adaptive",
            display: thinking.display.as_str().to_owned(),
        }),
        None => effort.map(|effort| pb::ReasoningConfig {
            effort: effort.to_owned(),
            ..Default::default()
        }),
    };
    // What only an Anthropic upstream understands: unmodelled fields and server tools.
    let mut anthropic_options = body.extras;
    if !server_tools.is_empty() {
        anthropic_options.insert("tools".into(), Value::Array(server_tools));
    }
    let response_format = output_config
        .and_then(|config| config.format.object())
        .filter(|format| format.kind.as_str() == "json_schema")
        .map(|format| pb::ResponseFormat {
            r#type: pb::ResponseFormatType::JsonSchema as i32,
            schema_json: format
                .schema
                .0
                .as_ref()
                .map(crate::ingress::json_text)
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
        end_user: body
            .metadata
            .object()
            .map(|metadata| metadata.user_id.as_str().to_owned())
            .unwrap_or_default(),
        provider_options_json: String::new(),
        anthropic_beta: Vec::new(),
        fim: None,
        anthropic_options_json: if anthropic_options.is_empty() {
            String::new()
        } else {
            crate::ingress::json_text(&Value::Object(anthropic_options))
        },
        ..Default::default()
    };
    Ok(ClientRequest {
        request,
        stream: body.stream.is_true(),
    })
}
