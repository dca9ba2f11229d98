//! Converse requests and responses, and signing them for Bedrock.

use serde_json::{Map, Value, json};

use super::egress_body::{write_conversation, write_tool_config};
use super::shapes::Answer;
use super::{PROVIDER, encode_model_id, finish_reason, status_of};
use crate::canonical::pb::{self, content_part::Part};
use crate::error::{ErrorKind, WireError};
use crate::http::HttpRequest;
use crate::json::str_of;
use crate::lenient;
use crate::openai::merge_options;
use crate::sigv4::{self, Credentials, SigningParams, SigningRequest, SigningTime};

pub(super) fn invalid(message: impl Into<String>) -> WireError {
    WireError::from_status(PROVIDER, 400, "ValidationException", message)
}

/// Canonical reasoning as each Bedrock model family takes it, in
/// `additionalModelRequestFields`:
///
/// - Anthropic models: `thinking` and `output_config.effort` as the Messages API takes them
///   (adaptive, enabled with a budget, or disabled for effort `none`);
/// - Amazon Nova: `reasoningConfig` with `maxReasoningEffort` `low`, `medium` or `high`
///   (`minimal` is `low`, `xhigh` and `max` are `high`; `none` leaves reasoning off);
/// - OpenAI's open-weight models: `reasoning_effort` `low`, `medium` or `high`, likewise;
/// - others: `thinking` enabled with the budget (at least 1,024) while thinking is on.
pub(super) fn reasoning_fields(
    reasoning: &pb::ReasoningConfig,
    model: &str,
    additional: &mut Map<String, Value>,
) {
    let three = match reasoning.effort.as_str() {
        "minimal" | "low" => Some("low"),
        "medium" => Some("medium"),
        "high" | "xhigh" | "max" => Some("high"),
        "" if reasoning.enabled => Some("medium"),
        _ => None,
    };
    if model.contains("anthropic.") {
        let (thinking, effort) = crate::anthropic::thinking_of(reasoning);
        if let Some(thinking) = thinking {
            additional.insert("thinking".into(), thinking);
        }
        if let Some(effort) = effort {
            additional.insert("output_config".into(), json!({ "effort": effort }));
        }
    } else if model.contains("amazon.nova") {
        if let Some(effort) = three {
            additional.insert(
                "reasoningConfig".into(),
                json!({ "type": "enabled", "maxReasoningEffort": effort }),
            );
        }
    } else if model.contains("openai.") {
        if let Some(effort) = three {
            additional.insert("reasoning_effort".into(), json!(effort));
        }
    } else if reasoning.enabled && reasoning.effort != "none" {
        let budget = reasoning.budget_tokens.unwrap_or(1024).max(1024);
        additional.insert(
            "thinking".into(),
            json!({ "type": "enabled", "budget_tokens": budget }),
        );
    }
}

/// Builds a Converse (or ConverseStream) request for `model`.
pub fn build_request(
    request: &pb::ChatRequest,
    model: &str,
    stream: bool,
) -> Result<HttpRequest, WireError> {
    if request.choice_count > 1 {
        return Err(invalid(
            "bedrock returns one choice; n > 1 is not supported",
        ));
    }
    // The conversation, system prompt and tools are most of an agent's turn: written
    // straight into bytes, not built as trees.
    let conversation = write_conversation(&request.messages)?;
    let mut body = Map::new();
    let mut inference = Map::new();
    let mut additional = Map::new();
    if let Some(sampling) = &request.sampling {
        if let Some(v) = sampling.max_tokens {
            inference.insert("maxTokens".into(), json!(v));
        }
        if let Some(v) = sampling.temperature {
            inference.insert("temperature".into(), json!(v));
        }
        if let Some(v) = sampling.top_p {
            inference.insert("topP".into(), json!(v));
        }
        if !sampling.stop.is_empty() {
            inference.insert("stopSequences".into(), json!(sampling.stop));
        }
        if let Some(k) = sampling.top_k {
            additional.insert("top_k".into(), json!(k));
        }
    }
    if !inference.is_empty() {
        body.insert("inferenceConfig".into(), Value::Object(inference));
    }
    if let Some(reasoning) = &request.reasoning {
        reasoning_fields(reasoning, model, &mut additional);
    }
    if !additional.is_empty() {
        body.insert(
            "additionalModelRequestFields".into(),
            Value::Object(additional),
        );
    }
    merge_options(&mut body, &request.provider_options_json)?;
    // Written fields win over options of the same name (`object_of`).
    let mut large = vec![("messages", conversation.messages)];
    if let Some(system) = conversation.system {
        large.push(("system", system));
    }
    if !request.tools.is_empty() {
        large.push(("toolConfig", write_tool_config(request)));
    }
    let operation = if stream {
        "converse-stream"
    } else {
        "converse"
    };
    Ok(HttpRequest::post_json_bytes(
        format!("/model/{}/{operation}", encode_model_id(model)),
        crate::json_out::object_of(&body, &large),
    ))
}

