//! The tree-building Responses egress that `egress_body` replaced (its `input` items), kept
//! as the reference: for any canonical request, the new one must write the same bytes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine;
use serde_json::{Map, Value, json};

use super::build::{Endpoint, Style, bad_request, split_instructions, text_format, tool_choice};
use super::tools::hosted_entries;
use crate::canonical::pb::{self, content_part::Part};
use crate::error::WireError;
use crate::http::HttpRequest;
use crate::json::str_of;
use crate::openai::{Quirks, merge_options, reasoning_effort, reasoning_model};
use crate::responses::split_namespace;

fn image(image: &pb::Image) -> Value {
    let url = match &image.source {
        Some(pb::image::Source::Url(url)) => url.clone(),
        Some(pb::image::Source::Data(data)) => format!(
            "data:{};base64,{}",
            image.media_type,
            base64::engine::general_purpose::STANDARD.encode(data)
        ),
        None => String::new(),
    };
    let detail = if image.detail.is_empty() {
        "auto"
    } else {
        image.detail.as_str()
    };
    json!({ "type": "input_image", "image_url": url, "detail": detail })
}

/// Text and images as input content parts.
fn input_parts(parts: &[pb::ContentPart]) -> Vec<Value> {
    parts
        .iter()
        .filter_map(|part| match &part.part {
            Some(Part::Text(text)) => Some(json!({ "type": "input_text", "text": text })),
            Some(Part::Image(picture)) => Some(image(picture)),
            _ => None,
        })
        .collect()
}

/// A function call output: a string when it is all text, else input parts.
fn output(parts: &[pb::ContentPart]) -> Value {
    if parts.iter().all(|p| matches!(p.part, Some(Part::Text(_)))) {
        let text: String = parts
            .iter()
            .filter_map(|p| match &p.part {
                Some(Part::Text(text)) => Some(text.as_str()),
                _ => None,
            })
            .collect();
        return Value::String(text);
    }
    Value::Array(input_parts(parts))
}

/// An assistant message's parts as items, in order: reasoning, messages, function calls.
fn assistant_items(message: &pb::Message, style: &Style<'_>, items: &mut Vec<Value>) {
    let mut texts: Vec<Value> = Vec::new();
    let flush = |texts: &mut Vec<Value>, items: &mut Vec<Value>| {
        if !texts.is_empty() {
            items.push(
                json!({ "type": "message", "role": "assistant", "content": std::mem::take(texts) }),
            );
        }
    };
    for part in &message.content {
        match &part.part {
            Some(Part::Text(text)) if part.refusal => {
                texts.push(json!({ "type": "refusal", "refusal": text }));
            }
            Some(Part::Text(text)) => {
                texts.push(json!({ "type": "output_text", "text": text, "annotations": [] }));
            }
            Some(Part::Reasoning(reasoning)) => {
                flush(&mut texts, items);
                // OpenAI reasoning has an item id; redacted data is Anthropic's.
                if reasoning.id.is_empty()
                    || !reasoning.redacted.is_empty()
                    || (reasoning.signature.is_empty() && !style.bare_reasoning)
                {
                    continue;
                }
                let summary: Vec<Value> = if reasoning.text.is_empty() {
                    Vec::new()
                } else {
                    vec![json!({ "type": "summary_text", "text": reasoning.text })]
                };
                let mut item =
                    json!({ "type": "reasoning", "id": reasoning.id, "summary": summary });
                if !reasoning.signature.is_empty() {
                    item["encrypted_content"] = json!(reasoning.signature);
                }
                items.push(item);
            }
            Some(Part::ToolCall(call)) => {
                flush(&mut texts, items);
                let (namespace, name) = split_namespace(&call.name, style.namespaces);
                let arguments = if call.arguments_json.is_empty() {
                    "{}"
                } else {
                    call.arguments_json.as_str()
                };
                let mut item = json!({ "type": "function_call", "call_id": call.id, "name": name, "arguments": arguments });
                if let Some(namespace) = namespace {
                    item["namespace"] = json!(namespace);
                }
                items.push(item);
            }
            _ => {}
        }
    }
    flush(&mut texts, items);
}

