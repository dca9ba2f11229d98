//! Chat Completions requests from clients (ingress): parsed into canonical form, with every
//! fault named by the field at fault.

use serde_json::Value;

use super::ingress_body::ChatBody;
use super::messages::read_messages;
use crate::canonical::pb;
use crate::ingress::{IngressError, number, string_list_of, tree};
use crate::json::str_of;
use crate::lenient::{self, Flag, Int, Uint};

/// A client's request, canonical, with how it wants the answer delivered.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientRequest {
    pub request: pb::ChatRequest,
    pub stream: bool,
    /// `stream_options.include_usage`.
    pub include_usage: bool,
}

fn integer(key: &str, field: Option<Uint>) -> Result<Option<u64>, IngressError> {
    match field {
        None => Ok(None),
        Some(Uint(value)) => value
            .map(Some)
            .ok_or_else(|| IngressError::invalid(key, "must be a non-negative integer")),
    }
}

fn boolean(key: &str, field: Option<Flag>) -> Result<Option<bool>, IngressError> {
    match field {
        None => Ok(None),
        Some(Flag(value)) => value
            .map(Some)
            .ok_or_else(|| IngressError::invalid(key, "must be a boolean")),
    }
}

/// Parses a client's `POST /v1/chat/completions` body. Faults are named in a fixed order
/// (model, messages, tools, ...), whatever the order of the fields in the body.
pub fn parse_request(body: &[u8]) -> Result<ClientRequest, IngressError> {
    let body =
        lenient::parse::<ChatBody<'_>>(body).map_err(|error| IngressError::not_json(&error))?;
    let Some(body) = body.into_object() else {
        return Err(IngressError::invalid("", "the body must be a JSON object"));
    };
    let model = body
        .model
        .get()
        .filter(|m| !m.is_empty())
        .ok_or_else(|| IngressError::invalid("model", "is required"))?
        .to_owned();
    let messages = read_messages(body.messages)?;

    let mut tools = Vec::with_capacity(body.tools.items().len());
    for (i, tool) in body.tools.items().iter().enumerate() {
        if !tool.function.is_present() {
            return Err(IngressError::invalid(
                &format!("tools[{i}].function"),
                "is required",
            ));
        }
        let function = &tool.function;
        let name = function
            .name
            .get()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| {
                IngressError::invalid(&format!("tools[{i}].function.name"), "is required")
            })?;
        tools.push(pb::Tool {
            name: name.to_owned(),
            description: function.description.as_str().to_owned(),
            parameters_json: function.parameters.text().unwrap_or_default().to_owned(),
            strict: function.strict.is_true(),
            cache: None,
            ..Default::default()
        });
    }
    let tool_choice = tool_choice(tree(body.tool_choice.as_ref()))?;
    let response_format = response_format(tree(body.response_format.as_ref()))?;
    let stop = string_list_of("stop", tree(body.stop.as_ref()))?;
    let max_tokens = integer("max_completion_tokens", body.max_completion_tokens)?
        .or(integer("max_tokens", body.max_tokens)?);
    let sampling = pb::Sampling {
        temperature: number("temperature", body.temperature)?,
        top_p: number("top_p", body.top_p)?,
        top_k: None,
        max_tokens: max_tokens.map(|m| u32::try_from(m).unwrap_or(u32::MAX)),
        stop,
        seed: match body.seed {
            None => None,
            Some(Int(seed)) => {
                Some(seed.ok_or_else(|| IngressError::invalid("seed", "must be an integer"))?)
            }
        },
        presence_penalty: number("presence_penalty", body.presence_penalty)?,
        frequency_penalty: number("frequency_penalty", body.frequency_penalty)?,
    };
    let effort = body.reasoning_effort.as_str();
    let request = pb::ChatRequest {
        model,
        messages,
        tools,
        tool_choice,
        parallel_tool_calls: boolean("parallel_tool_calls", body.parallel_tool_calls)?,
        response_format,
        sampling: Some(sampling),
        // `none` asks for no reasoning; every other value (minimal ... xhigh) for some.
        reasoning: (!effort.is_empty()).then(|| pb::ReasoningConfig {
            enabled: effort != "none",
            effort: effort.to_owned(),
            ..Default::default()
        }),
        choice_count: integer("n", body.n)?.map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)),
        end_user: body.user.as_str().to_owned(),
        provider_options_json: if body.extras.is_empty() {
            String::new()
        } else {
            crate::ingress::json_text(&Value::Object(body.extras))
        },
        anthropic_beta: Vec::new(),
        fim: None,
        anthropic_options_json: String::new(),
        ..Default::default()
    };
    Ok(ClientRequest {
        request,
        stream: boolean("stream", body.stream)?.unwrap_or(false),
        include_usage: body.stream_options.include_usage.is_true(),
    })
}

/// `tool_choice`: a mode, or the function the model must call.
pub(super) fn tool_choice(choice: Option<&Value>) -> Result<Option<pb::ToolChoice>, IngressError> {
    Ok(match choice {
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
    })
}

/// `response_format`: text, a JSON object, or a JSON schema.
pub(super) fn response_format(
    format: Option<&Value>,
) -> Result<Option<pb::ResponseFormat>, IngressError> {
    let Some(format) = format.filter(|format| !format.is_null()) else {
        return Ok(None);
    };
    Ok(Some(match str_of(format, "type") {
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
                    .map(crate::ingress::json_text)
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
    }))
}
