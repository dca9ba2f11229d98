//! `GET /v1/models`: what the caller can route now, in OpenAI's list shape, or Anthropic's
//! when the request carries `anthropic-version`. Each entry names its provider and whether
//! the caller's key or managed routing would serve it.

use std::time::Instant;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, header};
use keyroute_proto::router::v1::{KeySource, ListModelsRequest, ModelInfo};
use serde_json::{Value, json};

use crate::dialect::Dialect;
use crate::pipeline::Call;
use crate::server::Edge;

fn key_source(model: &ModelInfo) -> &'static str {
    match model.key_source() {
        KeySource::Managed => "managed",
        _ => "byok",
    }
}

fn openai_list(models: &[ModelInfo]) -> Value {
    let data: Vec<Value> = models
        .iter()
        .map(|m| {
            json!({
                "id": m.id, "object": "model", "created": 0, "owned_by": m.provider,
                "provider": m.provider, "key_source": key_source(m),
            })
        })
        .collect();
    json!({ "object": "list", "data": data })
}

fn anthropic_list(models: &[ModelInfo]) -> Value {
    let data: Vec<Value> = models
        .iter()
        .map(|m| {
            json!({
                "type": "model", "id": m.id, "display_name": m.display_name,
                "created_at": "1970-01-01T00:00:00Z",
                "provider": m.provider, "key_source": key_source(m),
            })
        })
        .collect();
    json!({
        "data": data,
        "has_more": false,
        "first_id": models.first().map(|m| m.id.as_str()),
        "last_id": models.last().map(|m| m.id.as_str()),
    })
}

/// Lists the models the caller can use right now.
pub async fn list(State(edge): State<Edge>, headers: HeaderMap) -> Response {
    let anthropic = headers.contains_key("anthropic-version");
    let dialect = if anthropic {
        Dialect::Anthropic
    } else {
        Dialect::OpenAi
    };
    let started = Instant::now();
    let call = match Call::start(dialect, "models", &headers) {
        Ok(call) => call,
        Err(response) => return response,
    };
    let reply = call
        .route(
            &edge,
            ListModelsRequest {},
            &|| Some(ListModelsRequest {}),
            |mut client, request| async move { client.list_models(request).await },
            started,
        )
        .await;
    let models = match reply {
        Ok(reply) => reply.into_inner().models,
        Err(response) => return response,
    };
    let body = if anthropic {
        anthropic_list(&models)
    } else {
        openai_list(&models)
    };
    edge.metrics
        .other("models", StatusCode::OK, started.elapsed());
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
