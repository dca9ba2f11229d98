//! The caller's own gateway tokens: `GET /api/v1/tokens` (live ones, sessions marked, never a
//! secret), `POST /api/v1/tokens` (`{"name","expires_in_days"?}`; the token shown once, in
//! the 201 answer) and `DELETE /api/v1/tokens/{id}` (only the caller's own).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use keyroute_proto::vault::v1::{
    IssueTokenRequest, ListTokensRequest, RevokeTokenRequest, TokenInfo, TokenKind,
};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::management_api::caller::Caller;
use crate::management_api::error::ApiError;
use crate::management_api::input::{json_body, only_known, string_field};
use crate::management_api::output::{finish, reply, time};
use crate::state::Edge;

/// The longest lifetime a token may be made with here: ten years, as the vault allows.
const MAX_DAYS: i64 = 3650;

fn token_json(token: &TokenInfo, current: &str) -> Value {
    json!({
        "id": token.id,
        "name": token.name,
        "kind": if token.kind() == TokenKind::Session { "session" } else { "api" },
        "last_four": token.last_four,
        "created_at": time(token.created_at.as_ref()),
        "expires_at": time(token.expires_at.as_ref()),
        // Not recorded by the vault (a write per call would be the price).
        "last_used_at": Value::Null,
        "current": token.id == current,
    })
}

async fn list_own(edge: &Edge, headers: &HeaderMap) -> Result<Response, ApiError> {
    let caller = Caller::of(edge, headers).await?;
    let request = ListTokensRequest {
        principal_id: caller.principal.id.clone(),
    };
    let tokens = edge
        .vault()
        .list_tokens(caller.request(request, headers)?)
        .await?
        .into_inner()
        .tokens;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let data: Vec<Value> = tokens
        .iter()
        .filter(|t| t.revoked_at.is_none() && t.kind() != TokenKind::SignIn)
        .filter(|t| t.expires_at.as_ref().is_none_or(|at| at.seconds > now))
        .map(|t| token_json(t, &caller.token_id))
        .collect();
    Ok(reply(StatusCode::OK, &json!({ "data": data })))
}

/// `GET /api/v1/tokens`: the caller's live tokens, newest last.
pub async fn list(State(edge): State<Edge>, headers: HeaderMap) -> Response {
    let started = Instant::now();
    let result = list_own(&edge, &headers).await;
    finish(&edge, "api_tokens_list", started, result)
}

async fn issue(edge: &Edge, headers: &HeaderMap, body: Body) -> Result<Response, ApiError> {
    let caller = Caller::of(edge, headers).await?;
    let object = json_body(edge, headers, body).await?;
    only_known(&object, &["name", "expires_in_days"])?;
    let name = string_field(&object, "name")?
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::invalid("name", "is required"))?;
    if name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "name",
            "must be 1 to 200 characters without control characters",
        ));
    }
    let days = match object.get("expires_in_days") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            value
                .as_i64()
                .filter(|d| (1..=MAX_DAYS).contains(d))
                .ok_or_else(|| {
                    ApiError::invalid(
                        "expires_in_days",
                        format!("must be a whole number of days from 1 to {MAX_DAYS}"),
                    )
                })?,
        ),
    };
    let request = IssueTokenRequest {
        principal_id: caller.principal.id.clone(),
        name: name.to_owned(),
        expires_in: days.map(|d| prost_types::Duration {
            seconds: d * 86_400,
            nanos: 0,
        }),
        kind: TokenKind::Api.into(),
    };
    let issued = edge
        .vault()
        .issue_token(caller.request(request, headers)?)
        .await?
        .into_inner();
    let secret = Zeroizing::new(issued.token);
    let info = issued.info.unwrap_or_default();
    let mut body = token_json(&info, "");
    body["token"] = json!(secret.as_str());
    let mut response = reply(StatusCode::CREATED, &body);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `POST /api/v1/tokens`: a new API token for the caller, shown once.
pub async fn create(State(edge): State<Edge>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let result = issue(&edge, &headers, body).await;
    finish(&edge, "api_tokens_create", started, result)
}

async fn revoke(edge: &Edge, headers: &HeaderMap, id: &str) -> Result<Response, ApiError> {
    let caller = Caller::of(edge, headers).await?;
    let request = RevokeTokenRequest {
        token_id: id.to_owned(),
    };
    edge.vault()
        .revoke_token(caller.request(request, headers)?)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /api/v1/tokens/{id}`: revokes one of the caller's tokens (another's is a 404).
pub async fn delete(
    State(edge): State<Edge>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let started = Instant::now();
    let result = revoke(&edge, &headers, &id).await;
    finish(&edge, "api_tokens_delete", started, result)
}
