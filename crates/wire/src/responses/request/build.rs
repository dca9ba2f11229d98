//! Canonical chats as Responses requests, for OpenAI (`{base}/responses`) and Azure OpenAI's
//! v1 surface (`{endpoint}/openai/v1/responses`, the deployment named as `model`).
//!
//! Not sent, because the Responses API has no such field: `stop`, `seed`, `top_k`, the
//! penalties and `n`. Reasoning goes back as reasoning items only when it has an OpenAI item
//! id (and, with `store: false`, its `encrypted_content`): keyroute's carriers (Anthropic
//! redacted thinking, Gemini thought signatures) are for the other upstreams.

use serde_json::{Map, Value, json};

use super::egress_body::{write_input_into, write_tools_into};
use super::tools::hosted_entries;
use crate::canonical::pb::{self, content_part::Part};
use crate::error::WireError;
use crate::http::HttpRequest;
use crate::openai::{Quirks, merge_options, reasoning_effort, reasoning_model};
use crate::responses::split_namespace;

/// Where a Responses request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// OpenAI: `{base}/responses`, the base URL including `/v1`.
    OpenAi,
    /// Azure OpenAI's v1 API: `{endpoint}/openai/v1/responses`, no `api-version`; `model`
    /// names the deployment.
    Azure,
}

pub(super) fn bad_request(message: String) -> WireError {
    WireError::from_status("keyroute", 400, "invalid_request_error", message)
}

/// How history is written for this request.
pub(super) struct Style<'n> {
    pub namespaces: &'n [String],
    /// Reasoning without `encrypted_content` may be sent (by id): only where the upstream
    /// stores it; with `store: false` OpenAI refuses ids it did not keep.
    pub bare_reasoning: bool,
}

/// The leading system messages (text only) as `instructions`, and the messages after them.
pub(super) fn split_instructions(messages: &[pb::Message]) -> (Vec<String>, &[pb::Message]) {
    let mut instructions = Vec::new();
    let mut rest = messages;
    while let Some((first, after)) = rest.split_first() {
        if first.role() != pb::Role::System {
            break;
        }
        let texts: Option<Vec<&str>> = first
            .content
            .iter()
            .map(|part| match &part.part {
                Some(Part::Text(text)) => Some(text.as_str()),
                _ => None,
            })
            .collect();
        let Some(texts) = texts else { break };
        instructions.push(texts.concat());
        rest = after;
    }
    (instructions, rest)
}

pub(super) fn tool_choice(choice: &pb::ToolChoice, namespaces: &[String]) -> Option<Value> {
    match choice.mode() {
        pb::ToolChoiceMode::Auto => Some(json!("auto")),
        pb::ToolChoiceMode::None => Some(json!("none")),
        pb::ToolChoiceMode::Required => Some(json!("required")),
        pb::ToolChoiceMode::Tool => {
            let (_, name) = split_namespace(&choice.name, namespaces);
            Some(json!({ "type": "function", "name": name }))
        }
        pb::ToolChoiceMode::Unspecified => None,
    }
}

pub(super) fn text_format(format: &pb::ResponseFormat) -> Option<Value> {
    match format.r#type() {
        pb::ResponseFormatType::Text => Some(json!({ "type": "text" })),
        pb::ResponseFormatType::JsonObject => Some(json!({ "type": "json_object" })),
        pb::ResponseFormatType::JsonSchema => {
            let name = if format.name.is_empty() {
                "response"
            } else {
                format.name.as_str()
            };
            let mut schema = json!({ "type": "json_schema", "name": name });
            if !format.description.is_empty() {
                schema["description"] = json!(format.description);
            }
            schema["schema"] = serde_json::from_str(&format.schema_json).unwrap_or(json!({}));
            if format.strict {
                schema["strict"] = json!(true);
            }
            Some(schema)
        }
        pb::ResponseFormatType::Unspecified => None,
    }
}

