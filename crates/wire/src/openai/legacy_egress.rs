//! The tree-building Chat Completions egress that `egress_body` replaced, kept as the
//! reference: for any canonical request, the new one must write the same bytes (or, where a
//! tool's parameters came non-compact, the same JSON).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::borrow::Cow;

use serde_json::{Map, Value, json};

use super::messages::{MessageStyle, write_messages};
use super::request::{
    AZURE_API_VERSION, Endpoint, Quirks, alternate, merge_options, mistral_tool_id,
    reasoning_effort,
};
use crate::canonical::pb;
use crate::error::WireError;
use crate::http::HttpRequest;

/// Builds the upstream request for `model` (the provider's own model name).
pub(super) fn legacy_build_request(
    request: &pb::ChatRequest,
    model: &str,
    stream: bool,
    endpoint: Endpoint<'_>,
    quirks: Quirks,
) -> Result<HttpRequest, WireError> {
    // Copied only where a host's rules rewrite them: the conversation may be long.
    let mut messages = Cow::Borrowed(request.messages.as_slice());
    if quirks.mistral {
        for message in messages.to_mut() {
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
    // The legacy deepseek-reasoner refuses reasoning in history; its successors require it.
    let reasoning_content = quirks.reasoning_history && model != "deepseek-reasoner";
    let style = MessageStyle {
        developer_role: quirks.developer_role,
        reasoning_content,
    };
    let mut body = Map::new();
    if matches!(endpoint, Endpoint::ChatCompletions) {
        body.insert("model".into(), json!(model));
    }
    if quirks.alternate_roles {
        // System messages go only at the top there: later ones become user text in place
        // (the rule Gemini and Bedrock follow), merged with their neighbours below.
        let mut begun = false;
        for message in messages.to_mut() {
            let system = matches!(message.role(), pb::Role::System | pb::Role::Developer);
            if system && begun {
                let text = crate::bedrock::mid_conversation_text(&message.content);
                *message = pb::Message {
                    role: pb::Role::User as i32,
                    content: vec![pb::ContentPart {
                        part: Some(pb::content_part::Part::Text(text)),
                        ..Default::default()
                    }],
                    name: String::new(),
                };
            }
            begun |= !system;
        }
    }
    let mut written = write_messages(&messages, style);
    if quirks.alternate_roles {
        written = alternate(written);
    }
    body.insert("messages".into(), Value::Array(written));
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
        if !sampling.stop.is_empty() && quirks.stop_and_seed {
            let stop = if quirks.single_stop {
                json!(sampling.stop[0])
            } else {
                json!(sampling.stop)
            };
            body.insert("stop".into(), stop);
        }
        if let Some(seed) = sampling.seed.filter(|_| quirks.stop_and_seed) {
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
    if let Some(effort) = request
        .reasoning
        .as_ref()
        .and_then(|reasoning| reasoning_effort(reasoning, model, quirks))
    {
        body.insert("reasoning_effort".into(), json!(effort));
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
