//! A client's `POST /v1/responses` body read into the canonical chat, with every fault named
//! by the field at fault. Fields keyroute does not model are not passed on (a Responses field
//! would break every other upstream); those a Response object repeats are kept for the echo.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::input::{invalid, read_input};
use super::input_body::{ResponsesBody, TextOr};
use super::tools::{Tools, read_tool_choice, read_tools};
use crate::canonical::pb;
use crate::ingress::IngressError;
use crate::json::str_of;
use crate::lenient;
use crate::responses::{ResponseContext, ResponsesClientRequest};

/// The `include` value that asks for reasoning items the client can send back.
const ENCRYPTED_REASONING: &str = "reasoning.encrypted_content";

/// The fields a Response object repeats, with OpenAI's defaults for those not sent.
fn echo_defaults() -> Map<String, Value> {
    let defaults = json!({
        "instructions": null,
        "tools": [],
        "tool_choice": "auto",
        "text": { "format": { "type": "text" } },
        "reasoning": { "effort": null, "summary": null },
        "metadata": {},
        "store": true,
        "parallel_tool_calls": true,
        "max_output_tokens": null,
        "max_tool_calls": null,
        "temperature": 1.0,
        "top_p": 1.0,
        "top_logprobs": 0,
        "previous_response_id": null,
        "truncation": "disabled",
        "user": null,
        "safety_identifier": null,
        "prompt_cache_key": null,
        "service_tier": "auto",
        "background": false,
    });
    match defaults {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn number(object: &Map<String, Value>, key: &str) -> Result<Option<f64>, IngressError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_f64()
            .map(Some)
            .ok_or_else(|| invalid(key, "must be a number")),
    }
}

fn boolean(object: &Map<String, Value>, key: &str) -> Result<Option<bool>, IngressError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_bool()
            .map(Some)
            .ok_or_else(|| invalid(key, "must be a boolean")),
    }
}

fn string<'v>(object: &'v Map<String, Value>, key: &str) -> Result<&'v str, IngressError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(""),
        Some(Value::String(value)) => Ok(value),
        Some(_) => Err(invalid(key, "must be a string")),
    }
}

/// Fields that need state or machinery keyroute does not have: refused, saying what to do.
fn refuse_stateful(object: &Map<String, Value>) -> Result<(), IngressError> {
    if boolean(object, "background")? == Some(true) {
        return Err(invalid(
            "background",
            "background responses are not supported: keyroute does not run responses after the \
             request ends; send the request without background (stream it for long answers)",
        ));
    }
    if object.get("conversation").is_some_and(|c| !c.is_null()) {
        return Err(invalid(
            "conversation",
            "conversations are not supported: keyroute keeps none and does not pass OpenAI's \
             on; send the conversation as input (with store: false), or continue a stored \
             response with previous_response_id and an OpenAI or Azure OpenAI key",
        ));
    }
    if object.get("prompt").is_some_and(|p| !p.is_null()) {
        return Err(invalid(
            "prompt",
            "stored prompt templates are not supported: they live at OpenAI and keyroute \
             cannot pass one on; send the instructions and input themselves",
        ));
    }
    Ok(())
}

