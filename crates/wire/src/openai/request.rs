//! Chat Completions requests: parsing a client's (ingress) and building a provider's (egress).

use serde_json::{Map, Value, json};

use super::messages::{MessageStyle, provider_options, read_messages, write_messages};
use crate::canonical::pb;
use crate::error::WireError;
use crate::http::HttpRequest;
use crate::ingress::IngressError;
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
    let stop = match object.get("stop") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(stop)) => vec![stop.clone()],
        Some(Value::Array(stops)) => stops
            .iter()
            .map(|s| {
                s.as_str().map(str::to_owned).ok_or_else(|| {
                    IngressError::invalid("stop", "must be a string or an array of strings")
                })
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(IngressError::invalid(
                "stop",
                "must be a string or an array of strings",
            ));
        }
    };
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
        reasoning: (!effort.is_empty()).then(|| pb::ReasoningConfig {
            enabled: true,
            budget_tokens: None,
            effort: effort.to_owned(),
        }),
        choice_count: integer(object, "n")?.map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)),
        end_user: str_of(&value, "user").to_owned(),
        provider_options_json: provider_options(object, KNOWN),
        anthropic_beta: Vec::new(),
    };
    Ok(ClientRequest {
        request,
        stream: boolean(object, "stream")?.unwrap_or(false),
        include_usage: value
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

/// How a host deviates from OpenAI's own API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quirks {
    /// Accepts the `developer` role (else it is sent as `system`).
    pub developer_role: bool,
    /// Reads `max_completion_tokens` (else `max_tokens`).
    pub max_completion_tokens: bool,
    /// Accepts `stream_options.include_usage`.
    pub stream_usage: bool,
    /// Mistral: `random_seed` instead of `seed`, and tool-call ids of 9 letters and digits.
    pub mistral: bool,
}

impl Quirks {
    pub const OPENAI: Self = Self {
        developer_role: true,
        max_completion_tokens: true,
        stream_usage: true,
        mistral: false,
    };
    pub const COMPATIBLE: Self = Self {
        developer_role: false,
        max_completion_tokens: false,
        stream_usage: true,
        mistral: false,
    };
    pub const MISTRAL: Self = Self {
        developer_role: false,
        max_completion_tokens: false,
        stream_usage: false,
        mistral: true,
    };
}

/// Where an OpenAI-format request goes.
#[derive(Debug, Clone, Copy)]
pub enum Endpoint<'a> {
    /// `{base}/chat/completions`, with the base URL including any `/v1`.
    ChatCompletions,
    /// Azure OpenAI: the deployment in the path, `api-version` in the query.
    Azure {
        deployment: &'a str,
        api_version: &'a str,
    },
}

/// The default Azure `api-version` when the credential names none.
pub const AZURE_API_VERSION: &str = "2024-10-21";

/// Mistral requires tool-call ids of exactly 9 letters and digits: derive one, stably, from
/// any id, so a call and its result still match.
pub fn mistral_tool_id(id: &str) -> String {
    if id.len() == 9 && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return id.to_owned();
    }
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    // FNV-1a: stable across runs and processes.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (0..9)
        .map(|i| ALPHABET[((hash >> (i * 6)) % ALPHABET.len() as u64) as usize] as char)
        .collect()
}

