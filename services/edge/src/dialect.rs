//! Router answers as HTTP: a gRPC status becomes the HTTP status a client of that dialect
//! expects, and who served a request (the router's response metadata) becomes headers.

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

/// The HTTP status for a router status. Upstream trouble is 502/504, keyroute's own (the
/// vault, a router) 503: the `x-keyroute-error-origin` metadata says which.
pub fn http_status(status: &tonic::Status) -> StatusCode {
    use tonic::Code;
    let upstream = status
        .metadata()
        .get("x-keyroute-error-origin")
        .is_some_and(|origin| origin == "upstream");
    match status.code() {
        Code::InvalidArgument | Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists => StatusCode::CONFLICT,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::FailedPrecondition if upstream => StatusCode::BAD_GATEWAY,
        Code::FailedPrecondition => StatusCode::BAD_REQUEST,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::Unavailable if upstream => StatusCode::BAD_GATEWAY,
        Code::Unavailable | Code::Cancelled => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Copies `retry-after` from a router status, for 429 and 503 answers.
pub fn retry_after(status: &tonic::Status, headers: &mut HeaderMap) {
    if let Some(value) = status
        .metadata()
        .get("retry-after")
        .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok())
    {
        headers.insert(http::header::RETRY_AFTER, value);
    }
}

const SERVED_HEADERS: [&str; 4] = [
    "x-keyroute-provider",
    "x-keyroute-key-source",
    "x-keyroute-credential",
    "x-request-id",
];

/// Who served the request, from the router's response metadata (for a stream, sent before
/// its first event), as response headers.
pub fn served_headers(metadata: &tonic::metadata::MetadataMap, headers: &mut HeaderMap) {
    for name in SERVED_HEADERS {
        if let Some(value) = metadata
            .get(name)
            .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok())
        {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
}
