//! What answers when no route does: an unknown path, or a known path with the wrong method.

use axum::response::{IntoResponse, Response};
use http::{StatusCode, Uri};

use crate::management_api::error::ApiError;
use crate::model_api::dialect::Dialect;

/// Unknown paths: a 404 in the plain shape (or OpenAI's under `/v1`).
pub async fn not_found(uri: Uri) -> Response {
    let message = format!("no route for {}", uri.path());
    if uri.path().starts_with("/v1/") {
        return Dialect::OpenAi.error(StatusCode::NOT_FOUND, &message, None, Some("unknown_url"));
    }
    ApiError::not_found(message).into_response()
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
