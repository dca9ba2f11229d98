//! Whole Responses objects: rendering a canonical answer as one for a client, and parsing an
//! upstream's (OpenAI's, Azure's) into canonical form. The item and object builders here are
//! shared with the stream renderer, whose `response.completed` repeats the whole object.

use std::collections::BTreeMap;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::{
    PROVIDER, REDACTED_PREFIX, ResponseContext, THOUGHT_SIGNATURE_PREFIX, namespaced,
    split_namespace,
};
use crate::canonical::pb::{self, FinishReason, content_part::Part};
use crate::error::WireError;
use crate::json::{str_of, u64_of};

/// The response id when the provider gave none (Bedrock answers carry no id).
const FALLBACK_ID: &str = "resp_keyroute";

/// A Responses id for a canonical one: an upstream's `resp_` id is kept, anything else is
/// prefixed (and reduced to id-safe characters).
pub(super) fn response_id(id: &str) -> String {
    if id.starts_with("resp_") {
        return id.to_owned();
    }
    if id.is_empty() {
        return FALLBACK_ID.to_owned();
    }
    let safe: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("resp_{safe}")
}

/// The id of the `index`th output item of kind `prefix` (`msg`, `rs`, `fc`) in response `id`.
pub(super) fn item_id(prefix: &str, response_id: &str, index: usize) -> String {
    let base = response_id.strip_prefix("resp_").unwrap_or(response_id);
    format!("{prefix}_{base}_{index}")
}

/// How a finish reason ends a Responses object: its `status`, and the
/// `incomplete_details.reason` when it is `incomplete`.
pub(super) fn status_of(reason: FinishReason) -> (&'static str, Option<&'static str>) {
    match reason {
        FinishReason::Length => ("incomplete", Some("max_output_tokens")),
        FinishReason::ContentFilter => ("incomplete", Some("content_filter")),
        FinishReason::Error => ("failed", None),
        _ => ("completed", None),
    }
}

/// The `error.code` a failed response carries for a canonical error. Clients act on a few
/// codes (Codex: `context_length_exceeded`, `insufficient_quota`, `rate_limit_exceeded` with
/// its "try again in" delay), so those pass through or are derived from the status.
pub(super) fn failure_code(status: u32, error_type: &str) -> String {
    match error_type {
        "insufficient_quota"
        | "context_length_exceeded"
        | "usage_not_included"
        | "invalid_prompt" => error_type.to_owned(),
        _ => match status {
            429 => "rate_limit_exceeded".to_owned(),
            0 | 500..=599 => "server_error".to_owned(),
            _ if !error_type.is_empty() => error_type.to_owned(),
            _ => "invalid_prompt".to_owned(),
        },
    }
}

/// Canonical usage as a Responses `usage` object (`input_tokens` already includes cached).
pub(super) fn usage_json(usage: &pb::Usage) -> Value {
    json!({
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {
            "cached_tokens": usage.cache_read_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
        },
        "output_tokens": usage.output_tokens,
        "output_tokens_details": { "reasoning_tokens": usage.reasoning_tokens },
        "total_tokens": usage.total_tokens.max(usage.input_tokens + usage.output_tokens),
    })
}

/// A Responses `usage` object to canonical (the sum saturates: counts are the upstream's).
pub(super) fn usage_of(usage: &Value) -> pb::Usage {
    let input = u64_of(usage, "input_tokens");
    let output = u64_of(usage, "output_tokens");
    let detail = |pointer: &str| {
        usage
            .pointer(pointer)
            .and_then(Value::as_u64)
            .unwrap_or_default()
    };
    pb::Usage {
        input_tokens: input,
        output_tokens: output,
        cache_read_tokens: detail("/input_tokens_details/cached_tokens"),
        cache_write_tokens: detail("/input_tokens_details/cache_write_tokens"),
        reasoning_tokens: detail("/output_tokens_details/reasoning_tokens"),
        total_tokens: usage
            .get("total_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(input.saturating_add(output)),
        cache_write_1h_tokens: 0,
    }
}

/// What every rendering of one response repeats.
#[derive(Debug, Clone, Default)]
pub(super) struct Head {
    pub id: String,
    pub model: String,
    pub created: i64,
}

/// How a response object ends.
#[derive(Debug, Clone, Copy)]
pub(super) struct Outcome<'a> {
    pub status: &'a str,
    pub incomplete: Option<&'a str>,
    /// `(code, message)` of a failed response.
    pub error: Option<(&'a str, &'a str)>,
}

impl Outcome<'_> {
    pub const IN_PROGRESS: Outcome<'static> = Outcome {
        status: "in_progress",
        incomplete: None,
        error: None,
    };
}