fn read_text_format(text: Option<&Value>) -> Result<Option<pb::ResponseFormat>, IngressError> {
    let format = match text {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(text)) => match text.get("format") {
            None | Some(Value::Null) => return Ok(None),
            Some(format @ Value::Object(_)) => format,
            Some(_) => return Err(invalid("text.format", "must be an object")),
        },
        Some(_) => return Err(invalid("text", "must be an object")),
    };
    let kind = |kind: pb::ResponseFormatType| pb::ResponseFormat {
        r#type: kind as i32,
        ..Default::default()
    };
    match str_of(format, "type") {
        "text" => Ok(Some(kind(pb::ResponseFormatType::Text))),
        "json_object" => Ok(Some(kind(pb::ResponseFormatType::JsonObject))),
        "json_schema" => {
            let name = match format.get("name") {
                Some(Value::String(name)) if !name.is_empty() => name,
                _ => return Err(invalid("text.format.name", "is required")),
            };
            let schema = match format.get("schema") {
                Some(schema @ Value::Object(_)) => crate::ingress::json_text(schema),
                Some(_) => {
                    return Err(invalid(
                        "text.format.schema",
                        "must be a JSON Schema object",
                    ));
                }
                None => return Err(invalid("text.format.schema", "is required")),
            };
            let strict = match format.get("strict") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(strict)) => *strict,
                Some(_) => return Err(invalid("text.format.strict", "must be a boolean")),
            };
            Ok(Some(pb::ResponseFormat {
                r#type: pb::ResponseFormatType::JsonSchema as i32,
                name: name.clone(),
                description: str_of(format, "description").to_owned(),
                schema_json: schema,
                strict,
            }))
        }
        "" => Err(invalid("text.format.type", "is required")),
        _ => Err(invalid(
            "text.format.type",
            "must be text, json_object or json_schema",
        )),
    }
}

/// `reasoning`: the effort as the canonical reasoning config, and the summary asked for.
fn read_reasoning(
    object: &Map<String, Value>,
) -> Result<(Option<pb::ReasoningConfig>, String), IngressError> {
    let reasoning = match object.get("reasoning") {
        None | Some(Value::Null) => return Ok((None, String::new())),
        Some(Value::Object(reasoning)) => reasoning,
        Some(_) => return Err(invalid("reasoning", "must be an object")),
    };
    let field = |key: &str| match reasoning.get(key) {
        None | Some(Value::Null) => Ok(""),
        Some(Value::String(value)) => Ok(value.as_str()),
        Some(_) => Err(invalid(&format!("reasoning.{key}"), "must be a string")),
    };
    let effort = field("effort")?;
    let summary = match field("summary")? {
        "" => field("generate_summary")?,
        summary => summary,
    };
    // `none` asks for no reasoning; every other value (minimal ... xhigh) for some.
    let config = (!effort.is_empty()).then(|| pb::ReasoningConfig {
        enabled: effort != "none",
        effort: effort.to_owned(),
        ..Default::default()
    });
    Ok((config, summary.to_owned()))
}

fn read_metadata(object: &Map<String, Value>) -> Result<HashMap<String, String>, IngressError> {
    match object.get("metadata") {
        None | Some(Value::Null) => Ok(HashMap::new()),
        Some(Value::Object(entries)) => entries
            .iter()
            .map(|(key, value)| match value {
                Value::String(value) => Ok((key.clone(), value.clone())),
                _ => Err(invalid(&format!("metadata.{key}"), "must be a string")),
            })
            .collect(),
        Some(_) => Err(invalid("metadata", "must be an object of strings")),
    }
}

fn read_include(object: &Map<String, Value>) -> Result<Vec<String>, IngressError> {
    match object.get("include") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(values)) => values
            .iter()
            .enumerate()
            .map(|(i, value)| {
                value
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| invalid(&format!("include[{i}]"), "must be a string"))
            })
            .collect(),
        Some(_) => Err(invalid("include", "must be an array of strings")),
    }
}

fn echo(object: &mut Map<String, Value>) -> Map<String, Value> {
    let mut echo = echo_defaults();
    for (key, default) in echo.iter_mut() {
        if let Some(sent) = object.remove(key).filter(|sent| !sent.is_null()) {
            *default = sent;
        }
    }
    if let Some(text) = echo.get_mut("text").and_then(Value::as_object_mut) {
        text.entry("format")
            .or_insert_with(|| json!({ "type": "text" }));
    }
    echo
}

/// Parses a client's `POST /v1/responses` body into the canonical chat, how it wants the
/// answer delivered, and what the answer must repeat. `input` and `tools` are read typed
/// ([`ResponsesBody`]); the other fields, small, as trees.
pub fn parse_request(body: &[u8]) -> Result<ResponsesClientRequest, IngressError> {
    let body = lenient::parse::<ResponsesBody<'_>>(body)
        .map_err(|error| IngressError::not_json(&error))?;
    let Some(ResponsesBody { input, tools, rest }) = body.into_object() else {
        return Err(invalid("", "the body must be a JSON object"));
    };
    // Absent and null read alike.
    let tools = tools.text().filter(|text| *text != "null");
    let mut read = translate(
        rest,
        || match input {
            TextOr::Null => None,
            input => Some(read_input(input)),
        },
        || read_tools(tools),
    )?;
    // The answer repeats the tools as the client sent them, on one line.
    if let Some(text) = tools {
        read.context.tools_json = crate::json_out::compact(text);
    }
    Ok(read)
}

