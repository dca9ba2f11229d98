//! The one error shape of the management API, `{"error":{"code","message","field"}}`, and
//! how a vault or router status becomes it.

use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use keyroute_proto::contract::{self, HttpMapping};
use serde_json::json;

/// A refused management call: the status, a stable code, what went wrong, and which field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    /// A 400 naming the field at fault.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: (!field.is_empty()).then(|| field.to_owned()),
            ..Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// A vault or router status, mapped by the table the model endpoints use too
    /// ([`contract::http_mapping`]): the code says what kind of failure it was.
    pub fn from_status(status: &tonic::Status) -> Self {
        let HttpMapping { status: http, code } = contract::http_mapping(status);
        let http = StatusCode::from_u16(http).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let message = if code == "unavailable" {
            format!("the vault or a router is unavailable: {}", status.message())
        } else {
            status.message().to_owned()
        };
        Self::new(http, code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "error": { "code": self.code, "message": self.message, "field": self.field }
        });
        (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    }
}

impl From<tonic::Status> for ApiError {
    fn from(status: tonic::Status) -> Self {
        Self::from_status(&status)
    }
}

/// Which input a vault refusal of a key names (`secret`, `label`, `config.<key>`), from
/// the start of its message.
pub fn vault_field(status: &tonic::Status) -> Option<String> {
    let first = status.message().split_whitespace().next()?;
    let field = first.trim_end_matches(':');
    (field == "secret" || field == "label" || field.starts_with("config."))
        .then(|| field.to_owned())
}