/// The request's echo fields, each written once: every response object of an answer repeats
/// them (a streamed one three times), and a coding agent's `tools` alone are tens of KB.
#[derive(Debug, Clone, Default)]
pub(super) struct Echo(Vec<(String, Box<RawValue>)>);

impl Echo {
    pub fn of(context: &ResponseContext) -> Self {
        Self::written(&context.echo, context.tools_json.clone())
    }

    /// From the echo's trees and the tools as sent (`tools_json`, taken whole: a renderer
    /// that owns its context gives it up rather than copying it).
    pub fn written(echo: &serde_json::Map<String, Value>, tools_json: String) -> Self {
        let tools = (!tools_json.is_empty())
            .then(|| RawValue::from_string(tools_json).ok())
            .flatten();
        let trees = echo.iter().filter_map(|(key, value)| {
            if key == "tools" && tools.is_some() {
                return None;
            }
            // Writing a tree into memory cannot fail.
            Some((key.clone(), serde_json::value::to_raw_value(value).ok()?))
        });
        let mut written: Vec<_> = trees.collect();
        if let Some(tools) = tools {
            written.push(("tools".to_owned(), tools));
        }
        Self(written)
    }

    fn get(&self, key: &str) -> Option<&RawValue> {
        self.0
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| &**value)
    }
}

/// A field of a response object: computed here, or one of the request's, already written.
enum Field<'a> {
    Value(Value),
    Written(&'a RawValue),
}

impl Serialize for Field<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Value(value) => value.serialize(serializer),
            Field::Written(raw) => raw.serialize(serializer),
        }
    }
}

/// A whole Response object, its keys in the order a `Map` keeps them.
pub(super) struct ResponseObject<'a>(BTreeMap<&'a str, Field<'a>>);

impl Serialize for ResponseObject<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// A whole Response object: the computed fields, OpenAI's defaults for the required fields
/// the request did not set, and the request's echo fields.
pub(super) fn response_object<'a>(
    head: &Head,
    outcome: Outcome<'_>,
    output: Vec<Value>,
    usage: Option<&pb::Usage>,
    echo: &'a Echo,
) -> ResponseObject<'a> {
    let mut object = BTreeMap::new();
    object.insert("parallel_tool_calls", Field::Value(Value::Bool(true)));
    object.insert("tool_choice", Field::Value(Value::String("auto".into())));
    object.insert("tools", Field::Value(Value::Array(Vec::new())));
    for (key, value) in &echo.0 {
        object.insert(key.as_str(), Field::Written(value));
    }
    let model = match (head.model.as_str(), echo.get("model")) {
        ("", Some(model)) => Field::Written(model),
        (model, _) => Field::Value(Value::String(model.to_owned())),
    };
    let computed = [
        ("id", Value::String(head.id.clone())),
        ("object", Value::String("response".into())),
        ("created_at", Value::from(head.created)),
        ("status", Value::String(outcome.status.into())),
        (
            "error",
            match outcome.error {
                Some((code, message)) => json!({ "code": code, "message": message }),
                None => Value::Null,
            },
        ),
        (
            "incomplete_details",
            match outcome.incomplete {
                Some(reason) => json!({ "reason": reason }),
                None => Value::Null,
            },
        ),
        ("output", Value::Array(output)),
        ("usage", usage.map(usage_json).unwrap_or(Value::Null)),
    ];
    for (key, value) in computed {
        object.insert(key, Field::Value(value));
    }
    object.insert("model", model);
    ResponseObject(object)
}

/// A reasoning item; `encrypted` is set only when it is to be sent.
pub(super) fn reasoning_item(id: &str, text: &str, encrypted: Option<String>) -> Value {
    let summary = if text.is_empty() {
        Vec::new()
    } else {
        vec![json!({ "type": "summary_text", "text": text })]
    };
    let mut item = json!({ "id": id, "type": "reasoning", "summary": summary });
    if let Some(encrypted) = encrypted {
        item["encrypted_content"] = Value::String(encrypted);
    }
    item
}

/// What a canonical reasoning part sends as `encrypted_content`, when the client asked for it.
pub(super) fn encrypted_of(
    signature: &str,
    redacted: &str,
    context: &ResponseContext,
) -> Option<String> {
    if !context.encrypted_reasoning {
        return None;
    }
    if !redacted.is_empty() {
        return Some(format!("{REDACTED_PREFIX}{redacted}"));
    }
    (!signature.is_empty()).then(|| signature.to_owned())
}

/// The reasoning item that carries a Gemini thought signature to the function call after it;
/// sent whatever `include` says, since the next turn needs it.
pub(super) fn signature_item(id: &str, signature: &str) -> Value {
    reasoning_item(
        id,
        "",
        Some(format!("{THOUGHT_SIGNATURE_PREFIX}{signature}")),
    )
}

