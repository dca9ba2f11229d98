//! `POST /v1/messages`: Anthropic's Messages dialect in and out (streaming, tools, thinking
//! with signatures), `anthropic-beta` flags passed to Anthropic upstreams, errors as
//! `{"type":"error","error":{"type","message"}}`; and `POST /v1/messages/count_tokens`.

use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use keyroute_proto::contract;
use keyroute_proto::router::v1::CountTokensRequest;
use keyroute_wire::anthropic::{AnthropicStreamRenderer, parse_request, render_response};
use serde_json::{Value, json};

use crate::model_api::dialect::Dialect;
use crate::model_api::pipeline::Call;
use crate::state::Edge;

/// The `anthropic-beta` flags, from every such header, comma-separated or not.
fn beta_flags(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all("anthropic-beta")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|flag| !flag.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Handles one Messages call.
pub async fn messages(State(edge): State<Edge>, headers: HeaderMap, body: Body) -> Response {
    let call = match Call::start(Dialect::Anthropic, "messages", &headers) {
        Ok(call) => call,
        Err(response) => return response,
    };
    let bytes = match call.body(&edge, body).await {
        Ok(bytes) => bytes,
        Err(response) => return response,
    };
    let mut client = match parse_request(&bytes) {
        Ok(client) => client,
        Err(invalid) => return call.invalid(&invalid),
    };
    client.request.anthropic_beta = beta_flags(&headers);
    // Parsed again only if the first router could not be reached.
    let again = || {
        parse_request(&bytes).ok().map(|mut client| {
            client.request.anthropic_beta = beta_flags(&headers);
            client.request
        })
    };
    if client.stream {
        let renderer = AnthropicStreamRenderer::new();
        call.stream(&edge, client.request, &again, renderer).await
    } else {
        call.complete(&edge, client.request, &again, render_response)
            .await
    }
}

/// A count_tokens body as a Messages body: the counting endpoint takes no `max_tokens`,
/// which the Messages parser requires.
fn counting_body(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut value: Value = serde_json::from_slice(bytes).ok()?;
    let object = value.as_object_mut()?;
    object.entry("max_tokens").or_insert(json!(1));
    Some(value.to_string().into_bytes())
}

/// Handles `POST /v1/messages/count_tokens`: `{"input_tokens": N}`, counted by Anthropic
/// where an Anthropic key would serve the request, estimated otherwise
/// (the [`contract::header::TOKEN_COUNT`] header, `exact` or `estimate`, says which).
pub async fn count_tokens(State(edge): State<Edge>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let call = match Call::start(Dialect::Anthropic, "count_tokens", &headers) {
        Ok(call) => call,
        Err(response) => return response,
    };
    let bytes = match call.body(&edge, body).await {
        Ok(bytes) => bytes,
        Err(response) => return response,
    };
    let parse = || {
        let body = counting_body(&bytes).unwrap_or_else(|| bytes.to_vec());
        parse_request(&body).map(|client| CountTokensRequest {
            request: Some(client.request),
        })
    };
    let first = match parse() {
        Ok(request) => request,
        Err(invalid) => return call.invalid(&invalid),
    };
    let again = || parse().ok();
    let reply = call
        .route(
            &edge,
            first,
            &again,
            |mut client, request| async move { client.count_tokens(request).await },
            started,
        )
        .await;
    let count = match reply {
        Ok(reply) => reply.into_inner(),
        Err(response) => return response,
    };
    edge.metrics
        .other("count_tokens", StatusCode::OK, started.elapsed());
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "input_tokens": count.input_tokens }).to_string(),
    )
        .into_response();
    let response_headers = response.headers_mut();
    response_headers.insert(
        contract::header::TOKEN_COUNT,
        HeaderValue::from_static(if count.exact { "exact" } else { "estimate" }),
    );
    if let Ok(provider) = HeaderValue::from_str(&count.provider) {
        response_headers.insert(contract::header::PROVIDER, provider);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beta_flags_come_from_every_header_and_comma_list() {
        let mut headers = HeaderMap::new();
        headers.append("anthropic-beta", "a-2025, b-2025".parse().unwrap());
        headers.append("anthropic-beta", "c-2025".parse().unwrap());
        assert_eq!(beta_flags(&headers), ["a-2025", "b-2025", "c-2025"]);
        assert!(beta_flags(&HeaderMap::new()).is_empty());
    }
}
