//! The tree-building `generateContent` egress that `egress_body` replaced, kept as the
//! reference: for any canonical request, the new one must write the same bytes (or, where
//! call arguments, JSON tool results or schemas came non-compact, the same JSON).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use super::Flavor;
use super::request::{
    SKIP_THOUGHT_SIGNATURE, media_type_of, signs_thoughts, streams_call_arguments, thinking_config,
};
use crate::canonical::pb::{self, content_part::Part};
use crate::error::WireError;
use crate::http::HttpRequest;
use crate::json::push_turn;
use crate::openai::merge_options;

fn image_part(image: &pb::Image) -> Value {
    match &image.source {
        Some(pb::image::Source::Data(data)) => {
            json!({ "inlineData": { "mimeType": image.media_type, "data": BASE64.encode(data) } })
        }
        Some(pb::image::Source::Url(url)) => match url
            .strip_prefix("data:")
            .and_then(|rest| rest.split_once(";base64,"))
        {
            Some((media_type, data)) => {
                json!({ "inlineData": { "mimeType": media_type, "data": data } })
            }
            None => {
                json!({ "fileData": { "mimeType": media_type_of(image, url), "fileUri": url } })
            }
        },
        None => json!({ "text": "" }),
    }
}

fn with_signature(mut part: Value, content: &pb::ContentPart) -> Value {
    if !content.thought_signature.is_empty() {
        part["thoughtSignature"] = json!(content.thought_signature);
    }
    part
}

/// Gives the placeholder to the function calls Google checks that came without a signature.
/// Google validates only the current turn, which begins at the latest user content holding
/// standard content rather than function responses; in it, the first `functionCall` part of
/// each step (each model content) must carry its signature, and only the first of parallel
/// calls has one (<https://ai.google.dev/gemini-api/docs/thought-signatures>, "Validation").
/// A user content mixing function responses and text is not taken as the turn's start, so
/// the steps before it get the placeholder too, which Google accepts either way.
fn sign_unsigned_calls(contents: &mut [Value]) {
    let turn = contents
        .iter()
        .rposition(|content| {
            content["role"] == "user"
                && content["parts"]
                    .as_array()
                    .is_some_and(|parts| parts.iter().all(|p| p.get("functionResponse").is_none()))
        })
        .map_or(0, |at| at + 1);
    for content in &mut contents[turn..] {
        if content["role"] != "model" {
            continue;
        }
        let first_call = content["parts"]
            .as_array_mut()
            .and_then(|parts| parts.iter_mut().find(|p| p.get("functionCall").is_some()));
        if let Some(Value::Object(part)) = first_call
            && part
                .get("thoughtSignature")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        {
            part.insert("thoughtSignature".into(), json!(SKIP_THOUGHT_SIGNATURE));
        }
    }
}

/// A tool result's `response` must be an object: JSON objects pass as is, anything else is
/// wrapped as `{"output": ...}` (or `{"error": ...}`).
fn function_response(result: &pb::ToolResult) -> Value {
    let text: String = result
        .content
        .iter()
        .filter_map(|p| match &p.part {
            Some(Part::Text(t)) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    let key = if result.is_error { "error" } else { "output" };
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(object)) if !result.is_error => Value::Object(object),
        Ok(other) if !text.trim().is_empty() => json!({ key: other }),
        _ => json!({ key: text }),
    }
}

