//! The tree-building Messages egress that `egress_body` replaced, kept as the reference: for
//! any canonical request, the new one must write the same bytes (or, where tool inputs or
//! schemas came non-compact, the same JSON), or fail with the same error.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use super::request::{ANTHROPIC_VERSION, DEFAULT_MAX_TOKENS, Flavor, thinking_of};
use crate::canonical::pb::{self, content_part::Part};
use crate::error::WireError;
use crate::http::HttpRequest;
use crate::json::push_turn;
use crate::openai::merge_options;
use crate::responses::THOUGHT_SIGNATURE_PREFIX;

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
            // Thinking without a signature (from another provider) cannot be sent back, nor can
            // a Gemini thought signature's carrier, which Anthropic would refuse.
            Some(Part::Reasoning(reasoning))
                if reasoning.signature.is_empty()
                    || reasoning.signature.starts_with(THOUGHT_SIGNATURE_PREFIX) =>
            {
                continue;
            }
            Some(Part::Reasoning(reasoning)) => {
                json!({ "type": "thinking", "thinking": reasoning.text, "signature": reasoning.signature })
            }
            None => continue,
        };
        out.push(with_cache(block, part));
    }
    Ok(out)
}

/// Adds the Anthropic-only options: server tools join the tool list, other fields are set
/// where the canonical request did not set them.
fn merge_anthropic_options(body: &mut Map<String, Value>, options: &str) -> Result<(), WireError> {
    if options.is_empty() {
        return Ok(());
    }
    let Ok(Value::Object(mut options)) = serde_json::from_str::<Value>(options) else {
        return Err(WireError::from_status(
            "keyroute",
            400,
            "invalid_request_error",
            "anthropic options must be a JSON object",
        ));
    };
    if let Some(Value::Array(server_tools)) = options.remove("tools") {
        match body.get_mut("tools").and_then(Value::as_array_mut) {
            Some(tools) => tools.extend(server_tools),
            None => {
                body.insert("tools".into(), Value::Array(server_tools));
            }
        }
    }
    for (key, value) in options {
        body.entry(key).or_insert(value);
    }
    Ok(())
}

/// Builds the upstream Messages request for `model` (the provider's model id).
pub(super) fn legacy_build_request(
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
    // Instructions after the conversation began stay in place where the client asked for the
    // mid-conversation-system beta; otherwise they join the top-level system prompt.
    let in_place = request
        .anthropic_beta
        .iter()
        .any(|flag| flag == crate::anthropic::MID_CONVERSATION_SYSTEM_BETA);
    for message in &request.messages {
        let role = match pb::Role::try_from(message.role).unwrap_or(pb::Role::User) {
            pb::Role::System | pb::Role::Developer if in_place && !messages.is_empty() => {
                let content = blocks(&message.content)?;
                if !content.is_empty() {
                    messages.push(json!({ "role": "system", "content": content }));
                }
                continue;
            }
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
        push_turn(&mut messages, role, "content", content);
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
        let (thinking, effort) = thinking_of(reasoning);
        if let Some(thinking) = thinking {
            body.insert("thinking".into(), thinking);
        }
        if let Some(effort) = effort {
            body.insert("output_config".into(), json!({ "effort": effort }));
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
    merge_anthropic_options(&mut body, &request.anthropic_options_json)?;
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