/// Builds the Responses request for `model` (OpenAI's model name, or Azure's deployment).
pub fn build_request(
    request: &pb::ChatRequest,
    model: &str,
    stream: bool,
    endpoint: Endpoint,
) -> Result<HttpRequest, WireError> {
    let hosted = hosted_entries(request).map_err(bad_request)?;
    let unset = pb::ResponsesOptions::default();
    let options = request.responses.as_ref().unwrap_or(&unset);
    let mut namespaces: Vec<String> = Vec::new();
    for tool in &request.tools {
        if !tool.namespace.is_empty() && !namespaces.contains(&tool.namespace) {
            namespaces.push(tool.namespace.clone());
        }
    }

    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    let (instructions, messages) = split_instructions(&request.messages);
    if !instructions.is_empty() {
        body.insert("instructions".into(), json!(instructions.join("\n\n")));
    }
    // The conversation is most of an agent's turn: written straight into bytes.
    let mut input = Vec::with_capacity(crate::json_out::conversation_size(messages));
    write_input_into(
        &mut input,
        messages,
        &Style {
            namespaces: &namespaces,
            bare_reasoning: options.store != Some(false),
        },
    );
    if stream {
        body.insert("stream".into(), json!(true));
    }
    let tools = write_tools_into(request, &hosted);
    if let Some(choice) = request
        .tool_choice
        .as_ref()
        .and_then(|choice| tool_choice(choice, &namespaces))
    {
        body.insert("tool_choice".into(), choice);
    }
    if let Some(parallel) = request.parallel_tool_calls {
        body.insert("parallel_tool_calls".into(), json!(parallel));
    }
    if let Some(format) = request.response_format.as_ref().and_then(text_format) {
        body.insert("text".into(), json!({ "format": format }));
    }
    let mut reasoning = Map::new();
    if let Some(effort) = request
        .reasoning
        .as_ref()
        .and_then(|reasoning| reasoning_effort(reasoning, model, Quirks::OPENAI))
    {
        reasoning.insert("effort".into(), json!(effort));
    }
    if !options.reasoning_summary.is_empty() && reasoning_model(model) {
        reasoning.insert("summary".into(), json!(options.reasoning_summary));
    }
    if !reasoning.is_empty() {
        body.insert("reasoning".into(), Value::Object(reasoning));
    }
    if let Some(sampling) = &request.sampling {
        if let Some(max) = sampling.max_tokens {
            body.insert("max_output_tokens".into(), json!(max));
        }
        if let Some(t) = sampling.temperature {
            body.insert("temperature".into(), json!(t));
        }
        if let Some(p) = sampling.top_p {
            body.insert("top_p".into(), json!(p));
        }
    }
    if !request.end_user.is_empty() {
        body.insert("safety_identifier".into(), json!(request.end_user));
    }
    if let Some(store) = options.store {
        body.insert("store".into(), json!(store));
    }
    if !options.include.is_empty() {
        body.insert("include".into(), json!(options.include));
    }
    if !options.previous_response_id.is_empty() {
        body.insert(
            "previous_response_id".into(),
            json!(options.previous_response_id),
        );
    }
    if !options.prompt_cache_key.is_empty() {
        body.insert("prompt_cache_key".into(), json!(options.prompt_cache_key));
    }
    if !options.metadata.is_empty() {
        let metadata: Map<String, Value> = options
            .metadata
            .iter()
            .map(|(key, value)| (key.clone(), json!(value)))
            .collect();
        body.insert("metadata".into(), Value::Object(metadata));
    }
    merge_options(&mut body, &request.provider_options_json)?;
    // Written fields win over options of the same name (`object_of`).
    let mut large = vec![("input", input)];
    if let Some(tools) = tools {
        large.push(("tools", tools));
    }
    let path = match endpoint {
        Endpoint::OpenAi => "/responses",
        Endpoint::Azure => "/openai/v1/responses",
    };
    Ok(HttpRequest::post_json_bytes(
        path.to_owned(),
        crate::json_out::object_of(&body, &large),
    ))
}
