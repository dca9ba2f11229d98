//! The tree-building Converse egress that `egress_body` replaced, kept as the reference: for
//! any canonical request, the new one must write the same bytes (or, where tool inputs or
//! schemas came non-compact, the same JSON), or fail with the same error.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use super::converse::{invalid, reasoning_fields};
use super::encode_model_id;
use crate::canonical::pb::{self, content_part::Part};
use crate::error::WireError;
use crate::http::HttpRequest;
use crate::json::push_turn;
use crate::openai::merge_options;

fn image_block(image: &pb::Image) -> Result<Value, WireError> {
    let (media_type, data) = match &image.source {
        Some(pb::image::Source::Data(data)) => (image.media_type.clone(), data.clone()),
        Some(pb::image::Source::Url(url)) => {
            let (media_type, data) = url
                .strip_prefix("data:")
                .and_then(|rest| rest.split_once(";base64,"))
                .ok_or_else(|| {
                    invalid(
                        "bedrock takes images inline: send bytes or a data: URL, not a remote URL",
                    )
                })?;
            let bytes = BASE64
                .decode(data)
                .map_err(|_| invalid("image data URL is not valid base64"))?;
            (media_type.to_owned(), bytes)
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
    Ok(json!({ "image": { "format": format, "source": { "bytes": BASE64.encode(data) } } }))
}

/// Canonical parts as Converse content blocks, with a `cachePoint` after any part that
/// carries a cache hint.
fn blocks(parts: &[pb::ContentPart]) -> Result<Vec<Value>, WireError> {
    let mut out = Vec::with_capacity(parts.len());
    for part in parts {
        let block = match &part.part {
            Some(Part::Text(text)) if text.is_empty() => continue,
            Some(Part::Text(text)) => json!({ "text": text }),
            Some(Part::Image(image)) => image_block(image)?,
            Some(Part::ToolCall(call)) => {
                let input: Value =
                    serde_json::from_str(&call.arguments_json).unwrap_or_else(|_| json!({}));
                json!({ "toolUse": { "toolUseId": call.id, "name": call.name, "input": input } })
            }
            Some(Part::ToolResult(result)) => {
                let content: Vec<Value> = blocks(&result.content)?;
                let content = if content.is_empty() {
                    vec![json!({ "text": "" })]
                } else {
                    content
                };
                let status = if result.is_error { "error" } else { "success" };
                json!({ "toolResult": { "toolUseId": result.tool_call_id, "content": content, "status": status } })
            }
            Some(Part::Reasoning(reasoning)) if !reasoning.redacted.is_empty() => {
                json!({ "reasoningContent": { "redactedContent": reasoning.redacted } })
            }
            Some(Part::Reasoning(reasoning)) if !reasoning.signature.is_empty() => {
                json!({ "reasoningContent": { "reasoningText": { "text": reasoning.text, "signature": reasoning.signature } } })
            }
            Some(Part::Reasoning(_)) | None => continue,
        };
        out.push(block);
        if part.cache.is_some() {
            out.push(json!({ "cachePoint": { "type": "default" } }));
        }
    }
    Ok(out)
}

/// Builds a Converse (or ConverseStream) request for `model`.
pub(super) fn legacy_build_request(
    request: &pb::ChatRequest,
    model: &str,
    stream: bool,
) -> Result<HttpRequest, WireError> {
    if request.choice_count > 1 {
        return Err(invalid(
            "bedrock returns one choice; n > 1 is not supported",
        ));
    }
    let mut system = Vec::new();
    let mut messages: Vec<Value> = Vec::new();
    for message in &request.messages {
        let role = match pb::Role::try_from(message.role).unwrap_or(pb::Role::User) {
            // Instructions given after the conversation began keep their place as user text
            // (the same rule as Gemini's).
            pb::Role::System | pb::Role::Developer if !messages.is_empty() => {
                let text = super::mid_conversation_text(&message.content);
                push_turn(
                    &mut messages,
                    "user",
                    "content",
                    vec![json!({ "text": text })],
                );
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
        push_turn(&mut messages, role, "content", content);
    }
    let mut body = Map::new();
    body.insert("messages".into(), Value::Array(messages));
    if !system.is_empty() {
        body.insert("system".into(), Value::Array(system));
    }
    let mut inference = Map::new();
    let mut additional = Map::new();
    if let Some(sampling) = &request.sampling {
        if let Some(v) = sampling.max_tokens {
            inference.insert("maxTokens".into(), json!(v));
        }
        if let Some(v) = sampling.temperature {
            inference.insert("temperature".into(), json!(v));
        }
        if let Some(v) = sampling.top_p {
            inference.insert("topP".into(), json!(v));
        }
        if !sampling.stop.is_empty() {
            inference.insert("stopSequences".into(), json!(sampling.stop));
        }
        if let Some(k) = sampling.top_k {
            additional.insert("top_k".into(), json!(k));
        }
    }
    if !inference.is_empty() {
        body.insert("inferenceConfig".into(), Value::Object(inference));
    }
    if !request.tools.is_empty() {
        let mut tools: Vec<Value> = Vec::new();
        for tool in &request.tools {
            let schema: Value = serde_json::from_str(&tool.parameters_json)
                .unwrap_or_else(|_| json!({ "type": "object" }));
            let mut spec = json!({ "name": tool.name, "inputSchema": { "json": schema } });
            if !tool.description.is_empty() {
                spec["description"] = json!(tool.description);
            }
            tools.push(json!({ "toolSpec": spec }));
            if tool.cache.is_some() {
                tools.push(json!({ "cachePoint": { "type": "default" } }));
            }
        }
        let mut config = json!({ "tools": tools });
        // Converse has no "none": leaving the choice out keeps history with tool blocks valid.
        match request.tool_choice.as_ref().map(pb::ToolChoice::mode) {
            Some(pb::ToolChoiceMode::Auto) => config["toolChoice"] = json!({ "auto": {} }),
            Some(pb::ToolChoiceMode::Required) => config["toolChoice"] = json!({ "any": {} }),
            Some(pb::ToolChoiceMode::Tool) => {
                config["toolChoice"] = json!({ "tool": { "name": request.tool_choice.as_ref().map(|c| c.name.clone()).unwrap_or_default() } })
            }
            _ => {}
        }
        body.insert("toolConfig".into(), config);
    }
    if let Some(reasoning) = &request.reasoning {
        reasoning_fields(reasoning, model, &mut additional);
    }
    if !additional.is_empty() {
        body.insert(
            "additionalModelRequestFields".into(),
            Value::Object(additional),
        );
    }
    merge_options(&mut body, &request.provider_options_json)?;
    let operation = if stream {
        "converse-stream"
    } else {
        "converse"
    };
    Ok(HttpRequest::post_json(
        format!("/model/{}/{operation}", encode_model_id(model)),
        &Value::Object(body),
    ))
}
