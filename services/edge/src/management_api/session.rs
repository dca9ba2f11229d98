//! The console's sign-in: `POST /api/v1/session` exchanges a gateway token or a one-time
//! sign-in code for a new short-lived session token held in an HttpOnly cookie, `GET` says
//! who is signed in and for which orgs they act, `DELETE` signs out (revokes the session).
//! The edge keeps no session state: the session is a vault token with an expiry.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use keyroute_proto::vault::v1::{
    PrincipalKind, RevokeTokenRequest, Role, StartSessionRequest, TokenKind,
};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::cookies;
use crate::management_api::caller::Caller;
use crate::management_api::error::ApiError;
use crate::management_api::input::{json_body, only_known, string_field};
use crate::management_api::output::{finish, reply, time};
use crate::state::Edge;

/// A role as the API names it.
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Owner => "owner",
        Role::BillingManager => "billing_manager",
        Role::Member | Role::Unspecified => "member",
    }
}

fn secure(edge: &Edge, headers: &HeaderMap) -> bool {
    edge.session.always_secure || cookies::over_tls(headers)
}

async fn start(edge: &Edge, headers: &HeaderMap, body: Body) -> Result<Response, ApiError> {
    let object = json_body(edge, headers, body).await?;
    only_known(&object, &["token", "code"])?;
    let presented = match (
        string_field(&object, "token")?,
        string_field(&object, "code")?,
    ) {
        (Some(token), None) => Zeroizing::new(token.trim().to_owned()),
        (None, Some(code)) => Zeroizing::new(code.trim().to_owned()),
        _ => {
            return Err(ApiError::invalid(
                "token",
                "send either `token` (a gateway token) or `code` (a sign-in code)",
            ));
        }
    };
    let refused = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "the token or sign-in code was refused: it is invalid, used, expired or revoked",
        )
    };
    let bearer: tonic::metadata::MetadataValue<_> = format!("Bearer {}", presented.as_str())
        .parse()
        .map_err(|_| refused())?;
    let ttl = edge.session.ttl;
    let mut request = tonic::Request::new(StartSessionRequest {
        expires_in: Some(prost_types::Duration {
            seconds: i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX),
            nanos: 0,
        }),
        name: "console session".into(),
    });
    request.metadata_mut().insert("authorization", bearer);
    let issued = match edge.vault().start_session(request).await {
        Ok(reply) => reply.into_inner(),
        Err(status) if status.code() == tonic::Code::Unauthenticated => return Err(refused()),
        Err(status) => return Err(status.into()),
    };
    let session = Zeroizing::new(issued.token);
    let info = issued.info.unwrap_or_default();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let max_age = info.expires_at.as_ref().map_or(ttl, |at| {
        Duration::from_secs(u64::try_from(at.seconds).unwrap_or(0).saturating_sub(now))
    });
    let csrf = cookies::csrf_for(&session);
    let mut response = reply(
        StatusCode::OK,
        &json!({
            "principal_id": info.principal_id,
            "expires_at": time(info.expires_at.as_ref()),
            "csrf": csrf,
        }),
    );
    let headers_out = response.headers_mut();
    for cookie in cookies::set(&session, &csrf, max_age, secure(edge, headers))
        .into_iter()
        .flatten()
    {
        headers_out.append(header::SET_COOKIE, cookie);
    }
    headers_out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `POST /api/v1/session`: `{"token"}` or `{"code"}` for a session cookie.
pub async fn create(State(edge): State<Edge>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let result = start(&edge, &headers, body).await;
    finish(&edge, "api_session_create", started, result)
}

async fn describe(edge: &Edge, headers: &HeaderMap) -> Result<Response, ApiError> {
    let caller = Caller::of(edge, headers).await?;
    let principal = &caller.principal;
    let orgs: Vec<Value> = caller
        .memberships
        .iter()
        .map(|m| json!({ "id": m.org_id, "name": m.org_name, "role": role_name(m.role()) }))
        .collect();
    let kind = match principal.kind() {
        PrincipalKind::Org => "org",
        PrincipalKind::Platform => "platform",
        PrincipalKind::User | PrincipalKind::Unspecified => "user",
    };
    Ok(reply(
        StatusCode::OK,
        &json!({
            "principal_id": principal.id,
            "kind": kind,
            "name": principal.name,
            "email": if principal.email.is_empty() { Value::Null } else { json!(principal.email) },
            "token_kind": if caller.token_kind == TokenKind::Session { "session" } else { "api" },
            "expires_at": time(caller.token_expires_at.as_ref()),
            "orgs": orgs,
        }),
    ))
}

/// `GET /api/v1/session`: who is signed in (cookie or bearer token) and their orgs.
pub async fn get(State(edge): State<Edge>, headers: HeaderMap) -> Response {
    let started = Instant::now();
    let result = describe(&edge, &headers).await;
    finish(&edge, "api_session_get", started, result)
}

async fn end(edge: &Edge, headers: &HeaderMap) -> Result<Response, ApiError> {
    let mut response = StatusCode::NO_CONTENT.into_response();
    match Caller::of(edge, headers).await {
        Ok(caller) if caller.token_kind == TokenKind::Session => {
            let request = RevokeTokenRequest {
                token_id: caller.token_id.clone(),
            };
            edge.vault()
                .revoke_token(caller.request(request, headers)?)
                .await?;
        }
        Ok(_) => {
            return Err(ApiError::invalid(
                "",
                "this is not a console session; revoke a gateway token with DELETE /api/v1/tokens/{id}",
            ));
        }
        // Nothing to revoke (expired, revoked, none): the cookies are cleared all the same.
        Err(error) if error.status == StatusCode::UNAUTHORIZED => {}
        Err(error) => return Err(error),
    }
    for cookie in cookies::clear(secure(edge, headers)) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// `DELETE /api/v1/session`: revokes the session and clears its cookies.
pub async fn delete(State(edge): State<Edge>, headers: HeaderMap) -> Response {
    let started = Instant::now();
    let result = end(&edge, &headers).await;
    finish(&edge, "api_session_delete", started, result)
}
