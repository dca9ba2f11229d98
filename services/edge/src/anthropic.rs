//! `POST /v1/messages`: Anthropic's Messages dialect in and out (streaming, tools, thinking
//! with signatures), `anthropic-beta` flags passed to Anthropic upstreams, errors as
//! `{"type":"error","error":{"type","message"}}`.

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use http::HeaderMap;
use keyroute_wire::anthropic::{AnthropicStreamRenderer, parse_request, render_response};

use crate::dialect::Dialect;
use crate::pipeline::Call;
use crate::server::Edge;

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
