//! The management REST API under `/api/v1`: the caller's keys and their orgs' keys, provider
//! settings, audit, usage and balance. The edge holds no state: each call goes to the vault
//! with the caller's gateway token, and the vault checks roles. Errors have one shape:
//! `{"error":{"code","message","field"}}` (`field` names the input at fault, or is null).

pub mod account;
pub mod keys;
pub mod providers;
pub mod settings;

use std::time::Instant;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, Uri, header};
use keyroute_proto::vault::v1::{AuthenticateRequest, Membership, Principal, Role};
use serde_json::{Map, Value, json};

use crate::model_api::pipeline::gateway_token;
use crate::state::Edge;

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

    /// A vault or router status, mapped once: the code says what kind of failure it was.
    pub fn from_status(status: &tonic::Status) -> Self {
        use tonic::Code;
        let upstream = status
            .metadata()
            .get("x-keyroute-error-origin")
            .is_some_and(|origin| origin == "upstream");
        let (http, code) = match status.code() {
            Code::InvalidArgument | Code::OutOfRange => {
                (StatusCode::BAD_REQUEST, "invalid_request")
            }
            Code::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            Code::PermissionDenied => (StatusCode::FORBIDDEN, "permission_denied"),
            Code::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Code::AlreadyExists => (StatusCode::CONFLICT, "already_exists"),
            Code::ResourceExhausted => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Code::FailedPrecondition if upstream => (StatusCode::BAD_GATEWAY, "upstream_error"),
            Code::FailedPrecondition => (StatusCode::BAD_REQUEST, "failed_precondition"),
            Code::DeadlineExceeded => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
            Code::Unavailable if upstream => (StatusCode::BAD_GATEWAY, "upstream_error"),
            Code::Unavailable | Code::Cancelled => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
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

/// A time as RFC 3339, or null when the vault sent none.
pub fn time(timestamp: Option<&prost_types::Timestamp>) -> Value {
    timestamp.map_or(Value::Null, |ts| {
        Value::String(keyroute_proto::rfc3339(Some(ts)))
    })
}

/// Which input a vault refusal of a key names (`secret`, `label`, `config.<key>`), from
/// the start of its message.
pub fn vault_field(status: &tonic::Status) -> Option<String> {
    let first = status.message().split_whitespace().next()?;
    let field = first.trim_end_matches(':');
    (field == "secret" || field == "label" || field.starts_with("config."))
        .then(|| field.to_owned())
}

/// Wrong method on a known path: 405 in the plain shape.
pub async fn method_not_allowed(method: http::Method, uri: Uri) -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
    .into_response()
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

/// Unknown paths: a 404 in the plain shape (or OpenAI's under `/v1`).
pub async fn not_found(uri: Uri) -> Response {
    let message = format!("no route for {}", uri.path());
    if uri.path().starts_with("/v1/") {
        return crate::model_api::dialect::Dialect::OpenAi.error(
            StatusCode::NOT_FOUND,
            &message,
            None,
            Some("unknown_url"),
        );
    }
    ApiError::not_found(message).into_response()
}

/// Who is calling, as the vault knows them.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token: String,
    pub principal: Principal,
    pub memberships: Vec<Membership>,
}

impl Caller {
    /// Authenticates the request's gateway token with the vault.
    pub async fn of(edge: &Edge, headers: &HeaderMap) -> Result<Self, ApiError> {
        let token = gateway_token(headers).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "a gateway token is required: send `Authorization: Bearer kr_...`",
            )
        })?;
        let reply = edge
            .vault()
            .authenticate(AuthenticateRequest {
                token: token.to_owned(),
            })
            .await?
            .into_inner();
        let principal = reply.principal.ok_or_else(|| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the vault sent no principal",
            )
        })?;
        Ok(Self {
            token: token.to_owned(),
            principal,
            memberships: reply.memberships,
        })
    }

    /// A vault request on the caller's behalf (the vault checks their roles).
    pub fn request<T>(
        &self,
        message: T,
        headers: &HeaderMap,
    ) -> Result<tonic::Request<T>, ApiError> {
        let mut request = tonic::Request::new(message);
        let value = format!("Bearer {}", self.token).parse().map_err(|_| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "the gateway token is malformed",
            )
        })?;
        request.metadata_mut().insert("authorization", value);
        if let Some(id) = headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
        {
            request.metadata_mut().insert("x-request-id", id);
        }
        Ok(request)
    }

    /// The caller's role in `org`, if they belong to it.
    pub fn role_in(&self, org: &str) -> Option<Role> {
        self.memberships
            .iter()
            .find(|m| m.org_id == org)
            .map(|m| m.role())
    }

    /// The principal a call acts on: the caller, or `org` when the caller belongs to it
    /// (a 404 otherwise, so org ids cannot be probed).
    pub fn owner(&self, org: Option<&str>) -> Result<String, ApiError> {
        match org {
            None | Some("") => Ok(self.principal.id.clone()),
            Some(org) if org == self.principal.id => Ok(org.to_owned()),
            Some(org) if self.role_in(org).is_some() => Ok(org.to_owned()),
            Some(org) => Err(ApiError::not_found(format!(
                "organization {org} does not exist or you are not a member"
            ))),
        }
    }
}

/// Reads a bounded JSON object body (none at all reads as `{}`); a 413 when too large, a
/// 400 saying why otherwise.
pub async fn json_body(
    edge: &Edge,
    headers: &HeaderMap,
    body: Body,
) -> Result<Map<String, Value>, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than {} bytes", edge.body_limit),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > edge.body_limit) {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(body, edge.body_limit)
        .await
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
pub fn only_known_query(
    query: &std::collections::HashMap<String, String>,
    known: &[&str],
) -> Result<(), ApiError> {
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
