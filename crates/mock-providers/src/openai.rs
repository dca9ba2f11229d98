//! OpenAI Chat Completions as OpenAI, Azure, Mistral (with Codestral FIM) and every
//! OpenAI-compatible host serve it.

use axum::response::Response;
use keyroute_wire::canonical::pb::complete_stream_response::Event;
use keyroute_wire::canonical::{StreamRenderer, pb};
use keyroute_wire::openai::{self, OpenAiStreamRenderer};
use keyroute_wire::registry::WireFormat;
use serde_json::{Value, json};

use crate::answer::{Answer, echo_features, from_canonical};
use crate::{Call, respond};

/// A prompt holding this word is refused: the answer comes as OpenAI's `refusal`
/// (`message.refusal`, streamed `delta.refusal`) instead of content.
pub const REFUSE: &str = "mock-refuse";

pub(crate) fn error(status: u16, kind: &str, code: Option<&str>, message: &str) -> Response {
    respond::json(
        status,
        json!({ "error": { "message": message, "type": kind, "param": null, "code": code } })
            .to_string()
            .into_bytes(),
    )
}

pub(crate) fn fault_error(status: u16, retry_after: Option<u64>) -> Response {
    let response = match status {
        401 => error(
            401,
            "invalid_request_error",
            Some("invalid_api_key"),
            "Incorrect API key provided.",
        ),
        403 => error(
            403,
            "permission_error",
            None,
            "You are not allowed to use this model.",
        ),
        429 => error(
            429,
            "requests",
            Some("rate_limit_exceeded"),
            "Rate limit reached for requests.",
        ),
        _ => error(
            status,
            "server_error",
            None,
            "The server had an error while processing your request.",
        ),
    };
    match retry_after {
        Some(seconds) => respond::with_header(response, "retry-after", &seconds.to_string()),
        None => response,
    }
}

/// Checks the key as the host does: `api-key` for Azure, a bearer token elsewhere.
pub(crate) fn authenticate(call: &Call) -> Result<String, Box<Response>> {
    let azure = call.provider.format == WireFormat::AzureOpenAi;
    let key = if azure {
        call.header("api-key")
    } else {
        call.bearer()
    };
    match key {
        Some(key) if call.mock.has_key(call.provider.id, key) => Ok(key.to_owned()),
        _ if azure => deny(respond::json(
            401,
            json!({ "error": { "code": "401", "message": "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource." } }).to_string().into_bytes(),
        )),
        None => deny(error(401, "invalid_request_error", None, "You didn't provide an API key.")),
        Some(_) => deny(error(401, "invalid_request_error", Some("invalid_api_key"), "Incorrect API key provided.")),
    }
}

pub async fn chat(call: Call) -> Response {
    let key = match authenticate(&call) {
        Ok(key) => key,
        Err(response) => return *response,
    };
    let fault = match call.fault(&key) {
        Ok(fault) => fault,
        Err(message) => return error(400, "invalid_request_error", None, &message),
    };
    tokio::time::sleep(fault.first_byte_delay).await;
    if let Some(status) = fault.status {
        return fault_error(status, fault.retry_after);
    }
    let mut body: Value = serde_json::from_slice(&call.body).unwrap_or(Value::Null);
    if call.provider.format == WireFormat::AzureOpenAi {
        // Azure names the model by deployment, in the path.
        let deployment = call.path.split('/').nth(3).unwrap_or_default().to_owned();
        if !call.query.contains("api-version=") {
            return error(
                404,
                "invalid_request_error",
                Some("404"),
                "Resource not found: api-version is required.",
            );
        }
        if let Some(object) = body.as_object_mut() {
            object.entry("model").or_insert(json!(deployment));
        }
    }
    let parsed = match openai::parse_request(body.to_string().as_bytes()) {
        Ok(parsed) => parsed,
        Err(invalid) => {
            return respond::json(
                400,
                openai::render_error(400, &invalid.message, Some(&invalid.param), None),
            );
        }
    };
    // Mistral sends usage in its last chunk unasked; OpenAI only when asked.
    let include_usage = parsed.include_usage || call.provider.id == "mistral";
    let mut input = from_canonical(&parsed.request, parsed.stream, include_usage);
    echo_features(&mut input, &body);
    let answer = Answer::for_input(&input, call.mock.next_id());
    let refuse = input.last_user_text.contains(REFUSE);
    if !parsed.stream {
        let mut response = answer.response();
        if refuse {
            refused(&mut response);
        }
        return respond::json(200, openai::render_response(&response));
    }
    let renderer = OpenAiStreamRenderer::new(input.include_usage);
    respond::stream(
        "text/event-stream",
        rendered(&answer, refuse, renderer),
        &fault,
    )
}

