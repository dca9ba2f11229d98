//! `generateContent` requests for AI Studio and Vertex AI.

use serde_json::{Map, Value, json};

use super::egress_body::{write_conversation, write_tools};
use crate::canonical::pb;
use crate::error::WireError;
use crate::http::HttpRequest;
use crate::openai::merge_options;

/// Which Gemini endpoint a request goes to.
#[derive(Debug, Clone, Copy)]
pub enum Flavor<'a> {
    /// Google AI Studio (`generativelanguage.googleapis.com`, `x-goog-api-key`).
    AiStudio,
    /// Vertex AI for a project and location (bearer access token).
    Vertex { project: &'a str, location: &'a str },
}

pub(super) fn media_type_of(image: &pb::Image, url: &str) -> String {
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

/// Google's documented placeholder for a function call whose thought signature is unknown
/// (history written by another model or client, a client that dropped it): it skips the
/// signature check for that call.
/// <https://ai.google.dev/gemini-api/docs/thought-signatures> (FAQ) and the Vertex AI page
/// <https://cloud.google.com/vertex-ai/generative-ai/docs/thought-signatures>.
pub const SKIP_THOUGHT_SIGNATURE: &str = "skip_thought_signature_validator";

/// Whether `model` signs its thoughts (Gemini 2.5 and later; 1.x and 2.0 do not think).
pub(super) fn signs_thoughts(model: &str) -> bool {
    let bare = model.rsplit('/').next().unwrap_or(model);
    bare.starts_with("gemini-") && !bare.starts_with("gemini-1") && !bare.starts_with("gemini-2.0")
}

/// Whether Vertex streams this model's function-call arguments: Gemini 3 and later.
pub(super) fn streams_call_arguments(model: &str) -> bool {
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
pub(super) fn thinking_config(reasoning: &pb::ReasoningConfig, model: &str) -> Option<Value> {
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
    // The contents, system instruction and tools are most of an agent's turn: written
    // straight into bytes, not built as trees.
    let conversation = write_conversation(&request.messages, signs_thoughts(model));
    let mut body = Map::new();
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
    // Written fields win over options of the same name (`object_of`).
    let mut large = vec![("contents", conversation.contents)];
    if let Some(system) = conversation.system {
        let mut instruction = Vec::with_capacity(system.len() + 10);
        instruction.extend_from_slice(b"{\"parts\":");
        instruction.extend_from_slice(&system);
        instruction.push(b'}');
        large.push(("systemInstruction", instruction));
    }
    if !request.tools.is_empty() {
        large.push(("tools", write_tools(&request.tools)));
    }
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
    Ok(HttpRequest::post_json_bytes(
        path,
        crate::json_out::object_of(&body, &large),
    ))
}
