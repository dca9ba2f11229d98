//! Chat Completions requests to providers (egress), with each host's deviations.

use std::borrow::Cow;

use serde_json::{Map, Value, json};

use super::egress_body::{write_messages_into, write_tools_into};
use super::messages::{MessageStyle, write_messages};
use crate::canonical::pb;
use crate::error::WireError;
use crate::http::HttpRequest;

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
    /// Assistant turns carry their `reasoning_content` back (DeepSeek, Moonshot and MiMo
    /// thinking modes refuse a tool-call turn without it).
    pub reasoning_history: bool,
    /// Roles must alternate after the system messages (Perplexity): repeated roles merge.
    pub alternate_roles: bool,
    /// Accepts `stop` and `seed` (Perplexity does not).
    pub stop_and_seed: bool,
    /// `stop` is a single string (Z.ai).
    pub single_stop: bool,
}

impl Quirks {
    pub const OPENAI: Self = Self {
        developer_role: true,
        max_completion_tokens: true,
        ..Self::COMPATIBLE
    };
    pub const COMPATIBLE: Self = Self {
        developer_role: false,
        max_completion_tokens: false,
        stream_usage: true,
        mistral: false,
        reasoning_history: false,
        alternate_roles: false,
        stop_and_seed: true,
        single_stop: false,
    };
    pub const MISTRAL: Self = Self {
        stream_usage: false,
        mistral: true,
        ..Self::COMPATIBLE
    };
    /// DeepSeek, Moonshot, MiMo: thinking modes need reasoning sent back.
    pub const REASONING_HISTORY: Self = Self {
        reasoning_history: true,
        ..Self::COMPATIBLE
    };
    pub const PERPLEXITY: Self = Self {
        alternate_roles: true,
        stop_and_seed: false,
        ..Self::COMPATIBLE
    };
    pub const ZAI: Self = Self {
        single_stop: true,
        ..Self::COMPATIBLE
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

/// Canonical reasoning as `reasoning_effort`:
///
/// - an effort is sent as asked (`none`, `minimal`, `low`, `medium`, `high`, `xhigh`; values
///   keyroute does not know pass unchanged), except Anthropic's `max`, sent as `xhigh`;
/// - with no effort, a thinking budget picks one (up to 1,024 tokens `low`, up to 8,192
///   `medium`, more `high`); adaptive thinking or thinking without a budget leaves the
///   model's default;
/// - Mistral takes only `none` and `high`: `none` and `minimal` are `none`, the rest `high`;
/// - OpenAI's chat models without reasoning (`gpt-4*`, `gpt-3.5*`, `chatgpt-*`) refuse the
///   parameter, so it is not sent to them.
pub(crate) fn reasoning_effort(
    reasoning: &pb::ReasoningConfig,
    model: &str,
    quirks: Quirks,
) -> Option<String> {
    if !reasoning_model(model) {
        return None;
    }
    let effort = match reasoning.effort.as_str() {
        "" if !reasoning.enabled || reasoning.adaptive => return None,
        "" => match reasoning.budget_tokens? {
            0..=1024 => "low",
            1025..=8192 => "medium",
            _ => "high",
        },
        "max" => "xhigh",
        other => other,
    };
    if quirks.mistral {
        return Some(
            if matches!(effort, "none" | "minimal") {
                "none"
            } else {
                "high"
            }
            .to_owned(),
        );
    }
    Some(effort.to_owned())
}

/// Whether `model` takes reasoning parameters: OpenAI's chat models without reasoning
/// (`gpt-4*`, `gpt-3.5*`, `chatgpt-*`) refuse them.
pub(crate) fn reasoning_model(model: &str) -> bool {
    let bare = model.rsplit('/').next().unwrap_or(model);
    !["gpt-4", "gpt-3.5", "chatgpt-"]
        .iter()
        .any(|prefix| bare.starts_with(prefix))
}

/// Builds the upstream request for `model` (the provider's own model name).
pub fn build_request(
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
    // The conversation and the tools are most of an agent's turn: written straight into
    // bytes, not built as trees. Perplexity's merging still works on trees.
    let mut messages_json = Vec::with_capacity(crate::json_out::conversation_size(&messages));
    if quirks.alternate_roles {
        let merged = Value::Array(alternate(write_messages(&messages, style)));
        crate::json_out::value(&mut messages_json, &merged);
    } else {
        write_messages_into(&mut messages_json, &messages, style);
    }
    if stream {
        body.insert("stream".into(), json!(true));
        if quirks.stream_usage {
            body.insert("stream_options".into(), json!({ "include_usage": true }));
        }
    }
    let mut tools_json = Vec::new();
    if !request.tools.is_empty() {
        write_tools_into(&mut tools_json, &request.tools);
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
    // Written fields win over options of the same name (`object_of`).
    let mut large = vec![("messages", messages_json)];
    if !tools_json.is_empty() {
        large.push(("tools", tools_json));
    }
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
    Ok(HttpRequest::post_json_bytes(
        path,
        crate::json_out::object_of(&body, &large),
    ))
}

/// Merges consecutive messages of one role (text joined by a blank line), for hosts that
/// require strictly alternating turns.
pub(super) fn alternate(messages: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::with_capacity(messages.len());
    for message in messages {
        let mergeable = |m: &Value| {
            m["content"].is_string() && m.get("tool_calls").is_none() && m["role"] != "tool"
        };
        match out.last_mut() {
            Some(last)
                if last["role"] == message["role"] && mergeable(last) && mergeable(&message) =>
            {
                let joined = format!(
                    "{}\n\n{}",
                    last["content"].as_str().unwrap_or_default(),
                    message["content"].as_str().unwrap_or_default()
                );
                last["content"] = Value::String(joined);
            }
            _ => out.push(message),
        }
    }
    out
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
