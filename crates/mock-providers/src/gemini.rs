//! Gemini `generateContent` and `streamGenerateContent?alt=sse`, for AI Studio (API key) and
//! Vertex (access token). Like Gemini 3, function calls sent back in the current turn must
//! carry the thought signature the model gave them, or Google's placeholder.

use axum::response::Response;
use serde_json::{Value, json};

use crate::answer::{Answer, Input, SIGNATURE_PREFIX, words};
use crate::{Call, respond};

fn status_name(status: u16) -> &'static str {
    match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "INTERNAL",
    }
}

pub(crate) fn error(status: u16, message: &str, details: Value) -> Response {
    let body = json!({ "error": { "code": status, "message": message, "status": status_name(status), "details": details } });
    respond::json(status, body.to_string().into_bytes())
}

fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Google's placeholder for a call whose signature is unknown: it passes the check.
const SKIP_VALIDATOR: &str = "skip_thought_signature_validator";

/// Google's check: in the current turn (after the latest user content holding something
/// other than function responses), the first `functionCall` of each model content (a step)
/// must carry a signature this mock gave, or the placeholder. Later parallel calls carry
/// none, and earlier turns are not checked.
fn check_signatures(contents: &[Value]) -> Result<(), String> {
    fn parts_of(content: &Value) -> &[Value] {
        content
            .get("parts")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
    let turn = contents
        .iter()
        .rposition(|c| {
            str_of(c, "role") != "model"
                && parts_of(c)
                    .iter()
                    .any(|p| p.get("functionResponse").is_none())
        })
        .map_or(0, |at| at + 1);
    for (at, content) in contents.iter().enumerate().skip(turn) {
        if str_of(content, "role") != "model" {
            continue;
        }
        let Some((index, call)) = parts_of(content)
            .iter()
            .enumerate()
            .find(|(_, p)| p.get("functionCall").is_some())
        else {
            continue;
        };
        let signature = str_of(call, "thoughtSignature");
        if !signature.starts_with(SIGNATURE_PREFIX) && signature != SKIP_VALIDATOR {
            let name = call
                .pointer("/functionCall/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            return Err(format!(
                "Function call `{name}` in the {at}. content block is missing a `thought_signature` (part {index}). This is required for tools to work correctly."
            ));
        }
    }
    Ok(())
}

