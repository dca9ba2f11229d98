//! The middleware in front of every route that limits failed token checks: a request whose
//! token was refused a moment ago is refused again (401) without asking the router or the
//! vault, and a source address over its failure limit is answered 429 with `retry-after`
//! (tokens this edge saw verified lately pass). Every 401 answered for a request that
//! carried a token counts as a failure of that token and of the client's address; the model
//! and management handlers report tokens the router or vault accepted
//! ([`crate::auth_failures::AuthFailures::verified`]).

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};

use crate::auth::gateway_token;
use crate::auth_failures::{Verdict, token_hash};
use crate::management_api::error::ApiError;
use crate::model_api::dialect::Dialect;
use crate::state::Edge;

/// A refusal in the shape the route speaks: Anthropic's for `/v1/messages` (and the model
/// list asked for with `anthropic-version`), OpenAI's for the rest of `/v1`, the management
/// API's elsewhere.
fn refusal(
    path: &str,
    headers: &HeaderMap,
    status: StatusCode,
    code: &'static str,
    message: &str,
) -> Response {
    if !path.starts_with("/v1/") {
        return ApiError::new(status, code, message).into_response();
    }
    let anthropic = path.starts_with("/v1/messages")
        || (path.starts_with("/v1/models") && headers.contains_key("anthropic-version"));
    let dialect = if anthropic {
        Dialect::Anthropic
    } else {
        Dialect::OpenAi
    };
    let openai_code = if status == StatusCode::TOO_MANY_REQUESTS {
        "rate_limit_exceeded"
    } else {
        "invalid_api_key"
    };
    dialect.error(status, message, None, Some(openai_code))
}

/// The middleware; see the module documentation.
pub async fn failed_tokens(
    edge: &Edge,
    request: Request,
    next: impl AsyncFnOnce(Request) -> Response,
) -> Response {
    let Some(token) = gateway_token(request.headers()).map(token_hash) else {
        return next(request).await;
    };
    let addr = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    let failures = &edge.auth_failures;
    match failures.check(&token, addr, Instant::now()) {
        Verdict::Check => {}
        Verdict::Refused => {
            edge.metrics.token_refused("cached");
            return refusal(
                request.uri().path(),
                request.headers(),
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "the gateway token was refused: it is invalid, expired or revoked, or its owner is disabled",
            );
        }
        Verdict::Limited { retry_after } => {
            edge.metrics.token_refused("limited");
            let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
            let mut response = refusal(
                request.uri().path(),
                request.headers(),
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                &format!(
                    "too many failed gateway token checks from this address; retry after {seconds}s"
                ),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            return response;
        }
    }
    let response = next(request).await;
    if response.status() == StatusCode::UNAUTHORIZED {
        edge.metrics.token_refused("checked");
        failures.failed(&token, addr, Instant::now());
    }
    response
}