/// One `output_text` or `refusal` content part.
pub(super) fn content_part(text: &str, refusal: bool) -> Value {
    if refusal {
        json!({ "type": "refusal", "refusal": text })
    } else {
        json!({ "type": "output_text", "text": text, "annotations": [], "logprobs": [] })
    }
}

pub(super) fn message_item(id: &str, status: &str, content: Vec<Value>) -> Value {
    json!({ "id": id, "type": "message", "status": status, "role": "assistant", "content": content })
}

/// A function call item, its canonical name split back into `namespace` and `name`.
pub(super) fn function_item(
    id: &str,
    call_id: &str,
    name: &str,
    arguments: &str,
    status: &str,
    context: &ResponseContext,
) -> Value {
    let (namespace, function) = split_namespace(name, &context.namespaces);
    let mut item = json!({
        "id": id,
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": function,
        "arguments": arguments,
    });
    if let Some(namespace) = namespace {
        item["namespace"] = Value::String(namespace.to_owned());
    }
    item
}

/// Renders a canonical response as a Responses object for a client. Only choice 0 exists in
/// the Responses API; other choices are dropped.
pub fn render_response(response: &pb::ChatResponse, context: &ResponseContext) -> Vec<u8> {
    let head = Head {
        id: response_id(&response.id),
        model: response.model.clone(),
        created: response.created,
    };
    let choice = response
        .choices
        .iter()
        .find(|c| c.index == 0)
        .or(response.choices.first());
    let parts = choice
        .and_then(|c| c.message.as_ref())
        .map(|m| m.content.as_slice())
        .unwrap_or_default();
    let mut output: Vec<Value> = Vec::new();
    let mut message: Vec<Value> = Vec::new();
    let flush = |message: &mut Vec<Value>, output: &mut Vec<Value>| {
        if !message.is_empty() {
            let id = item_id("msg", &head.id, output.len());
            output.push(message_item(&id, "completed", std::mem::take(message)));
        }
    };
    for part in parts {
        match &part.part {
            Some(Part::Text(text)) if !text.is_empty() => {
                message.push(content_part(text, part.refusal));
            }
            Some(Part::Reasoning(reasoning)) => {
                flush(&mut message, &mut output);
                let id = match reasoning.id.as_str() {
                    "" => item_id("rs", &head.id, output.len()),
                    id => id.to_owned(),
                };
                let encrypted = encrypted_of(&reasoning.signature, &reasoning.redacted, context);
                output.push(reasoning_item(&id, &reasoning.text, encrypted));
            }
            Some(Part::ToolCall(call)) => {
                flush(&mut message, &mut output);
                if !part.thought_signature.is_empty() {
                    let id = item_id("rs", &head.id, output.len());
                    output.push(signature_item(&id, &part.thought_signature));
                }
                let id = item_id("fc", &head.id, output.len());
                let call_id = match call.id.as_str() {
                    "" => item_id("call", &head.id, output.len()),
                    call_id => call_id.to_owned(),
                };
                output.push(function_item(
                    &id,
                    &call_id,
                    &call.name,
                    &call.arguments_json,
                    "completed",
                    context,
                ));
            }
            _ => {}
        }
    }
    flush(&mut message, &mut output);
    let reason = choice
        .and_then(|c| FinishReason::try_from(c.finish_reason).ok())
        .unwrap_or(FinishReason::Stop);
    let (status, incomplete) = status_of(reason);
    if incomplete.is_some() {
        // The item the model was writing when it stopped.
        if let Some(last) = output
            .last_mut()
            .filter(|item| item.get("status").is_some())
        {
            last["status"] = Value::String("incomplete".into());
        }
    }
    let outcome = Outcome {
        status,
        incomplete,
        error: (status == "failed").then_some(("server_error", "the model stopped with an error")),
    };
    let echo = Echo::of(context);
    let object = response_object(&head, outcome, output, response.usage.as_ref(), &echo);
    // Writing JSON into memory cannot fail.
    serde_json::to_vec(&object).unwrap_or_default()
}

/// The canonical error for a Responses `error` object (`code`, `message`, and `type` when the
/// stream's `error` event nests it), classified by the OpenAI error parser.
pub(super) fn error_of(error: &Value) -> WireError {
    let code = str_of(error, "code");
    let status = match code {
        "rate_limit_exceeded" | "insufficient_quota" => 429,
        "context_length_exceeded"
        | "invalid_prompt"
        | "bio_policy"
        | "data_residency_mismatch"
        | "misalignment_policy_violation" => 400,
        code if code.starts_with("invalid_")
            || code.starts_with("image_")
            || code.ends_with("_image_file") =>
        {
            400
        }
        _ => 500,
    };
    let body = json!({ "error": {
        "message": str_of(error, "message"),
        "type": match str_of(error, "type") { "" => code, kind => kind },
        "code": code,
    }});
    crate::openai::parse_error(status, body.to_string().as_bytes())
}