/// The request from its fields other than `input` and `tools` (`body`), with `input` read by
/// `read_input` (`None` when absent or null) and `tools` by `read_tools`, each at the point
/// where its faults are named.
pub(super) fn translate(
    mut body: Map<String, Value>,
    read_input: impl FnOnce() -> Option<Result<Vec<pb::Message>, IngressError>>,
    read_tools: impl FnOnce() -> Result<Tools, IngressError>,
) -> Result<ResponsesClientRequest, IngressError> {
    let object = &body;
    let model = match object.get("model") {
        Some(Value::String(model)) if !model.is_empty() => model,
        _ => return Err(invalid("model", "is required")),
    };
    refuse_stateful(object)?;
    let previous_response_id = string(object, "previous_response_id")?;

    let mut messages = Vec::new();
    let instructions = string(object, "instructions")?;
    if !instructions.is_empty() {
        messages.push(pb::Message {
            role: pb::Role::System as i32,
            content: vec![pb::ContentPart {
                part: Some(pb::content_part::Part::Text(instructions.to_owned())),
                ..Default::default()
            }],
            name: String::new(),
        });
    }
    match read_input() {
        Some(input) => messages.extend(input?),
        None if previous_response_id.is_empty() => return Err(invalid("input", "is required")),
        None => {}
    }

    let mut tools = read_tools()?;
    let tool_choice = read_tool_choice(object.get("tool_choice"), &mut tools)?;
    let (reasoning, reasoning_summary) = read_reasoning(object)?;
    let max_tokens = match object.get("max_output_tokens") {
        None | Some(Value::Null) => None,
        Some(value) => Some(value.as_u64().map_or_else(
            || {
                Err(invalid(
                    "max_output_tokens",
                    "must be a non-negative integer",
                ))
            },
            |max| Ok(u32::try_from(max).unwrap_or(u32::MAX)),
        )?),
    };
    let include = read_include(object)?;
    let end_user = match string(object, "safety_identifier")? {
        "" => string(object, "user")?,
        id => id,
    };
    let options = pb::ResponsesOptions {
        store: boolean(object, "store")?,
        previous_response_id: previous_response_id.to_owned(),
        include: include.clone(),
        reasoning_summary,
        prompt_cache_key: string(object, "prompt_cache_key")?.to_owned(),
        metadata: read_metadata(object)?,
        hosted_tools_json: if tools.hosted.is_empty() {
            String::new()
        } else {
            crate::ingress::json_text(&Value::Array(tools.hosted))
        },
    };
    let request = pb::ChatRequest {
        model: model.clone(),
        messages,
        tools: tools.functions,
        tool_choice,
        parallel_tool_calls: boolean(object, "parallel_tool_calls")?,
        response_format: read_text_format(object.get("text"))?,
        sampling: Some(pb::Sampling {
            temperature: number(object, "temperature")?,
            top_p: number(object, "top_p")?,
            max_tokens,
            ..Default::default()
        }),
        reasoning,
        end_user: end_user.to_owned(),
        responses: Some(options),
        ..Default::default()
    };
    let stream = boolean(object, "stream")?.unwrap_or(false);
    let encrypted_reasoning = include.iter().any(|value| value == ENCRYPTED_REASONING);
    Ok(ResponsesClientRequest {
        request,
        stream,
        context: ResponseContext {
            // Last, so that what the answer repeats (the tools, the instructions) is moved
            // out of the body rather than copied.
            echo: echo(&mut body),
            tools_json: String::new(),
            namespaces: tools.namespaces,
            encrypted_reasoning,
        },
    })
}
