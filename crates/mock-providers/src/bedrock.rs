//! Bedrock Converse and ConverseStream. SigV4 signatures are recomputed with the stored
//! secret and compared, the way AWS checks them; Bedrock API keys come as bearer tokens.

use axum::response::Response;
use keyroute_wire::eventstream::{Frame, Header, HeaderValue};
use keyroute_wire::sigv4::{self, Credentials, SigningParams, SigningRequest, SigningTime};
use serde_json::{Value, json};

use crate::answer::{Answer, Input, words};
use crate::{Call, respond};

pub(crate) fn error(status: u16, kind: &str, message: &str) -> Response {
    let response = respond::json(
        status,
        json!({ "message": message }).to_string().into_bytes(),
    );
    respond::with_header(
        response,
        "x-amzn-errortype",
        &format!("{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"),
    )
}

/// Checks the request's SigV4 signature, or its Bedrock API key; returns the key id.
pub(crate) fn authenticate(call: &Call) -> Result<String, Box<Response>> {
    let authorization = call.header("authorization").unwrap_or_default();
    if let Some(key) = authorization.strip_prefix("Bearer ") {
        return if call.mock.has_key("bedrock", key) {
            Ok(key.to_owned())
        } else {
            deny(error(
                403,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            ))
        };
    }
    let Some(fields) = authorization.strip_prefix("AWS4-HMAC-SHA256 ") else {
        return deny(error(
            403,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ));
    };
    let field = |name: &str| {
        fields
            .split(", ")
            .find_map(|part| part.strip_prefix(name))
            .unwrap_or_default()
    };
    let credential = field("Credential=");
    let signed_headers = field("SignedHeaders=");
    let provided = field("Signature=");
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, "aws4_request"] = scope.as_slice() else {
        return deny(error(
            400,
            "IncompleteSignatureException",
            "Credential is malformed.",
        ));
    };
    if *service != "bedrock" {
        return deny(error(
            403,
            "InvalidSignatureException",
            "Credential should be scoped to correct service: 'bedrock'.",
        ));
    }
    let Some(secret) = call.mock.aws_secret(access_key_id) else {
        return deny(error(
            403,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ));
    };
    let date_time = call.header("x-amz-date").unwrap_or_default().to_owned();
    if !date_time.starts_with(date) {
        return deny(error(
            403,
            "InvalidSignatureException",
            "Date in Credential scope does not match x-amz-date.",
        ));
    }
    let headers: Vec<(String, String)> = signed_headers
        .split(';')
        .filter(|name| !matches!(*name, "x-amz-date" | "x-amz-security-token"))
        .map(|name| {
            (
                name.to_owned(),
                call.header(name).unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let token = call.header("x-amz-security-token");
    let params = SigningParams {
        region,
        service,
        time: SigningTime {
            date: (*date).to_owned(),
            date_time,
        },
        normalize_path: true,
        sign_body_hash: false,
        sign_session_token: signed_headers
            .split(';')
            .any(|h| h == "x-amz-security-token"),
    };
    let credentials = Credentials {
        access_key_id,
        secret_access_key: &secret,
        session_token: token,
    };
    // The signature covers the path as sent, provider prefix included.
    let full_path = format!("/{}{}", call.provider.id, call.path);
    let expected = sigv4::sign(
        &SigningRequest {
            method: "POST",
            path: &full_path,
            query: &call.query,
            headers: &headers,
            body: &call.body,
        },
        &credentials,
        &params,
    );
    if expected.signature != provided {
        return deny(error(
            403,
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
        ));
    }
    Ok((*access_key_id).to_owned())
}

fn read_input(body: &Value, model: &str, stream: bool) -> Result<Input, String> {
    let mut input = Input {
        model: model.to_owned(),
        stream,
        include_usage: true,
        ..Input::default()
    };
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("messages is required")?;
    // Instructions count as input, as Bedrock counts them.
    for block in body
        .get("system")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        input.words += block.get("text").and_then(Value::as_str).map_or(0, words);
    }
    for (i, message) in messages.iter().enumerate() {
        let blocks = message
            .get("content")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        if blocks.is_empty() {
            return Err(format!(
                "The content field in the Message object at messages.{i} is empty. Add a ContentBlock object to the content field and try again."
            ));
        }
        let mut texts = Vec::new();
        for block in blocks {
            if let Some(text) = block.get("text").and_then(Value::as_str) {
                input.words += words(text);
                texts.push(text);
            }
            if block.get("image").is_some() {
                input.images += 1;
            }
            if let Some(result) = block.get("toolResult") {
                let text: Vec<&str> = result
                    .get("content")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|c| c.get("text").and_then(Value::as_str))
                    .collect();
                input.tool_results.push(text.join(" "));
            }
            if let Some(signature) = block
                .pointer("/reasoningContent/reasoningText/signature")
                .and_then(Value::as_str)
            {
                input.signatures.push(signature.to_owned());
            }
        }
        if message.get("role").and_then(Value::as_str) == Some("user") && !texts.is_empty() {
            input.last_user_text = texts.join(" ");
        }
    }
    input.answering_tool = messages
        .last()
        .and_then(|m| m.get("content"))
        .and_then(Value::as_array)
        .is_some_and(|blocks| blocks.iter().any(|b| b.get("toolResult").is_some()));
    let has_tool_blocks = messages
        .iter()
        .flat_map(|m| {
            m.get("content")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .any(|b| b.get("toolUse").is_some() || b.get("toolResult").is_some());
    let tools: Vec<String> = body
        .pointer("/toolConfig/tools")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|t| {
            t.pointer("/toolSpec/name")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect();
    if has_tool_blocks && body.get("toolConfig").is_none() {
        return Err("The toolConfig field must be defined when using toolUse and toolResult content blocks.".into());
    }
    input.tools = tools;
    input.thinking = body
        .pointer("/additionalModelRequestFields/thinking")
        .is_some();
    crate::answer::echo_features(&mut input, body);
    Ok(input)
}

fn frame(event: &str, payload: Value) -> Vec<u8> {
    let string = |name: &str, value: &str| Header {
        name: name.into(),
        value: HeaderValue::String(value.into()),
    };
    Frame {
        headers: vec![
            string(":event-type", event),
            string(":content-type", "application/json"),
            string(":message-type", "event"),
        ],
        payload: payload.to_string().into_bytes(),
    }
    .encode()
}

pub async fn converse(call: Call) -> Response {
    let key = match authenticate(&call) {
        Ok(key) => key,
        Err(response) => return *response,
    };
    let fault = match call.fault(&key) {
        Ok(fault) => fault,
        Err(message) => return error(400, "ValidationException", &message),
    };
    tokio::time::sleep(fault.first_byte_delay).await;
    if let Some(status) = fault.status {
        let kind = match status {
            429 => "ThrottlingException",
            403 => "AccessDeniedException",
            503 | 529 => "ServiceUnavailableException",
            400 => "ValidationException",
            _ => "InternalServerException",
        };
        return error(status, kind, "injected fault");
    }
    let segments: Vec<&str> = call.path.trim_start_matches('/').split('/').collect();
    let [_, model, operation] = segments.as_slice() else {
        return error(404, "UnknownOperationException", "unknown operation");
    };
    let model = keyroute_wire::sigv4::uri_decode(model);
    let stream = match *operation {
        "converse" => false,
        "converse-stream" => true,
        _ => return error(404, "UnknownOperationException", "unknown operation"),
    };
    let body: Value = serde_json::from_slice(&call.body).unwrap_or(Value::Null);
    let input = match read_input(&body, &model, stream) {
        Ok(input) => input,
        Err(message) => return error(400, "ValidationException", &message),
    };
    let answer = Answer::for_input(&input, call.mock.next_id());
    let stop_reason = if answer.tool_call.is_some() {
        "tool_use"
    } else {
        "end_turn"
    };
    let usage = usage_of(&answer);
    if !stream {
        let mut content = Vec::new();
        if !answer.text.is_empty() {
            content.push(json!({ "text": answer.text }));
        }
        if let Some((id, name, arguments)) = &answer.tool_call {
            let input: Value = serde_json::from_str(arguments).unwrap_or(json!({}));
            content.push(json!({ "toolUse": { "toolUseId": id, "name": name, "input": input } }));
        }
        let body = json!({ "output": { "message": { "role": "assistant", "content": content } }, "stopReason": stop_reason, "usage": usage, "metrics": { "latencyMs": 1 } });
        return respond::json(200, body.to_string().into_bytes());
    }
    let mut frames = vec![frame(
        "messageStart",
        json!({ "role": "assistant", "p": "abcdefgh" }),
    )];
    let mut block = 0;
    if !answer.text.is_empty() {
        for piece in answer.text_pieces() {
            frames.push(frame(
                "contentBlockDelta",
                json!({ "contentBlockIndex": block, "delta": { "text": piece } }),
            ));
        }
        frames.push(frame(
            "contentBlockStop",
            json!({ "contentBlockIndex": block }),
        ));
        block += 1;
    }
    if let Some((id, name, arguments)) = &answer.tool_call {
        frames.push(frame("contentBlockStart", json!({ "contentBlockIndex": block, "start": { "toolUse": { "toolUseId": id, "name": name } } })));
        let (first, rest) = arguments.split_at(arguments.len() / 2);
        for fragment in [first, rest] {
            frames.push(frame("contentBlockDelta", json!({ "contentBlockIndex": block, "delta": { "toolUse": { "input": fragment } } })));
        }
        frames.push(frame(
            "contentBlockStop",
            json!({ "contentBlockIndex": block }),
        ));
    }
    frames.push(frame("messageStop", json!({ "stopReason": stop_reason })));
    frames.push(frame(
        "metadata",
        json!({ "usage": usage, "metrics": { "latencyMs": 1 } }),
    ));
    respond::stream("application/vnd.amazon.eventstream", frames, &fault)
}

/// The answer's usage as Converse reports it: `inputTokens` leaves out what was read from
/// or written to the cache, which come apart, the writes split by TTL in `cacheDetails`
/// (1 h first); there is no reasoning counter (thinking is inside `outputTokens`).
fn usage_of(answer: &Answer) -> Value {
    let cached = answer.cache_read_tokens + answer.cache_write_tokens;
    let mut usage = json!({
        "inputTokens": answer.input_tokens - cached,
        "outputTokens": answer.output_tokens,
        "totalTokens": answer.input_tokens + answer.output_tokens,
    });
    if cached > 0 {
        usage["cacheReadInputTokens"] = json!(answer.cache_read_tokens);
        usage["cacheWriteInputTokens"] = json!(answer.cache_write_tokens);
        let one_hour = answer.cache_write_1h_tokens;
        let details: Vec<Value> = [
            ("1h", one_hour),
            ("5m", answer.cache_write_tokens - one_hour),
        ]
        .into_iter()
        .filter(|(_, tokens)| *tokens > 0)
        .map(|(ttl, tokens)| json!({ "ttl": ttl, "inputTokens": tokens }))
        .collect();
        usage["cacheDetails"] = json!(details);
    }
    usage
}

/// An auth refusal, boxed: a response is large and the accepted path should stay small.
fn deny(response: Response) -> Result<String, Box<Response>> {
    Err(Box::new(response))
}