fn write_input(messages: &[pb::Message], style: &Style<'_>) -> Vec<Value> {
    let mut items = Vec::with_capacity(messages.len());
    for message in messages {
        let role = match message.role() {
            pb::Role::Assistant => {
                assistant_items(message, style, &mut items);
                continue;
            }
            pb::Role::Tool => {
                for part in &message.content {
                    if let Some(Part::ToolResult(result)) = &part.part {
                        items.push(json!({ "type": "function_call_output", "call_id": result.tool_call_id, "output": output(&result.content) }));
                    }
                }
                continue;
            }
            pb::Role::System => "system",
            pb::Role::Developer => "developer",
            pb::Role::User | pb::Role::Unspecified => "user",
        };
        items.push(
            json!({ "type": "message", "role": role, "content": input_parts(&message.content) }),
        );
    }
    items
}

/// Builds the Responses request for `model` (OpenAI's model name, or Azure's deployment).
pub(super) fn legacy_build_request(
    request: &pb::ChatRequest,
    model: &str,
    stream: bool,
    endpoint: Endpoint,
) -> Result<HttpRequest, WireError> {
    let hosted = hosted_entries(request).map_err(bad_request)?;
    let options = request.responses.clone().unwrap_or_default();
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
    body.insert(
        "input".into(),
        Value::Array(write_input(
            messages,
            &Style {
                namespaces: &namespaces,
                bare_reasoning: options.store != Some(false),
            },
        )),
    );
    if stream {
        body.insert("stream".into(), json!(true));
    }
    let tools = write_tools(request, &hosted);
    if !tools.is_empty() {
        body.insert("tools".into(), Value::Array(tools));
    }
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
    let path = match endpoint {
        Endpoint::OpenAi => "/responses",
        Endpoint::Azure => "/openai/v1/responses",
    };
    Ok(HttpRequest::post_json(
        path.to_owned(),
        &Value::Object(body),
    ))
}

fn function(tool: &pb::Tool, name: &str) -> Value {
    let mut function = json!({ "type": "function", "name": name });
    if !tool.description.is_empty() {
        function["description"] = json!(tool.description);
    }
    function["parameters"] = serde_json::from_str(&tool.parameters_json)
        .unwrap_or_else(|_| json!({ "type": "object", "properties": {} }));
    // Responses defaults to strict: canonical tools say which they are.
    function["strict"] = json!(tool.strict);
    function
}

/// Function tools, namespaced ones regrouped into their namespace (at its first member's
/// place), then the hosted tools.
fn write_tools(request: &pb::ChatRequest, hosted: &[Value]) -> Vec<Value> {
    let mut tools: Vec<Value> = Vec::new();
    for tool in &request.tools {
        if tool.namespace.is_empty() {
            tools.push(function(tool, &tool.name));
            continue;
        }
        let name = tool
            .name
            .strip_prefix(tool.namespace.as_str())
            .and_then(|rest| rest.strip_prefix(crate::responses::NAMESPACE_SEPARATOR))
            .unwrap_or(&tool.name);
        let member = function(tool, name);
        let group = tools
            .iter_mut()
            .find(|t| t["type"] == "namespace" && t["name"] == tool.namespace.as_str());
        match group.and_then(|group| group["tools"].as_array_mut()) {
            Some(members) => members.push(member),
            None => {
                let description = hosted
                    .iter()
                    .find(|h| {
                        str_of(h, "type") == "namespace" && str_of(h, "name") == tool.namespace
                    })
                    .map(|shell| str_of(shell, "description"))
                    .filter(|d| !d.is_empty())
                    .unwrap_or(&tool.namespace);
                tools.push(json!({ "type": "namespace", "name": tool.namespace, "description": description, "tools": [member] }));
            }
        }
    }
    tools.extend(
        hosted
            .iter()
            .filter(|tool| str_of(tool, "type") != "namespace")
            .cloned(),
    );
    tools
}