fn read_input(body: &Value, model: &str, stream: bool) -> Result<Input, String> {
    let mut input = Input {
        model: model.to_owned(),
        stream,
        include_usage: true,
        ..Input::default()
    };
    let contents = body
        .get("contents")
        .and_then(Value::as_array)
        .ok_or("contents is required")?;
    check_signatures(contents)?;
    // Instructions count as input, as Google counts them.
    for part in body
        .pointer("/systemInstruction/parts")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        input.words += part.get("text").and_then(Value::as_str).map_or(0, words);
    }
    for content in contents {
        let role = str_of(content, "role");
        let parts = content
            .get("parts")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut texts = Vec::new();
        for part in parts {
            let signature = str_of(part, "thoughtSignature");
            if !signature.is_empty() {
                input.signatures.push(signature.to_owned());
            }
            if let Some(text) = part.get("text").and_then(Value::as_str) {
                input.words += words(text);
                texts.push(text);
            }
            if part.get("inlineData").is_some() || part.get("fileData").is_some() {
                input.images += 1;
            }
            if let Some(response) = part.get("functionResponse") {
                let response = response.get("response").unwrap_or(&Value::Null);
                let text = response
                    .get("output")
                    .and_then(Value::as_str)
                    .map_or_else(|| response.to_string(), str::to_owned);
                input.tool_results.push(text);
            }
        }
        if role != "model" && !texts.is_empty() {
            input.last_user_text = texts.join(" ");
        }
    }
    input.answering_tool = contents
        .last()
        .and_then(|c| c.get("parts"))
        .and_then(Value::as_array)
        .is_some_and(|parts| parts.iter().any(|p| p.get("functionResponse").is_some()));
    input.tools = body
        .get("tools")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .flat_map(|tool| {
            tool.get("functionDeclarations")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .map(|declaration| str_of(&declaration, "name").to_owned())
        .collect();
    input.tool_choice_none = body
        .pointer("/toolConfig/functionCallingConfig/mode")
        .and_then(Value::as_str)
        == Some("NONE");
    input.thinking = body
        .pointer("/generationConfig/thinkingConfig/includeThoughts")
        .and_then(Value::as_bool)
        == Some(true);
    crate::answer::echo_features(&mut input, body);
    Ok(input)
}

fn chunk(answer: &Answer, parts: Value, finish: bool) -> Value {
    let mut candidate = json!({ "content": { "role": "model", "parts": parts }, "index": 0 });
    if finish {
        candidate["finishReason"] = json!("STOP");
    }
    json!({
        "candidates": [candidate],
        "usageMetadata": usage_of(answer),
        "modelVersion": answer.model,
        "responseId": answer.id,
    })
}

/// The answer's usage as Gemini reports it: `promptTokenCount` includes the cached
/// `cachedContentTokenCount`; thinking (`thoughtsTokenCount`) is apart from
/// `candidatesTokenCount`; cache writes are not reported (Gemini caches are made apart).
fn usage_of(answer: &Answer) -> Value {
    let mut usage = json!({
        "promptTokenCount": answer.input_tokens,
        "candidatesTokenCount": answer.output_tokens - answer.reasoning_tokens,
        "totalTokenCount": answer.input_tokens + answer.output_tokens,
    });
    if answer.cache_read_tokens > 0 {
        usage["cachedContentTokenCount"] = json!(answer.cache_read_tokens);
    }
    if answer.reasoning_tokens > 0 {
        usage["thoughtsTokenCount"] = json!(answer.reasoning_tokens);
    }
    usage
}

/// A prompt holding this word (or a request with `streamFunctionCallArguments`) gets its
/// function call's arguments streamed, as Vertex streams them for Gemini 3.
pub const STREAM_ARGS: &str = "mock-stream-args";

fn last_user_text_has(body: &Value, word: &str) -> bool {
    body.get("contents")
        .and_then(Value::as_array)
        .and_then(|contents| contents.iter().rev().find(|c| str_of(c, "role") == "user"))
        .and_then(|content| content.get("parts"))
        .and_then(Value::as_array)
        .is_some_and(|parts| parts.iter().any(|p| str_of(p, "text").contains(word)))
}

/// The call's parts as `streamFunctionCallArguments` sends them: the name with
/// `willContinue`, each argument as `partialArgs` at its `jsonPath` (strings in two pieces,
/// numbers, booleans and nulls whole, objects and arrays by path), then an empty
/// `functionCall` that closes it.
fn streamed_call(answer: &Answer, signature: &str) -> Vec<Value> {
    let Some((_, name, arguments)) = &answer.tool_call else {
        return Vec::new();
    };
    let args: Value = serde_json::from_str(arguments).unwrap_or(json!({}));
    let mut out = vec![
        json!([{ "functionCall": { "name": name, "willContinue": true }, "thoughtSignature": signature }]),
    ];
    let mut leaves = Vec::new();
    flatten("$".to_owned(), &args, &mut leaves);
    for (path, value) in leaves {
        let pieces = match &value {
            Value::String(text) => {
                let cut = text
                    .char_indices()
                    .nth(text.chars().count() / 2)
                    .map_or(0, |(at, _)| at);
                vec![
                    json!({ "jsonPath": path, "stringValue": &text[..cut], "willContinue": true }),
                    json!({ "jsonPath": path, "stringValue": &text[cut..] }),
                ]
            }
            Value::Number(number) => vec![json!({ "jsonPath": path, "numberValue": number })],
            Value::Bool(flag) => vec![json!({ "jsonPath": path, "boolValue": flag })],
            _ => vec![json!({ "jsonPath": path, "nullValue": "NULL_VALUE" })],
        };
        for piece in pieces {
            out.push(json!([{ "functionCall": { "partialArgs": [piece], "willContinue": true } }]));
        }
    }
    out.push(json!([{ "functionCall": {} }]));
    out
}

/// The scalar leaves of a JSON value with their JSON paths, in document order.
fn flatten(path: String, value: &Value, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                flatten(format!("{path}.{key}"), inner, out);
            }
        }
        Value::Array(items) => {
            for (at, inner) in items.iter().enumerate() {
                flatten(format!("{path}[{at}]"), inner, out);
            }
        }
        scalar => out.push((path, scalar.clone())),
    }
}

