//! Answering a management call: JSON bodies, times as RFC 3339, and the metrics count of
//! every finished call.

use std::time::Instant;

use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use serde_json::Value;

use crate::management_api::error::ApiError;
use crate::state::Edge;

/// A time as RFC 3339, or null when the vault sent none.
pub fn time(timestamp: Option<&prost_types::Timestamp>) -> Value {
    timestamp.map_or(Value::Null, |ts| {
        Value::String(keyroute_proto::rfc3339(Some(ts)))
    })
}

/// A JSON answer with `status`.
pub fn reply(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Counts a finished management call in the metrics and returns its response.
pub fn finish(
    edge: &Edge,
    route: &'static str,
    started: Instant,
    result: Result<Response, ApiError>,
) -> Response {
    let response = result.unwrap_or_else(IntoResponse::into_response);
    edge.metrics
        .other(route, response.status(), started.elapsed());
    response
}
