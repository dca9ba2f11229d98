//! `generateContent` requests for AI Studio and Vertex AI.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use crate::canonical::pb::{self, content_part::Part};
use crate::error::WireError;
use crate::http::HttpRequest;
use crate::json::push_turn;
use crate::openai::merge_options;

/// Which Gemini endpoint a request goes to.
#[derive(Debug, Clone, Copy)]
pub enum Flavor<'a> {
    /// Google AI Studio (`generativelanguage.googleapis.com`, `x-goog-api-key`).
    AiStudio,
    /// Vertex AI for a project and location (bearer access token).
    Vertex { project: &'a str, location: &'a str },
}

fn media_type_of(image: &pb::Image, url: &str) -> String {
    if !image.media_type.is_empty() {
        return image.media_type.clone();
    }
    let lower = url.to_ascii_lowercase();
    let by_extension = [
        (".png", "image/png"),
        (".gif", "image/gif"),
        (".webp", "image/webp"),
    ];
    by_extension
        .iter()
        .find(|(ext, _)| lower.ends_with(ext))
        .map_or("image/jpeg", |(_, media)| media)
        .to_owned()
}

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

/// Google's documented placeholder for a function call whose thought signature is unknown
/// (history written by another model or client, a client that dropped it): it skips the
/// signature check for that call.
/// <https://ai.google.dev/gemini-api/docs/thought-signatures> (FAQ) and the Vertex AI page
/// <https://cloud.google.com/vertex-ai/generative-ai/docs/thought-signatures>.
pub const SKIP_THOUGHT_SIGNATURE: &str = "skip_thought_signature_validator";

/// Whether `model` signs its thoughts (Gemini 2.5 and later; 1.x and 2.0 do not think).
fn signs_thoughts(model: &str) -> bool {
    let bare = model.rsplit('/').next().unwrap_or(model);
    bare.starts_with("gemini-") && !bare.starts_with("gemini-1") && !bare.starts_with("gemini-2.0")
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

/// Whether Vertex streams this model's function-call arguments: Gemini 3 and later.
fn streams_call_arguments(model: &str) -> bool {
    let bare = model.rsplit('/').next().unwrap_or(model);
    bare.strip_prefix("gemini-")
        .map(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap_or("")
        })
        .and_then(|major| major.parse::<u32>().ok())
        .is_some_and(|major| major >= 3)
}

/// Canonical reasoning as `thinkingConfig`, by model generation:
///
/// - Gemini 3 takes `thinkingLevel`: `none` and `minimal` are `minimal` on Flash models and
///   `low` on others (Pro cannot stop thinking), `low` is `low`, `medium` is `medium` on Flash
///   and `high` on others, `high`, `xhigh` and `max` are `high`; an explicit budget with no
///   effort is sent as `thinkingBudget`; adaptive thinking with no effort leaves the default
///   (dynamic).
/// - Gemini 2.5 takes `thinkingBudget`: an explicit budget as asked; else `none` 0 (128 on
///   Pro, which cannot stop thinking), `minimal` 512, `low` 1,024, `medium` 8,192, `high`
///   24,576, `xhigh` and `max` 24,576 on Flash and 32,768 on Pro; adaptive `-1` (dynamic).
/// - `includeThoughts` is set while thinking is on; effort without thinking sets the level or
///   budget only. Models before 2.5 take no thinking configuration.
fn thinking_config(reasoning: &pb::ReasoningConfig, model: &str) -> Option<Value> {
    let bare = model.rsplit('/').next().unwrap_or(model);
    if bare.starts_with("gemini-1") || bare.starts_with("gemini-2.0") {
        return None;
    }
    let flash = bare.contains("flash");
    let effort = reasoning.effort.as_str();
    let mut thinking = Map::new();
    let budget = if bare.starts_with("gemini-3") {
        let level = match effort {
            "none" | "minimal" if flash => Some("minimal"),
            "none" | "minimal" | "low" => Some("low"),
            "medium" if flash => Some("medium"),
            "medium" | "high" | "xhigh" | "max" => Some("high"),
            _ => None,
        };
        if let Some(level) = level {
            thinking.insert("thinkingLevel".into(), json!(level));
        }
        if level.is_none() && !reasoning.adaptive {
            reasoning.budget_tokens.map(i64::from)
        } else {
            None
        }
    } else {
        match (effort, reasoning.budget_tokens) {
            ("" | "max" | "xhigh" | "high" | "medium" | "low" | "minimal", Some(budget))
                if !reasoning.adaptive || effort.is_empty() =>
            {
                Some(i64::from(budget))
            }
            ("none", _) => Some(if flash { 0 } else { 128 }),
            ("minimal", _) => Some(512),
            ("low", _) => Some(1024),
            ("medium", _) => Some(8192),
            ("high", _) => Some(24576),
            ("xhigh" | "max", _) => Some(if flash { 24576 } else { 32768 }),
            _ if reasoning.adaptive => Some(-1),
            _ => None,
        }
    };
    if let Some(budget) = budget {
        thinking.insert("thinkingBudget".into(), json!(budget));
    }
    if reasoning.enabled && effort != "none" {
        thinking.insert("includeThoughts".into(), json!(true));
    }
    (!thinking.is_empty()).then_some(Value::Object(thinking))
}

/// Builds the upstream request for `model`.
pub fn build_request(
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