/// Serves a generate request; `vertex` when Vertex already authenticated it.
pub async fn generate(call: Call, vertex: bool) -> Response {
    let key = if vertex {
        call.bearer().unwrap_or_default().to_owned()
    } else {
        let query_key = call
            .query
            .split('&')
            .find_map(|pair| pair.strip_prefix("key="))
            .map(str::to_owned);
        let key = call
            .header("x-goog-api-key")
            .map(str::to_owned)
            .or(query_key)
            .unwrap_or_default();
        if !call.mock.has_key("google", &key) {
            let detail = json!([{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com" }]);
            return error(
                400,
                "API key not valid. Please pass a valid API key.",
                detail,
            );
        }
        key
    };
    let fault = match call.fault(&key) {
        Ok(fault) => fault,
        Err(message) => return error(400, &message, json!([])),
    };
    tokio::time::sleep(fault.first_byte_delay).await;
    if let Some(status) = fault.status {
        let details = match fault.retry_after {
            Some(seconds) => {
                json!([{ "@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": format!("{seconds}s") }])
            }
            None => json!([]),
        };
        return error(status, "injected fault", details);
    }
    let last = call.path.rsplit('/').next().unwrap_or_default();
    let (model, method) = last.split_once(':').unwrap_or((last, ""));
    let stream = match method {
        "generateContent" => false,
        "streamGenerateContent" if call.query.split('&').any(|p| p == "alt=sse") => true,
        "streamGenerateContent" => {
            return error(400, "the mock streams only with alt=sse", json!([]));
        }
        _ => return error(404, &format!("method {method:?} not found"), json!([])),
    };
    let body: Value = match serde_json::from_slice(&call.body) {
        Ok(body) => body,
        Err(_) => return error(400, "Invalid JSON payload received.", json!([])),
    };
    let input = match read_input(&body, model, stream) {
        Ok(input) => input,
        Err(message) => return error(400, &message, json!([])),
    };
    let answer = Answer::for_input(&input, call.mock.next_id());
    let signature = format!("{SIGNATURE_PREFIX}{}", answer.id);
    let mut parts = Vec::new();
    if let Some((thinking, _)) = &answer.thinking {
        parts.push(json!({ "text": thinking, "thought": true }));
    }
    let call_part = answer.tool_call.as_ref().map(|(_, name, arguments)| {
        let args: Value = serde_json::from_str(arguments).unwrap_or(json!({}));
        json!({ "functionCall": { "name": name, "args": args }, "thoughtSignature": signature })
    });
    if !stream {
        if !answer.text.is_empty() {
            parts.push(json!({ "text": answer.text, "thoughtSignature": signature }));
        }
        parts.extend(call_part);
        return respond::json(
            200,
            chunk(&answer, Value::Array(parts), true)
                .to_string()
                .into_bytes(),
        );
    }
    let mut chunks: Vec<Value> = parts
        .into_iter()
        .map(|part| chunk(&answer, json!([part]), false))
        .collect();
    chunks.extend(
        answer
            .text_pieces()
            .into_iter()
            .map(|piece| chunk(&answer, json!([{ "text": piece }]), false)),
    );
    let stream_args = last_user_text_has(&body, STREAM_ARGS)
        || body
            .pointer("/toolConfig/functionCallingConfig/streamFunctionCallArguments")
            .and_then(Value::as_bool)
            == Some(true);
    match call_part {
        Some(_) if stream_args => {
            chunks.extend(
                streamed_call(&answer, &signature)
                    .into_iter()
                    .map(|parts| chunk(&answer, parts, false)),
            );
            chunks.push(chunk(&answer, json!([{ "text": "" }]), true));
        }
        Some(part) => chunks.push(chunk(&answer, json!([part]), true)),
        None => chunks.push(chunk(
            &answer,
            json!([{ "text": "", "thoughtSignature": signature }]),
            true,
        )),
    }
    let chunks = chunks
        .into_iter()
        .map(|c| format!("data: {c}\r\n\r\n").into_bytes())
        .collect();
    respond::stream("text/event-stream", chunks, &fault)
}
