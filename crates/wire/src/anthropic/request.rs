//! Messages API requests to providers (egress): directly, or in the Bedrock and Vertex
//! flavours (model in the URL, `anthropic_version` in the body).

use serde_json::{Map, Value, json};

use super::egress_body::{write_conversation, write_tools};
use crate::canonical::pb;
use crate::error::WireError;
use crate::http::HttpRequest;
use crate::openai::merge_options;

/// The `anthropic-version` header every direct request carries.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// `max_tokens` is required by Anthropic; this is sent when the caller set none.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

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

/// Canonical reasoning as Anthropic `thinking` and `output_config.effort`:
///
/// - adaptive stays adaptive (with its `display`); otherwise thinking is `enabled` with the
///   budget asked for, at least 1,024 (1,024 when none was);
/// - effort `none` turns thinking off (`disabled`) and sends no effort; `minimal` is `low`
///   and `xhigh` is `max` (Anthropic's levels are low, medium, high and max).
pub(crate) fn thinking_of(
    reasoning: &pb::ReasoningConfig,
) -> (Option<Value>, Option<&'static str>) {
    let effort = match reasoning.effort.as_str() {
        "minimal" | "low" => Some("low"),
        "medium" => Some("medium"),
        "high" => Some("high"),
        "xhigh" | "max" => Some("max"),
        _ => None,
    };
    if reasoning.effort == "none" {
        return (Some(json!({ "type": "disabled" })), None);
    }
    if !reasoning.enabled {
        return (None, effort);
    }
    let mut thinking = if reasoning.adaptive {
        json!({ "type": "adaptive" })
    } else {
        let budget = reasoning.budget_tokens.unwrap_or(1024).max(1024);
        json!({ "type": "enabled", "budget_tokens": budget })
    };
    if !reasoning.display.is_empty() {
        thinking["display"] = json!(reasoning.display);
    }
    (Some(thinking), effort)
}

/// Adds the Anthropic-only options: fields the canonical request did not set are set, and
/// server tools (an array under `tools`) are returned, to join the tool list.
fn merge_anthropic_options(
    body: &mut Map<String, Value>,
    options: &str,
) -> Result<Option<Vec<Value>>, WireError> {
    if options.is_empty() {
        return Ok(None);
    }
    let Ok(Value::Object(mut options)) = serde_json::from_str::<Value>(options) else {
        return Err(WireError::from_status(
            "keyroute",
            400,
            "invalid_request_error",
            "anthropic options must be a JSON object",
        ));
    };
    let server_tools = match options.remove("tools") {
        Some(Value::Array(server_tools)) => Some(server_tools),
        _ => None,
    };
    for (key, value) in options {
        body.entry(key).or_insert(value);
    }
    Ok(server_tools)
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
    // Instructions after the conversation began stay in place where the client asked for the
    // mid-conversation-system beta; otherwise they join the top-level system prompt.
    let in_place = request
        .anthropic_beta
        .iter()
        .any(|flag| flag == crate::anthropic::MID_CONVERSATION_SYSTEM_BETA);
    // The conversation, system prompt and tools are most of an agent's turn: written
    // straight into bytes, not built as trees.
    let conversation = write_conversation(&request.messages, in_place)?;
    let mut body = Map::new();
    if matches!(flavor, Flavor::Direct) {
        body.insert("model".into(), json!(model));
    }
    let unset = pb::Sampling::default();
    let sampling = request.sampling.as_ref().unwrap_or(&unset);
    body.insert(
        "max_tokens".into(),
        json!(sampling.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)),
    );
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
    let server_tools = merge_anthropic_options(&mut body, &request.anthropic_options_json)?;
    merge_options(&mut body, &request.provider_options_json)?;
    // Written fields win over options of the same name (`object_of`).
    let mut large = vec![("messages", conversation.messages)];
    if let Some(system) = conversation.system {
        large.push(("system", system));
    }
    if !request.tools.is_empty() || server_tools.is_some() {
        large.push((
            "tools",
            write_tools(&request.tools, server_tools.as_deref().unwrap_or_default()),
        ));
    }
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
    let mut http = HttpRequest::post_json_bytes(path, crate::json_out::object_of(&body, &large));
    http.headers.append(&mut headers);
    Ok(http)
}
