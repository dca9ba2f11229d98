//! The console's session cookie on the management API, and its CSRF defence. A `/api/v1`
//! request without a bearer token but with the `kr_session` cookie is authenticated by that
//! cookie: the middleware hands the session token on as the bearer token, so every handler
//! and the failed-token guard treat it as one. With the cookie, an unsafe method (POST, PUT,
//! PATCH, DELETE) must send `x-csrf-token` equal to the `kr_csrf` cookie and to the value the
//! session's token derives (double submit, bound to the session), and an `Origin`, when sent,
//! must be the edge's own; otherwise 403. Bearer calls are untouched, and the model API
//! (`/v1/...`) never reads the cookie.

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, StatusCode, header};

use crate::auth::gateway_token;
use crate::cookies;
use crate::management_api::error::ApiError;

fn forbidden(message: &str) -> Response {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", message).into_response()
}

fn unsafe_method(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The middleware; see the module documentation.
pub async fn session_cookie(
    mut request: Request,
    next: impl AsyncFnOnce(Request) -> Response,
) -> Response {
    let path = request.uri().path();
    if !(path == "/api/v1" || path.starts_with("/api/v1/"))
        || gateway_token(request.headers()).is_some()
    {
        return next(request).await;
    }
    let headers = request.headers();
    let unsafe_call = unsafe_method(request.method());
    if unsafe_call && !cookies::same_origin(headers) {
        return forbidden(
            "cross-origin request refused: the Origin header is not this console's origin",
        );
    }
    // Signing in needs no session yet: its body carries the token or code.
    if path == "/api/v1/session" && request.method() == Method::POST {
        return next(request).await;
    }
    let Some(session) = cookies::get(headers, cookies::SESSION) else {
        return next(request).await;
    };
    if unsafe_call {
        let expected = cookies::csrf_for(session);
        let sent = headers
            .get(cookies::CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let cookie = cookies::get(headers, cookies::CSRF).unwrap_or("");
        if sent.is_empty() {
            return forbidden(
                "missing CSRF token: with the session cookie, send the kr_csrf cookie's value in the x-csrf-token header",
            );
        }
        if !cookies::same(sent, cookie) || !cookies::same(sent, &expected) {
            return forbidden(
                "wrong CSRF token: the x-csrf-token header must equal the kr_csrf cookie of this session; sign in again if it persists",
            );
        }
    }
    let Ok(bearer) = HeaderValue::from_str(&format!("Bearer {session}")) else {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "the session cookie is malformed; sign in again",
        )
        .into_response();
    };
    request.headers_mut().insert(header::AUTHORIZATION, bearer);
    next(request).await
}