/// Parses a Converse response (any status). `error_type` is the `x-amzn-ErrorType` header.
pub fn parse_response(
    status: u16,
    error_type: Option<&str>,
    body: &[u8],
) -> Result<pb::ChatResponse, WireError> {
    if !(200..300).contains(&status) {
        return Err(parse_error(status, error_type, body));
    }
    let answer = lenient::parse::<Answer<'_>>(body).map_err(|error| {
        WireError::malformed(PROVIDER, format!("response is not JSON: {error}"))
    })?;
    let blocks = answer
        .output
        .message
        .content
        .0
        .as_deref()
        .ok_or_else(|| WireError::malformed(PROVIDER, "response has no output message"))?;
    let mut content = Vec::with_capacity(blocks.len());
    for block in blocks {
        let part = if let Some(text) = block.text.get() {
            Part::Text(text.to_owned())
        } else if block.tool_use.is_present() {
            let tool = &block.tool_use;
            Part::ToolCall(pb::ToolCall {
                id: tool.tool_use_id.as_str().to_owned(),
                name: tool.name.as_str().to_owned(),
                arguments_json: tool
                    .input
                    .0
                    .as_ref()
                    .map(Value::to_string)
                    .unwrap_or_else(|| "{}".into()),
            })
        } else if block.reasoning_content.is_present() {
            let reasoning = &block.reasoning_content;
            Part::Reasoning(pb::Reasoning {
                text: reasoning.reasoning_text.text.as_str().to_owned(),
                signature: reasoning.reasoning_text.signature.as_str().to_owned(),
                redacted: reasoning.redacted_content.as_str().to_owned(),
                ..Default::default()
            })
        } else {
            continue;
        };
        content.push(pb::ContentPart {
            part: Some(part),
            ..Default::default()
        });
    }
    let native = answer.stop_reason.as_str();
    Ok(pb::ChatResponse {
        id: String::new(),
        model: String::new(),
        choices: vec![pb::Choice {
            index: 0,
            message: Some(pb::Message {
                role: pb::Role::Assistant as i32,
                content,
                name: String::new(),
            }),
            finish_reason: finish_reason(native) as i32,
            stop_sequence: String::new(),
            native_finish_reason: native.to_owned(),
        }],
        usage: answer.usage.is_present().then(|| answer.usage.canonical()),
        served_by: None,
        provider_extras_json: String::new(),
        created: 0,
    })
}

/// A Bedrock error: the type from `x-amzn-ErrorType` (or the body's `__type`), the message
/// from `message` or `Message`.
pub fn parse_error(status: u16, error_type: Option<&str>, body: &[u8]) -> WireError {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let kind = error_type
        .map(|t| t.split(':').next().unwrap_or(t))
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| str_of(&value, "__type"));
    let kind = kind.rsplit('#').next().unwrap_or(kind);
    let message = match (str_of(&value, "message"), str_of(&value, "Message")) {
        ("", "") => format!("upstream answered {status}"),
        ("", message) | (message, _) => message.to_owned(),
    };
    let status = if status == 0 { status_of(kind) } else { status };
    let mut classified = WireError::from_status(PROVIDER, status, kind, message);
    // Signature and credential problems come back as 400s but are the key's fault.
    if matches!(
        kind,
        "IncompleteSignature"
            | "InvalidSignatureException"
            | "UnrecognizedClientException"
            | "InvalidClientTokenId"
            | "ExpiredTokenException"
    ) {
        classified.kind = ErrorKind::Authentication;
        classified.retryable = true;
    }
    classified
}

/// Bedrock credentials as the vault stores them. `Debug` never prints a secret.
#[derive(Clone)]
pub enum Auth<'a> {
    SigV4(Credentials<'a>),
    /// A Bedrock API key, sent as a bearer token.
    ApiKey(&'a str),
}

impl std::fmt::Debug for Auth<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SigV4(credentials) => f.debug_tuple("SigV4").field(credentials).finish(),
            Self::ApiKey(_) => f.write_str("ApiKey([redacted])"),
        }
    }
}

/// Adds authentication to a request for `host` (`bedrock-runtime.<region>.amazonaws.com`):
/// a SigV4 signature for service `bedrock`, or the API key. `request.path` must already be
/// the full path as sent, including any path of the base URL.
pub fn authorize(
    request: &mut HttpRequest,
    host: &str,
    region: &str,
    auth: Auth<'_>,
    unix_now: i64,
) {
    match auth {
        Auth::ApiKey(key) => request
            .headers
            .push(("authorization", format!("Bearer {key}"))),
        Auth::SigV4(credentials) => {
            let (path, query) = request.path.split_once('?').unwrap_or((&request.path, ""));
            let mut headers: Vec<(String, String)> = request
                .headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), v.clone()))
                .collect();
            headers.push(("host".to_owned(), host.to_owned()));
            let params = SigningParams {
                region,
                service: "bedrock",
                time: SigningTime::from_unix(unix_now),
                normalize_path: true,
                sign_body_hash: false,
                sign_session_token: true,
            };
            let signature = sigv4::sign(
                &SigningRequest {
                    method: request.method,
                    path,
                    query,
                    headers: &headers,
                    body: &request.body,
                },
                &credentials,
                &params,
            );
            request.headers.extend(signature.headers);
        }
    }
}
