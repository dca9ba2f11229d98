//! `POST /v1/chat/completions`: OpenAI's dialect in and out, streaming included
//! (`stream_options.include_usage`), with errors as `{"error":{"message","type","param","code"}}`;
//! and `POST /v1/fim/completions`, Codestral's fill-in-the-middle in the same error dialect.

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use http::HeaderMap;
use keyroute_wire::mistral::parse_fim_request;
use keyroute_wire::openai::{OpenAiStreamRenderer, parse_request, render_response};

use crate::model_api::dialect::Dialect;
use crate::model_api::pipeline::Call;
use crate::state::Edge;

/// Handles one Chat Completions call.
pub async fn chat_completions(
    State(edge): State<Edge>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let call = match Call::start(Dialect::OpenAi, "chat_completions", &headers) {
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
        let renderer = OpenAiStreamRenderer::new(client.include_usage);
        call.stream(&edge, client.request, &again, renderer).await
    } else {
        call.complete(&edge, client.request, &again, render_response)
            .await
    }
}

/// Handles `POST /v1/fim/completions` (Codestral fill-in-the-middle, Mistral's body shape):
/// the answer is a chat completion, streamed as chunks with usage in the last one.
pub async fn fim_completions(State(edge): State<Edge>, headers: HeaderMap, body: Body) -> Response {
    let call = match Call::start(Dialect::OpenAi, "fim_completions", &headers) {
        Ok(call) => call,
        Err(response) => return response,
    };
    let bytes = match call.body(&edge, body).await {
        Ok(bytes) => bytes,
        Err(response) => return response,
    };
    let fim = match parse_fim_request(&bytes) {
        Ok(fim) => fim,
        Err(invalid) => return call.invalid(&invalid),
    };
    let stream = fim.stream;
    let again = || parse_fim_request(&bytes).ok().map(|fim| fim.into_chat());
    if stream {
        let renderer = OpenAiStreamRenderer::new(true);
        call.stream(&edge, fim.into_chat(), &again, renderer).await
    } else {
        call.complete(&edge, fim.into_chat(), &again, render_response)
            .await
    }
}
