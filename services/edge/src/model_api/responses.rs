//! `POST /v1/responses`: OpenAI's Responses API in and out, streamed as its typed events or
//! whole, for every model keyroute routes. OpenAI and Azure keys are served through their own
//! Responses endpoint; every other provider through the canonical chat. Errors use OpenAI's
//! envelope; a stream that breaks ends with `response.failed`, never silently.

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use http::HeaderMap;
use keyroute_wire::responses::{ResponsesStreamRenderer, parse_request, render_response};

use crate::model_api::dialect::Dialect;
use crate::model_api::pipeline::Call;
use crate::state::Edge;

/// Handles one Responses call.
pub async fn responses(State(edge): State<Edge>, headers: HeaderMap, body: Body) -> Response {
    let call = match Call::start(Dialect::OpenAi, "responses", &headers) {
        Ok(call) => call,
        Err(response) => return response,
    };
    let bytes = match call.body(&edge, body).await {
        Ok(bytes) => bytes,
        Err(response) => return response,
    };
    let client = match parse_request(&bytes) {
        Ok(client) => client,
        Err(invalid) => return call.invalid(&invalid),
    };
    // Parsed again only if the first router could not be reached.
    let again = || parse_request(&bytes).ok().map(|client| client.request);
    if client.stream {
        let renderer = ResponsesStreamRenderer::new(client.context);
        call.stream(&edge, client.request, &again, renderer).await
    } else {
        let context = client.context;
        call.complete(&edge, client.request, &again, |answer| {
            render_response(answer, &context)
        })
        .await
    }
}
