//! Chat Completions requests from clients (ingress): parsed into canonical form, with every
//! fault named by the field at fault.

use serde_json::{Map, Value};

use super::messages::{provider_options, read_messages};
use crate::canonical::pb;
use crate::ingress::{IngressError, string_list};
use crate::json::str_of;

/// Top-level request fields keyroute models; anything else passes through as provider options.
const KNOWN: &[&str] = &[
    "model",
    "messages",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "n",
    "user",
    "reasoning_effort",
    "stream",
    "stream_options",
];

/// A client's request, canonical, with how it wants the answer delivered.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientRequest {
    pub request: pb::ChatRequest,
    pub stream: bool,
    /// `stream_options.include_usage`.
    pub include_usage: bool,
}

fn number(object: &Map<String, Value>, key: &str) -> Result<Option<f64>, IngressError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_f64()
            .map(Some)
            .ok_or_else(|| IngressError::invalid(key, "must be a number")),
    }
}

fn integer(object: &Map<String, Value>, key: &str) -> Result<Option<u64>, IngressError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_u64()
            .map(Some)
            .ok_or_else(|| IngressError::invalid(key, "must be a non-negative integer")),
    }
}

fn boolean(object: &Map<String, Value>, key: &str) -> Result<Option<bool>, IngressError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_bool()
            .map(Some)
            .ok_or_else(|| IngressError::invalid(key, "must be a boolean")),
    }
}

/// Parses a client's `POST /v1/chat/completions` body.
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
    let messages = read_messages(
        object
            .get("messages")
            .ok_or_else(|| IngressError::invalid("messages", "is required"))?,
    )?;

    let mut tools = Vec::new();
    for (i, tool) in object
        .get("tools")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let function = tool
            .get("function")
            .ok_or_else(|| IngressError::invalid(&format!("tools[{i}].function"), "is required"))?;
        let name = function
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| {
                IngressError::invalid(&format!("tools[{i}].function.name"), "is required")
            })?;
        tools.push(pb::Tool {
            name: name.to_owned(),
            description: str_of(function, "description").to_owned(),
            parameters_json: function
                .get("parameters")
                .map(Value::to_string)
                .unwrap_or_default(),
            strict: function
                .get("strict")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            cache: None,
            ..Default::default()
        });
    }
    let tool_choice = match object.get("tool_choice") {
        None | Some(Value::Null) => None,
        Some(Value::String(mode)) => Some(pb::ToolChoice {
            mode: match mode.as_str() {
                "auto" => pb::ToolChoiceMode::Auto,
                "none" => pb::ToolChoiceMode::None,
                "required" => pb::ToolChoiceMode::Required,
                _ => {
                    return Err(IngressError::invalid(
                        "tool_choice",
                        "must be none, auto, required or a function",
                    ));
                }
            } as i32,
            name: String::new(),
        }),
        Some(choice) => {
            let name = choice
                .pointer("/function/name")
                .and_then(Value::as_str)
                .ok_or_else(|| IngressError::invalid("tool_choice.function.name", "is required"))?;
            Some(pb::ToolChoice {
                mode: pb::ToolChoiceMode::Tool as i32,
                name: name.to_owned(),
            })
        }
    };
    let response_format = match object.get("response_format") {
        None | Some(Value::Null) => None,
        Some(format) => Some(match str_of(format, "type") {
            "text" => pb::ResponseFormat {
                r#type: pb::ResponseFormatType::Text as i32,
                ..Default::default()
            },
            "json_object" => pb::ResponseFormat {
                r#type: pb::ResponseFormatType::JsonObject as i32,
                ..Default::default()
            },
            "json_schema" => {
                let schema = format.get("json_schema").ok_or_else(|| {
                    IngressError::invalid("response_format.json_schema", "is required")
                })?;
                pb::ResponseFormat {
                    r#type: pb::ResponseFormatType::JsonSchema as i32,
                    name: str_of(schema, "name").to_owned(),
                    description: str_of(schema, "description").to_owned(),
                    schema_json: schema
                        .get("schema")
                        .map(Value::to_string)
                        .unwrap_or_default(),
                    strict: schema
                        .get("strict")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                }
            }
            _ => {
                return Err(IngressError::invalid(
                    "response_format.type",
                    "must be text, json_object or json_schema",
                ));
            }
        }),
    };
    let stop = string_list(object, "stop")?;
    let max_tokens = integer(object, "max_completion_tokens")?.or(integer(object, "max_tokens")?);
    let sampling = pb::Sampling {
        temperature: number(object, "temperature")?,
        top_p: number(object, "top_p")?,
        top_k: None,
        max_tokens: max_tokens.map(|m| u32::try_from(m).unwrap_or(u32::MAX)),
        stop,
        seed: match object.get("seed") {
            None | Some(Value::Null) => None,
            Some(seed) => Some(
                seed.as_i64()
                    .ok_or_else(|| IngressError::invalid("seed", "must be an integer"))?,
            ),
        },
        presence_penalty: number(object, "presence_penalty")?,
        frequency_penalty: number(object, "frequency_penalty")?,
    };
    let effort = str_of(&value, "reasoning_effort");
    let request = pb::ChatRequest {
        model: model.to_owned(),
        messages,
        tools,
        tool_choice,
        parallel_tool_calls: boolean(object, "parallel_tool_calls")?,
        response_format,
        sampling: Some(sampling),
        // `none` asks for no reasoning; every other value (minimal ... xhigh) for some.
        reasoning: (!effort.is_empty()).then(|| pb::ReasoningConfig {
            enabled: effort != "none",
            effort: effort.to_owned(),
            ..Default::default()
        }),
        choice_count: integer(object, "n")?.map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)),
        end_user: str_of(&value, "user").to_owned(),
        provider_options_json: provider_options(object, KNOWN),
        anthropic_beta: Vec::new(),
        fim: None,
        anthropic_options_json: String::new(),
        ..Default::default()
    };
    Ok(ClientRequest {
        request,
        stream: boolean(object, "stream")?.unwrap_or(false),
        // `get` twice, not `pointer`, which allocates each step of its path.
        include_usage: object
            .get("stream_options")
            .and_then(|options| options.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}
