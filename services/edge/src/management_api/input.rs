//! Reading what a management call sends: a bounded JSON object body, its fields, and the
//! query, refusing what the endpoint does not know.

use std::collections::HashMap;

use axum::body::Body;
use http::{HeaderMap, StatusCode, header};
use serde_json::{Map, Value};

use crate::management_api::error::ApiError;
use crate::state::Edge;

/// The largest management body: keys, settings and budgets are small (a secret is at most
/// 16 KiB), and the vault decodes messages of up to 4 MiB.
pub const MANAGEMENT_BODY_LIMIT: usize = 1024 * 1024;

/// Reads a bounded JSON object body (none at all reads as `{}`); a 413 when too large, a
/// 408 when it does not arrive within the body timeout, a 400 saying why otherwise.
pub async fn json_body(
    edge: &Edge,
    headers: &HeaderMap,
    body: Body,
) -> Result<Map<String, Value>, ApiError> {
    let limit = edge.body_limit.min(MANAGEMENT_BODY_LIMIT);
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large());
    }
    let timeout = edge.limits.body_timeout;
    let bytes = tokio::time::timeout(timeout, axum::body::to_bytes(body, limit))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                format!(
                    "the request body did not arrive within {}s",
                    timeout.as_secs_f64()
                ),
            )
        })?
        .map_err(|_| too_large())?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        // No body is an empty object: required fields are then named one by one.
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(ApiError::invalid("", "the body must be a JSON object")),
        Err(error) => Err(ApiError::invalid(
            "",
            format!("the body is not valid JSON: {error}"),
        )),
    }
}

/// Refuses fields the endpoint does not know, so a typo is not silently ignored.
pub fn only_known(object: &Map<String, Value>, known: &[&str]) -> Result<(), ApiError> {
    match object.keys().find(|key| !known.contains(&key.as_str())) {
        Some(key) => Err(ApiError::invalid(
            key,
            format!("unknown field; expected {}", known.join(", ")),
        )),
        None => Ok(()),
    }
}

/// Refuses query parameters the endpoint does not know (`?monht=` must not be ignored).
pub fn only_known_query(query: &HashMap<String, String>, known: &[&str]) -> Result<(), ApiError> {
    match query.keys().find(|key| !known.contains(&key.as_str())) {
        Some(key) => Err(ApiError::invalid(
            key,
            format!("unknown query parameter; expected {}", known.join(", ")),
        )),
        None => Ok(()),
    }
}

/// An optional string field.
pub fn string_field<'a>(
    object: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a str>, ApiError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(ApiError::invalid(key, "must be a string")),
    }
}