/// Turns a whole answer's text into OpenAI's `refusal`.
pub(crate) fn refused(response: &mut pb::ChatResponse) {
    for message in response
        .choices
        .iter_mut()
        .filter_map(|c| c.message.as_mut())
    {
        for part in &mut message.content {
            part.refusal = true;
        }
    }
}

/// The answer's events rendered one chunk each, text turned into refusal when `refuse`.
pub(crate) fn rendered(
    answer: &Answer,
    refuse: bool,
    mut renderer: impl StreamRenderer,
) -> Vec<Vec<u8>> {
    answer
        .events()
        .into_iter()
        .map(|mut event| {
            if refuse && let Some(Event::Delta(delta)) = &mut event.event {
                delta.refusal = std::mem::take(&mut delta.text);
            }
            let mut out = Vec::new();
            renderer.render(&event, &mut out);
            out
        })
        .filter(|chunk| !chunk.is_empty())
        .collect()
}

/// Codestral fill-in-the-middle: the completion is the text between prompt and suffix.
pub async fn fim(call: Call) -> Response {
    let key = match authenticate(&call) {
        Ok(key) => key,
        Err(response) => return *response,
    };
    let fault = call.fault(&key).unwrap_or_default();
    if let Some(status) = fault.status {
        return fault_error(status, fault.retry_after);
    }
    let request = match keyroute_wire::mistral::parse_fim_request(&call.body) {
        Ok(request) => request,
        Err(invalid) => {
            return respond::json(
                422,
                openai::render_error(422, &invalid.to_string(), Some(&invalid.param), None),
            );
        }
    };
    let completion = format!(
        "/* between {} and {} */",
        request.prompt.len(),
        request.suffix.len()
    );
    let id = format!("fim-{}", call.mock.next_id());
    let usage = json!({ "prompt_tokens": 8, "completion_tokens": 6, "total_tokens": 14 });
    if request.stream {
        // Mistral streams FIM as chat-completion chunks, usage in the last one.
        let chunk = |delta: Value, finish: Value, usage: Value| {
            let mut chunk = json!({
                "id": id, "object": "chat.completion.chunk", "created": 1_700_000_000, "model": request.model,
                "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }],
            });
            if !usage.is_null() {
                chunk["usage"] = usage;
            }
            format!("data: {chunk}\n\n").into_bytes()
        };
        let chunks = vec![
            chunk(
                json!({ "role": "assistant", "content": "" }),
                Value::Null,
                Value::Null,
            ),
            chunk(json!({ "content": completion }), Value::Null, Value::Null),
            chunk(json!({}), json!("stop"), usage),
            b"data: [DONE]\n\n".to_vec(),
        ];
        return respond::stream("text/event-stream", chunks, &fault);
    }
    let body = json!({
        "id": id, "object": "chat.completion", "created": 1_700_000_000, "model": request.model,
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": completion }, "finish_reason": "stop" }],
        "usage": usage,
    });
    respond::json(200, body.to_string().into_bytes())
}

/// An auth refusal, boxed: a response is large and the accepted path should stay small.
fn deny(response: Response) -> Result<String, Box<Response>> {
    Err(Box::new(response))
}