/// The finish reason a finished Responses object stands for.
pub(super) fn finish_of(response: &Value, calls: bool) -> (FinishReason, String) {
    let status = str_of(response, "status");
    let reason = response
        .pointer("/incomplete_details/reason")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match status {
        "incomplete" => {
            let canonical = match reason {
                "content_filter" => FinishReason::ContentFilter,
                _ => FinishReason::Length,
            };
            let native = if reason.is_empty() { status } else { reason };
            (canonical, native.to_owned())
        }
        "failed" | "cancelled" => (FinishReason::Error, status.to_owned()),
        _ if calls => (FinishReason::ToolCalls, status.to_owned()),
        _ => (FinishReason::Stop, status.to_owned()),
    }
}

/// The text of a reasoning item: its summaries (or, from open-weight models, its reasoning
/// text) joined by blank lines.
pub(super) fn reasoning_text(item: &Value) -> String {
    let texts = |key: &str| -> Vec<&str> {
        item.get(key)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|part| str_of(part, "text"))
            .filter(|text| !text.is_empty())
            .collect()
    };
    let summary = texts("summary");
    if summary.is_empty() {
        texts("content").join("\n\n")
    } else {
        summary.join("\n\n")
    }
}

/// The canonical name of a function call item: its `namespace` flattened in.
pub(super) fn call_name(item: &Value) -> String {
    namespaced(str_of(item, "namespace"), str_of(item, "name"))
}

/// Parses an upstream's non-streaming Responses answer (any status). A `failed` response
/// with an error is an error, so the router may try another key; hosted-tool items
/// (`web_search_call`...) are skipped.
pub fn parse_response(status: u16, body: &[u8]) -> Result<pb::ChatResponse, WireError> {
    if !(200..300).contains(&status) {
        return Err(crate::openai::parse_error(status, body));
    }
    let value: Value = serde_json::from_slice(body).map_err(|error| {
        WireError::malformed(PROVIDER, format!("response is not JSON: {error}"))
    })?;
    if let Some(error) = value.get("error").filter(|e| e.is_object()) {
        return Err(error_of(error));
    }
    let items = value
        .get("output")
        .and_then(Value::as_array)
        .ok_or_else(|| WireError::malformed(PROVIDER, "response has no output"))?;
    let mut content = Vec::new();
    let mut calls = false;
    for item in items {
        match str_of(item, "type") {
            "reasoning" => content.push(pb::ContentPart {
                part: Some(Part::Reasoning(pb::Reasoning {
                    text: reasoning_text(item),
                    signature: str_of(item, "encrypted_content").to_owned(),
                    redacted: String::new(),
                    id: str_of(item, "id").to_owned(),
                })),
                ..Default::default()
            }),
            "message" => {
                for part in item
                    .get("content")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                {
                    let (text, refusal) = match str_of(part, "type") {
                        "output_text" => (str_of(part, "text"), false),
                        "refusal" => (str_of(part, "refusal"), true),
                        _ => continue,
                    };
                    content.push(pb::ContentPart {
                        part: Some(Part::Text(text.to_owned())),
                        refusal,
                        ..Default::default()
                    });
                }
            }
            "function_call" => {
                calls = true;
                content.push(pb::ContentPart {
                    part: Some(Part::ToolCall(pb::ToolCall {
                        id: str_of(item, "call_id").to_owned(),
                        name: call_name(item),
                        arguments_json: str_of(item, "arguments").to_owned(),
                    })),
                    ..Default::default()
                });
            }
            _ => {}
        }
    }
    let (finish, native) = finish_of(&value, calls);
    Ok(pb::ChatResponse {
        id: str_of(&value, "id").to_owned(),
        model: str_of(&value, "model").to_owned(),
        choices: vec![pb::Choice {
            index: 0,
            message: Some(pb::Message {
                role: pb::Role::Assistant as i32,
                content,
                name: String::new(),
            }),
            finish_reason: finish as i32,
            stop_sequence: String::new(),
            native_finish_reason: native,
        }],
        usage: value.get("usage").filter(|u| u.is_object()).map(usage_of),
        served_by: None,
        provider_extras_json: String::new(),
        created: created_of(&value),
    })
}

/// `created_at`, which OpenAI sends as an integer and its SDK types as a float.
pub(super) fn created_of(response: &Value) -> i64 {
    match response.get("created_at") {
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .unwrap_or_default(),
        _ => 0,
    }
}

#[cfg(test)]
#[path = "response_tests.rs"]
mod tests;
