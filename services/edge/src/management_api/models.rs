//! `GET /api/v1/models`: what the caller can route now, as `GET /v1/models` lists it
//! (OpenAI's list shape with provider, key source, upstream name and whether the key's
//! provider listed it), under the management API so the console's session cookie reaches
//! it; the model API takes gateway tokens only.

use std::time::Instant;

use axum::extract::State;
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use keyroute_proto::router::v1::ListModelsRequest;
use serde_json::{Value, json};

use crate::management_api::caller::Caller;
use crate::management_api::error::ApiError;
use crate::management_api::output::{finish, reply};
use crate::model_api::models::openai_entry;
use crate::state::Edge;

async fn list_models(edge: &Edge, headers: &HeaderMap) -> Result<Response, ApiError> {
    let caller = Caller::of(edge, headers).await?;
    // Built once here so a malformed token is refused before any router is tried.
    let mut first = Some(caller.request(ListModelsRequest {}, headers)?);
    let next = || {
        first
            .take()
            .or_else(|| caller.request(ListModelsRequest {}, headers).ok())
    };
    let models = edge
        .routers
        .call(next, |mut client, request| async move {
            client.list_models(request).await
        })
        .await?
        .into_inner()
        .models;
    let data: Vec<Value> = models.iter().map(openai_entry).collect();
    Ok(reply(
        StatusCode::OK,
        &json!({ "object": "list", "data": data }),
    ))
}

/// Handles `GET /api/v1/models`.
pub async fn list(State(edge): State<Edge>, headers: HeaderMap) -> Response {
    let started = Instant::now();
    let result = list_models(&edge, &headers).await;
    finish(&edge, "api_models", started, result)
}