/// Builds the upstream request for `model` (the provider's own model name).
pub fn build_request(
    request: &pb::ChatRequest,
    model: &str,
    stream: bool,
    endpoint: Endpoint<'_>,
    quirks: Quirks,
) -> Result<HttpRequest, WireError> {
    let mut messages = request.messages.clone();
    if quirks.mistral {
        for message in &mut messages {
            for part in &mut message.content {
                match &mut part.part {
                    Some(pb::content_part::Part::ToolCall(call)) => {
                        call.id = mistral_tool_id(&call.id)
                    }
                    Some(pb::content_part::Part::ToolResult(result)) => {
                        result.tool_call_id = mistral_tool_id(&result.tool_call_id)
                    }
                    _ => {}
                }
            }
        }
    }
    let style = MessageStyle {
        developer_role: quirks.developer_role,
        reasoning_content: false,
    };
    let mut body = Map::new();
    if matches!(endpoint, Endpoint::ChatCompletions) {
        body.insert("model".into(), json!(model));
    }
    body.insert(
        "messages".into(),
        Value::Array(write_messages(&messages, style)),
    );
    if stream {
        body.insert("stream".into(), json!(true));
        if quirks.stream_usage {
            body.insert("stream_options".into(), json!({ "include_usage": true }));
        }
    }
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|tool| {
                let mut function = json!({ "name": tool.name });
                if !tool.description.is_empty() {
                    function["description"] = json!(tool.description);
                }
                if !tool.parameters_json.is_empty() {
                    function["parameters"] =
                        serde_json::from_str(&tool.parameters_json).unwrap_or(Value::Null);
                }
                if tool.strict {
                    function["strict"] = json!(true);
                }
                json!({ "type": "function", "function": function })
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = &request.tool_choice {
        let value = match choice.mode() {
            pb::ToolChoiceMode::Auto => Some(json!("auto")),
            pb::ToolChoiceMode::None => Some(json!("none")),
            // Mistral names it `any`.
            pb::ToolChoiceMode::Required => {
                Some(json!(if quirks.mistral { "any" } else { "required" }))
            }
            pb::ToolChoiceMode::Tool => {
                Some(json!({ "type": "function", "function": { "name": choice.name } }))
            }
            pb::ToolChoiceMode::Unspecified => None,
        };
        if let Some(value) = value {
            body.insert("tool_choice".into(), value);
        }
    }
    if let Some(parallel) = request.parallel_tool_calls {
        body.insert("parallel_tool_calls".into(), json!(parallel));
    }
    if let Some(format) = &request.response_format {
        let value = match format.r#type() {
            pb::ResponseFormatType::Text => Some(json!({ "type": "text" })),
            pb::ResponseFormatType::JsonObject => Some(json!({ "type": "json_object" })),
            pb::ResponseFormatType::JsonSchema => {
                let mut schema = json!({ "name": if format.name.is_empty() { "response" } else { format.name.as_str() } });
                if !format.description.is_empty() {
                    schema["description"] = json!(format.description);
                }
                schema["schema"] = serde_json::from_str(&format.schema_json).unwrap_or(json!({}));
                if format.strict {
                    schema["strict"] = json!(true);
                }
                Some(json!({ "type": "json_schema", "json_schema": schema }))
            }
            pb::ResponseFormatType::Unspecified => None,
        };
        if let Some(value) = value {
            body.insert("response_format".into(), value);
        }
    }
    if let Some(sampling) = &request.sampling {
        if let Some(t) = sampling.temperature {
            body.insert("temperature".into(), json!(t));
        }
        if let Some(p) = sampling.top_p {
            body.insert("top_p".into(), json!(p));
        }
        if let Some(max) = sampling.max_tokens {
            let key = if quirks.max_completion_tokens {
                "max_completion_tokens"
            } else {
                "max_tokens"
            };
            body.insert(key.into(), json!(max));
        }
        if !sampling.stop.is_empty() {
            body.insert("stop".into(), json!(sampling.stop));
        }
        if let Some(seed) = sampling.seed {
            body.insert(
                if quirks.mistral {
                    "random_seed"
                } else {
                    "seed"
                }
                .into(),
                json!(seed),
            );
        }
        if let Some(p) = sampling.presence_penalty {
            body.insert("presence_penalty".into(), json!(p));
        }
        if let Some(p) = sampling.frequency_penalty {
            body.insert("frequency_penalty".into(), json!(p));
        }
    }
    if request.choice_count > 1 {
        body.insert("n".into(), json!(request.choice_count));
    }
    if !request.end_user.is_empty() && !quirks.mistral {
        body.insert("user".into(), json!(request.end_user));
    }
    if let Some(reasoning) = &request.reasoning
        && !reasoning.effort.is_empty()
    {
        body.insert("reasoning_effort".into(), json!(reasoning.effort));
    }
    merge_options(&mut body, &request.provider_options_json)?;
    let path = match endpoint {
        Endpoint::ChatCompletions => "/chat/completions".to_owned(),
        Endpoint::Azure {
            deployment,
            api_version,
        } => {
            let version = if api_version.is_empty() {
                AZURE_API_VERSION
            } else {
                api_version
            };
            format!("/openai/deployments/{deployment}/chat/completions?api-version={version}")
        }
    };
    Ok(HttpRequest::post_json(path, &Value::Object(body)))
}

/// Adds provider options the canonical request did not already set.
pub(crate) fn merge_options(body: &mut Map<String, Value>, options: &str) -> Result<(), WireError> {
    if options.is_empty() {
        return Ok(());
    }
    let Ok(Value::Object(options)) = serde_json::from_str::<Value>(options) else {
        return Err(WireError::from_status(
            "keyroute",
            400,
            "invalid_request_error",
            "provider options must be a JSON object",
        ));
    };
    for (key, value) in options {
        body.entry(key).or_insert(value);
    }
    Ok(())
}
