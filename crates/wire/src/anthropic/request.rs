//! Messages API requests: parsing a client's (ingress) and building a provider's (egress),
//! directly or in the Bedrock and Vertex flavours (model in the URL, `anthropic_version` in
//! the body).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use crate::canonical::pb::{self, content_part::Part};
use crate::error::WireError;
use crate::http::HttpRequest;
use crate::ingress::IngressError;
use crate::json::str_of;
use crate::openai::merge_options;

/// The `anthropic-version` header every direct request carries.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// `max_tokens` is required by Anthropic; this is sent when the caller set none.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

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

/// A client's request, canonical, with how it wants the answer delivered.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientRequest {
    pub request: pb::ChatRequest,
    pub stream: bool,
}

fn cache_of(block: &Value) -> Option<pb::CacheHint> {
    block
        .get("cache_control")
        .filter(|c| c.is_object())
        .map(|c| pb::CacheHint {
            ttl: str_of(c, "ttl").to_owned(),
        })
}

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
    for (i, block) in blocks.iter().enumerate() {
        let here = format!("{at}[{i}]");
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
        parts.push((
            pb::ContentPart {
                part: Some(part),
                cache: cache_of(block),
                thought_signature: String::new(),
            },
            is_result,
        ));
    }
    Ok(parts)
}

