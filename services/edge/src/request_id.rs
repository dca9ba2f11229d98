//! Every answer carries a request id, errors included: the caller's `x-request-id` when it
//! is sane (it is also the idempotency key for charging), a new one otherwise. The router
//! receives the same id. Sent as `x-request-id` (OpenAI's SDK) and `request-id` (what
//! Anthropic's SDK reads).

use axum::extract::Request;
use axum::response::Response;
use http::HeaderValue;
use keyroute_proto::contract::header_name;

/// The middleware: fixes the id on the way in, stamps it on the way out.
pub async fn stamp(mut request: Request, next: impl AsyncFnOnce(Request) -> Response) -> Response {
    let given = request
        .headers()
        .get(&header_name::REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| keyroute_telemetry::valid_request_id(id))
        .and_then(|id| HeaderValue::from_str(id).ok());
    let id = match given {
        Some(id) => id,
        None => match HeaderValue::from_str(&keyroute_telemetry::new_request_id()) {
            Ok(id) => id,
            Err(_) => return next(request).await,
        },
    };
    request
        .headers_mut()
        .insert(header_name::REQUEST_ID.clone(), id.clone());
    let mut response = next(request).await;
    let headers = response.headers_mut();
    headers
        .entry(header_name::REQUEST_ID.clone())
        .or_insert_with(|| id.clone());
    headers.insert(header_name::ANTHROPIC_REQUEST_ID.clone(), id);
    response
}