/// Builds the upstream request for `model`.
pub(super) fn legacy_build_request(
    request: &pb::ChatRequest,
    model: &str,
    stream: bool,
    flavor: Flavor<'_>,
) -> Result<HttpRequest, WireError> {
    // Gemini matches results to calls by name: learn names from the calls.
    let mut call_names: HashMap<&str, &str> = HashMap::new();
    for message in &request.messages {
        for part in &message.content {
            if let Some(Part::ToolCall(call)) = &part.part {
                call_names.insert(&call.id, &call.name);
            }
        }
    }
    let mut system = Vec::new();
    let mut contents: Vec<Value> = Vec::new();
    for message in &request.messages {
        let role = pb::Role::try_from(message.role).unwrap_or(pb::Role::User);
        let mut parts = Vec::new();
        for content in &message.content {
            let part = match &content.part {
                Some(Part::Text(text))
                    if text.is_empty() && content.thought_signature.is_empty() =>
                {
                    continue;
                }
                Some(Part::Text(text)) => json!({ "text": text }),
                Some(Part::Image(image)) => image_part(image),
                Some(Part::ToolCall(call)) => {
                    let args: Value =
                        serde_json::from_str(&call.arguments_json).unwrap_or_else(|_| json!({}));
                    json!({ "functionCall": { "name": call.name, "args": args } })
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
                    json!({ "functionResponse": { "name": name, "response": function_response(result) } })
                }
                // Reasoning text is the model's own summary; Gemini needs only the signatures.
                Some(Part::Reasoning(_)) | None => continue,
            };
            parts.push(with_signature(part, content));
        }
        if parts.is_empty() {
            continue;
        }
        let role = match role {
            // Instructions given after the conversation began keep their place as user text.
            pb::Role::System | pb::Role::Developer if !contents.is_empty() => {
                push_turn(
                    &mut contents,
                    "user",
                    "parts",
                    vec![
                        json!({ "text": crate::bedrock::mid_conversation_text(&message.content) }),
                    ],
                );
                continue;
            }
            pb::Role::System | pb::Role::Developer => {
                system.extend(parts);
                continue;
            }
            pb::Role::Assistant => "model",
            _ => "user",
        };
        push_turn(&mut contents, role, "parts", parts);
    }
    if signs_thoughts(model) {
        sign_unsigned_calls(&mut contents);
    }
    let mut body = Map::new();
    body.insert("contents".into(), Value::Array(contents));
    if !system.is_empty() {
        body.insert("systemInstruction".into(), json!({ "parts": system }));
    }
    if !request.tools.is_empty() {
        let declarations: Vec<Value> = request
            .tools
            .iter()
            .map(|tool| {
                let mut declaration = json!({ "name": tool.name, "description": tool.description });
                if !tool.parameters_json.is_empty() {
                    declaration["parametersJsonSchema"] =
                        serde_json::from_str(&tool.parameters_json)
                            .unwrap_or_else(|_| json!({ "type": "object" }));
                }
                declaration
            })
            .collect();
        body.insert(
            "tools".into(),
            json!([{ "functionDeclarations": declarations }]),
        );
    }
    if let Some(choice) = &request.tool_choice {
        let config = match choice.mode() {
            pb::ToolChoiceMode::Auto => Some(json!({ "mode": "AUTO" })),
            pb::ToolChoiceMode::None => Some(json!({ "mode": "NONE" })),
            pb::ToolChoiceMode::Required => Some(json!({ "mode": "ANY" })),
            pb::ToolChoiceMode::Tool => {
                Some(json!({ "mode": "ANY", "allowedFunctionNames": [choice.name] }))
            }
            pb::ToolChoiceMode::Unspecified => None,
        };
        if let Some(config) = config {
            body.insert(
                "toolConfig".into(),
                json!({ "functionCallingConfig": config }),
            );
        }
    }
    // Vertex streams a call's arguments as the model writes them (`partialArgs`) for Gemini 3
    // and later when asked with `streamFunctionCallArguments`; the Gemini API does not take
    // it. Asked for whenever such an answer streams and may call a function: the stream
    // decoder assembles the pieces into one call.
    if stream
        && matches!(flavor, Flavor::Vertex { .. })
        && !request.tools.is_empty()
        && streams_call_arguments(model)
        && let Value::Object(tool_config) = body
            .entry("toolConfig")
            .or_insert_with(|| json!({ "functionCallingConfig": {} }))
        && let Some(Value::Object(calling)) = tool_config.get_mut("functionCallingConfig")
        && calling.get("mode").and_then(Value::as_str) != Some("NONE")
    {
        calling.insert("streamFunctionCallArguments".into(), json!(true));
    }
    let mut generation = Map::new();
    if let Some(sampling) = &request.sampling {
        let mut set = |key: &str, value: Value| {
            generation.insert(key.to_owned(), value);
        };
        if let Some(v) = sampling.temperature {
            set("temperature", json!(v));
        }
        if let Some(v) = sampling.top_p {
            set("topP", json!(v));
        }
        if let Some(v) = sampling.top_k {
            set("topK", json!(v));
        }
        if let Some(v) = sampling.max_tokens {
            set("maxOutputTokens", json!(v));
        }
        if !sampling.stop.is_empty() {
            set("stopSequences", json!(sampling.stop));
        }
        if let Some(v) = sampling.seed {
            set("seed", json!(v));
        }
        if let Some(v) = sampling.presence_penalty {
            set("presencePenalty", json!(v));
        }
        if let Some(v) = sampling.frequency_penalty {
            set("frequencyPenalty", json!(v));
        }
    }
    if request.choice_count > 1 {
        generation.insert("candidateCount".into(), json!(request.choice_count));
    }
    if let Some(format) = &request.response_format {
        match format.r#type() {
            pb::ResponseFormatType::JsonObject => {
                generation.insert("responseMimeType".into(), json!("application/json"));
            }
            pb::ResponseFormatType::JsonSchema => {
                generation.insert("responseMimeType".into(), json!("application/json"));
                generation.insert(
                    "responseJsonSchema".into(),
                    serde_json::from_str(&format.schema_json).unwrap_or_else(|_| json!({})),
                );
            }
            _ => {}
        }
    }
    if let Some(thinking) = request
        .reasoning
        .as_ref()
        .and_then(|reasoning| thinking_config(reasoning, model))
    {
        generation.insert("thinkingConfig".into(), thinking);
    }
    if !generation.is_empty() {
        body.insert("generationConfig".into(), Value::Object(generation));
    }
    merge_options(&mut body, &request.provider_options_json)?;
    let method = if stream {
        "streamGenerateContent?alt=sse"
    } else {
        "generateContent"
    };
    let path = match flavor {
        Flavor::AiStudio => format!("/v1beta/models/{model}:{method}"),
        Flavor::Vertex { project, location } => format!(
            "/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:{method}"
        ),
    };
    Ok(HttpRequest::post_json(path, &Value::Object(body)))
}
