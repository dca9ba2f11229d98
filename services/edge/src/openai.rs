//! `POST /v1/chat/completions`: OpenAI's dialect in and out, streaming included, with errors
//! as `{"error":{"message","type","param","code"}}`.

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use keyroute_proto::router::v1::{CompleteRequest, CompleteStreamRequest};
use keyroute_wire::canonical::{StreamRenderer, pb};
use keyroute_wire::openai::{OpenAiStreamRenderer, parse_request, render_error, render_response};

use crate::dialect::{http_status, retry_after, served_headers};
use crate::server::Edge;

/// An OpenAI-shaped error response.
pub fn error(
    status: StatusCode,
    message: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Response {
    let body = render_error(status.as_u16(), message, param, code);
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

pub(crate) fn status_error(status: &tonic::Status) -> Response {
    let code = match status.code() {
        tonic::Code::Unauthenticated => Some("invalid_api_key"),
        tonic::Code::NotFound => Some("model_not_found"),
        _ => None,
    };
    let mut response = error(http_status(status), status.message(), None, code);
    retry_after(status, response.headers_mut());
    response
}

/// The gateway token from `Authorization: Bearer kr_...` or `x-api-key: kr_...`.
pub fn gateway_token(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, token) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|t| !t.is_empty());
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// A router request carrying the caller's token and request id; `None` if the token cannot
/// travel as metadata.
pub(crate) fn router_request<T>(
    message: T,
    token: &str,
    headers: &HeaderMap,
) -> Option<tonic::Request<T>> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().ok()?);
    if let Some(id) = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
    {
        request.metadata_mut().insert("x-request-id", id);
    }
    Some(request)
}

pub(crate) fn malformed_token() -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        "the gateway token is malformed",
        None,
        Some("invalid_api_key"),
    )
}

/// Handles one Chat Completions call.
pub async fn chat_completions(
    State(edge): State<Edge>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(token) = gateway_token(&headers) else {
        return error(
            StatusCode::UNAUTHORIZED,
            "a gateway token is required: send `Authorization: Bearer kr_...`",
            None,
            Some("invalid_api_key"),
        );
    };
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the request body is larger than {} bytes", edge.body_limit),
            None,
            None,
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > edge.body_limit) {
        return too_large();
    }
    let Ok(bytes) = axum::body::to_bytes(body, edge.body_limit).await else {
        return too_large();
    };
    let client = match parse_request(&bytes) {
        Ok(client) => client,
        Err(invalid) => {
            let param = (!invalid.param.is_empty()).then_some(invalid.param.as_str());
            return error(StatusCode::BAD_REQUEST, &invalid.message, param, None);
        }
    };
    if client.stream {
        stream(edge, token, &headers, client.request, client.include_usage).await
    } else {
        complete(edge, token, &headers, client.request).await
    }
}

async fn complete(edge: Edge, token: &str, headers: &HeaderMap, chat: pb::ChatRequest) -> Response {
    let request = match router_request(
        CompleteRequest {
            request: Some(chat),
        },
        token,
        headers,
    ) {
        Some(request) => request,
        None => return malformed_token(),
    };
    let (metadata, reply, _) = match edge.router.clone().complete(request).await {
        Ok(reply) => reply.into_parts(),
        Err(status) => return status_error(&status),
    };
    let Some(answer) = reply.response else {
        return error(
            StatusCode::BAD_GATEWAY,
            "the router sent an empty answer",
            None,
            None,
        );
    };
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        render_response(&answer),
    )
        .into_response();
    served_headers(&metadata, response.headers_mut());
    response
}

async fn stream(
    edge: Edge,
    token: &str,
    headers: &HeaderMap,
    chat: pb::ChatRequest,
    include_usage: bool,
) -> Response {
    let request = match router_request(
        CompleteStreamRequest {
            request: Some(chat),
        },
        token,
        headers,
    ) {
        Some(request) => request,
        None => return malformed_token(),
    };
    let reply = match edge.router.clone().complete_stream(request).await {
        Ok(reply) => reply,
        Err(status) => return status_error(&status),
    };
    let mut served = HeaderMap::new();
    served_headers(reply.metadata(), &mut served);
    let mut renderer = OpenAiStreamRenderer::new(include_usage);
    // Each router event becomes its SSE bytes as it arrives; a broken router stream becomes
    // an error event, never a silent end.
    let body = reply.into_inner().map(move |event| {
        let event = event.unwrap_or_else(|status| {
            keyroute_wire::canonical::event(
                keyroute_wire::canonical::pb::complete_stream_response::Event::Error(
                    pb::StreamError {
                        status: u32::from(http_status(&status).as_u16()),
                        r#type: "keyroute_error".into(),
                        message: status.message().to_owned(),
                        retryable: false,
                    },
                ),
            )
        });
        let mut out = Vec::with_capacity(256);
        renderer.render(&event, &mut out);
        Ok::<_, std::convert::Infallible>(Bytes::from(out))
    });
    let mut response = Response::new(Body::from_stream(body));
    let response_headers = response.headers_mut();
    response_headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response_headers.extend(served);
    response
}
