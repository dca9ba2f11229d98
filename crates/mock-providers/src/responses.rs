//! OpenAI's Responses API as OpenAI (`/v1/responses`) and Azure OpenAI's v1 surface
//! (`/openai/v1/responses`) serve it: the same deterministic answers as the chat endpoints,
//! as Response objects or typed SSE events. Responses are kept (ids only) unless `store` is
//! false, so `previous_response_id` is checked the way OpenAI checks it.

use axum::response::Response;
use keyroute_wire::responses::{self, ResponsesStreamRenderer};
use serde_json::Value;

use crate::answer::{Answer, echo_features, from_canonical};
use crate::openai::{REFUSE, authenticate, error, fault_error, refused, rendered};
use crate::{Call, respond};

/// Handles one Responses call.
pub async fn create(call: Call) -> Response {
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
    let body: Value = serde_json::from_slice(&call.body).unwrap_or(Value::Null);
    let parsed = match responses::parse_request(&call.body) {
        Ok(parsed) => parsed,
        Err(invalid) => {
            return error(
                400,
                "invalid_request_error",
                None,
                &format!("{}: {}", invalid.param, invalid.message),
            );
        }
    };
    let options = parsed.request.responses.clone().unwrap_or_default();
    if !options.previous_response_id.is_empty()
        && !call.mock.has_response(&options.previous_response_id)
    {
        return error(
            400,
            "invalid_request_error",
            Some("previous_response_not_found"),
            &format!(
                "Previous response with id '{}' not found.",
                options.previous_response_id
            ),
        );
    }
    let mut input = from_canonical(&parsed.request, parsed.stream, true);
    echo_features(&mut input, &body);
    for tool in hosted_tools(&body) {
        input.reasoning.push(format!("hosted={tool}"));
    }
    if !options.previous_response_id.is_empty() {
        input
            .reasoning
            .push(format!("previous={}", options.previous_response_id));
    }
    let number = call.mock.next_id();
    let mut answer = Answer::for_input(&input, number);
    answer.id = format!("resp_mock{number}");
    if options.store != Some(false) {
        call.mock.keep_response(&answer.id);
    }
    let refuse = input.last_user_text.contains(REFUSE);
    if !parsed.stream {
        let mut response = answer.response();
        if refuse {
            refused(&mut response);
        }
        return respond::json(200, responses::render_response(&response, &parsed.context));
    }
    let renderer = ResponsesStreamRenderer::new(parsed.context);
    let chunks = rendered(&answer, refuse, renderer);
    respond::stream("text/event-stream", chunks, &fault)
}

/// The hosted tools a request offered (`web_search`, ...), to echo.
fn hosted_tools(body: &Value) -> Vec<String> {
    body.get("tools")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|tool| tool.get("type").and_then(Value::as_str))
        .filter(|kind| !matches!(*kind, "function" | "namespace" | "custom"))
        .map(str::to_owned)
        .collect()
}