fn read_image(source: &Value, at: &str) -> Result<pb::Image, IngressError> {
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

/// Parses a client's `POST /v1/messages` body.
pub fn parse_request(body: &[u8]) -> Result<ClientRequest, IngressError> {
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
            _ => {
                return Err(IngressError::invalid(
                    &format!("{at}.role"),
                    "must be user or assistant",
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
    let mut tools = Vec::new();
    for (i, tool) in object
        .get("tools")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let kind = str_of(tool, "type");
        if !kind.is_empty() && kind != "custom" {
            return Err(IngressError::invalid(
                &format!("tools[{i}].type"),
                &format!("server tool {kind:?} is not supported"),
            ));
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
                .map(Value::to_string)
                .unwrap_or_default(),
            strict: tool.get("strict").and_then(Value::as_bool).unwrap_or(false),
            cache: cache_of(tool),
        });
    }
    let mut parallel_tool_calls = None;
    let tool_choice = match object.get("tool_choice") {
        None | Some(Value::Null) => None,
        Some(choice) => {
            if choice
                .get("disable_parallel_tool_use")
                .and_then(Value::as_bool)
                == Some(true)
            {
                parallel_tool_calls = Some(false);
            }
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
            Some(pb::ToolChoice {
                mode: mode as i32,
                name: str_of(choice, "name").to_owned(),
            })
        }
    };
    let float = |key: &str| -> Result<Option<f64>, IngressError> {
        match object.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| IngressError::invalid(key, "must be a number")),
        }
    };
    let stop = match object.get("stop_sequences") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(stops)) => stops
            .iter()
            .map(|s| {
                s.as_str().map(str::to_owned).ok_or_else(|| {
                    IngressError::invalid("stop_sequences", "must be an array of strings")
                })
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(IngressError::invalid(
                "stop_sequences",
                "must be an array of strings",
            ));
        }
    };
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
    let reasoning = match object.get("thinking") {
        Some(thinking) if matches!(str_of(thinking, "type"), "enabled" | "adaptive") => {
            Some(pb::ReasoningConfig {
                enabled: true,
                budget_tokens: thinking
                    .get("budget_tokens")
                    .and_then(Value::as_u64)
                    .map(|b| b as u32),
                effort: value
                    .pointer("/output_config/effort")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            })
        }
        _ => value
            .pointer("/output_config/effort")
            .and_then(Value::as_str)
            .map(|effort| pb::ReasoningConfig {
                enabled: false,
                budget_tokens: None,
                effort: effort.to_owned(),
            }),
    };
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
        provider_options_json: crate::openai::provider_options_of(object, KNOWN),
        anthropic_beta: Vec::new(),
    };
    Ok(ClientRequest {
        request,
        stream: object
            .get("stream")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

/// Which Anthropic endpoint a request goes to.
#[derive(Debug, Clone, Copy)]
pub enum Flavor<'a> {
    /// `POST /v1/messages` at api.anthropic.com (or a compatible host).
    Direct,
    /// Bedrock `InvokeModel` with the Anthropic body.
    Bedrock,
    /// Vertex AI `rawPredict` for a project and region.
    Vertex { project: &'a str, region: &'a str },
}

fn cache_json(cache: Option<&pb::CacheHint>) -> Option<Value> {
    cache.map(|hint| {
        if hint.ttl.is_empty() {
            json!({ "type": "ephemeral" })
        } else {
            json!({ "type": "ephemeral", "ttl": hint.ttl })
        }
    })
}

fn with_cache(mut block: Value, part: &pb::ContentPart) -> Value {
    if let Some(cache) = cache_json(part.cache.as_ref()) {
        block["cache_control"] = cache;
    }
    block
}

fn image_block(image: &pb::Image) -> Value {
    match &image.source {
        Some(pb::image::Source::Data(data)) => {
            json!({ "type": "image", "source": { "type": "base64", "media_type": image.media_type, "data": BASE64.encode(data) } })
        }
        Some(pb::image::Source::Url(url)) => match url
            .strip_prefix("data:")
            .and_then(|rest| rest.split_once(";base64,"))
        {
            Some((media_type, data)) => {
                json!({ "type": "image", "source": { "type": "base64", "media_type": media_type, "data": data } })
            }
            None => json!({ "type": "image", "source": { "type": "url", "url": url } }),
        },
        None => json!({ "type": "text", "text": "" }),
    }
}

/// Canonical content as Anthropic blocks.
fn blocks(parts: &[pb::ContentPart]) -> Result<Vec<Value>, WireError> {
    let mut out = Vec::with_capacity(parts.len());
    for part in parts {
        let block = match &part.part {
            Some(Part::Text(text)) if text.is_empty() => continue,
            Some(Part::Text(text)) => json!({ "type": "text", "text": text }),
            Some(Part::Image(image)) => image_block(image),
            Some(Part::ToolCall(call)) => {
                let input: Value = if call.arguments_json.trim().is_empty() {
                    json!({})
                } else {
                    serde_json::from_str(&call.arguments_json).map_err(|_| {
                        WireError::from_status(
                            "anthropic",
                            400,
                            "invalid_request_error",
                            format!("tool call {} has arguments that are not JSON", call.id),
                        )
                    })?
                };
                json!({ "type": "tool_use", "id": call.id, "name": call.name, "input": input })
            }
            Some(Part::ToolResult(result)) => {
                let mut block = json!({ "type": "tool_result", "tool_use_id": result.tool_call_id, "content": blocks(&result.content)? });
                if result.is_error {
                    block["is_error"] = json!(true);
                }
                block
            }
            Some(Part::Reasoning(reasoning)) if !reasoning.redacted.is_empty() => {
                json!({ "type": "redacted_thinking", "data": reasoning.redacted })
            }
            // Thinking without a signature (from another provider) cannot be sent back.
            Some(Part::Reasoning(reasoning)) if reasoning.signature.is_empty() => continue,
            Some(Part::Reasoning(reasoning)) => {
                json!({ "type": "thinking", "thinking": reasoning.text, "signature": reasoning.signature })
            }
            None => continue,
        };
        out.push(with_cache(block, part));
    }
    Ok(out)
}

/// Builds the upstream Messages request for `model` (the provider's model id).
pub fn build_request(
    request: &pb::ChatRequest,
    model: &str,
    stream: bool,
    flavor: Flavor<'_>,
) -> Result<HttpRequest, WireError> {
    if request.choice_count > 1 {
        return Err(WireError::from_status(
            "anthropic",
            400,
            "invalid_request_error",
            "anthropic models return one choice; n > 1 is not supported",
        ));
    }
    let mut system = Vec::new();
    let mut messages: Vec<Value> = Vec::new();
    for message in &request.messages {
        let role = match pb::Role::try_from(message.role).unwrap_or(pb::Role::User) {
            pb::Role::System | pb::Role::Developer => {
                system.extend(blocks(&message.content)?);
                continue;
            }
            pb::Role::Assistant => "assistant",
            _ => "user",
        };
        let content = blocks(&message.content)?;
        if content.is_empty() {
            continue;
        }
        // Consecutive turns of one role merge, keeping tool results first in a user turn.
        match messages.last_mut() {
            Some(last) if last["role"] == role => {
                if let Some(existing) = last["content"].as_array_mut() {
                    existing.extend(content);
                }
            }
            _ => messages.push(json!({ "role": role, "content": content })),
        }
    }
    let mut body = Map::new();
    if matches!(flavor, Flavor::Direct) {
        body.insert("model".into(), json!(model));
    }
    let sampling = request.sampling.clone().unwrap_or_default();
    body.insert(
        "max_tokens".into(),
        json!(sampling.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)),
    );
    if !system.is_empty() {
        let plain = system.len() == 1 && system[0].get("cache_control").is_none();
        body.insert(
            "system".into(),
            if plain {
                system[0]["text"].clone()
            } else {
                Value::Array(system)
            },
        );
    }
    body.insert("messages".into(), Value::Array(messages));
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|tool| {
                let schema = serde_json::from_str(&tool.parameters_json)
                    .unwrap_or_else(|_| json!({ "type": "object" }));
                let mut value = json!({ "name": tool.name, "input_schema": schema });
                if !tool.description.is_empty() {
                    value["description"] = json!(tool.description);
                }
                if tool.strict {
                    value["strict"] = json!(true);
                }
                if let Some(cache) = cache_json(tool.cache.as_ref()) {
                    value["cache_control"] = cache;
                }
                value
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    let mut choice = request
        .tool_choice
        .as_ref()
        .and_then(|choice| match choice.mode() {
            pb::ToolChoiceMode::Auto => Some(json!({ "type": "auto" })),
            pb::ToolChoiceMode::None => Some(json!({ "type": "none" })),
            pb::ToolChoiceMode::Required => Some(json!({ "type": "any" })),
            pb::ToolChoiceMode::Tool => Some(json!({ "type": "tool", "name": choice.name })),
            pb::ToolChoiceMode::Unspecified => None,
        });
    if request.parallel_tool_calls == Some(false) && !request.tools.is_empty() {
        let value = choice.get_or_insert_with(|| json!({ "type": "auto" }));
        if value["type"] != "none" {
            value["disable_parallel_tool_use"] = json!(true);
        }
    }
    if let Some(choice) = choice {
        body.insert("tool_choice".into(), choice);
    }
    if let Some(t) = sampling.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = sampling.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if let Some(k) = sampling.top_k {
        body.insert("top_k".into(), json!(k));
    }
    if !sampling.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(sampling.stop));
    }
    if let Some(reasoning) = &request.reasoning {
        if reasoning.enabled {
            let budget = reasoning.budget_tokens.unwrap_or(1024).max(1024);
            body.insert(
                "thinking".into(),
                json!({ "type": "enabled", "budget_tokens": budget }),
            );
        }
        if !reasoning.effort.is_empty() {
            body.insert(
                "output_config".into(),
                json!({ "effort": reasoning.effort }),
            );
        }
    }
    if let Some(format) = &request.response_format
        && format.r#type() == pb::ResponseFormatType::JsonSchema
    {
        let schema: Value = serde_json::from_str(&format.schema_json).unwrap_or_else(|_| json!({}));
        let config = body.entry("output_config").or_insert_with(|| json!({}));
        config["format"] = json!({ "type": "json_schema", "schema": schema });
    }
    if !request.end_user.is_empty() {
        body.insert("metadata".into(), json!({ "user_id": request.end_user }));
    }
    merge_options(&mut body, &request.provider_options_json)?;
    let (path, mut headers) = match flavor {
        Flavor::Direct => {
            if stream {
                body.insert("stream".into(), json!(true));
            }
            let mut headers = vec![("anthropic-version", ANTHROPIC_VERSION.to_owned())];
            if !request.anthropic_beta.is_empty() {
                headers.push(("anthropic-beta", request.anthropic_beta.join(",")));
            }
            ("/v1/messages".to_owned(), headers)
        }
        Flavor::Bedrock => {
            body.insert("anthropic_version".into(), json!("bedrock-2023-05-31"));
            if !request.anthropic_beta.is_empty() {
                body.insert("anthropic_beta".into(), json!(request.anthropic_beta));
            }
            let operation = if stream {
                "invoke-with-response-stream"
            } else {
                "invoke"
            };
            (
                format!(
                    "/model/{}/{operation}",
                    crate::bedrock::encode_model_id(model)
                ),
                Vec::new(),
            )
        }
        Flavor::Vertex { project, region } => {
            body.insert("anthropic_version".into(), json!("vertex-2023-10-16"));
            if stream {
                body.insert("stream".into(), json!(true));
            }
            let method = if stream {
                "streamRawPredict"
            } else {
                "rawPredict"
            };
            let mut headers = Vec::new();
            if !request.anthropic_beta.is_empty() {
                headers.push(("anthropic-beta", request.anthropic_beta.join(",")));
            }
            (
                format!(
                    "/v1/projects/{project}/locations/{region}/publishers/anthropic/models/{model}:{method}"
                ),
                headers,
            )
        }
    };
    let mut http = HttpRequest::post_json(path, &Value::Object(body));
    http.headers.append(&mut headers);
    Ok(http)
}
