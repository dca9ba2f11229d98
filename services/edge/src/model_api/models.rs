//! `GET /v1/models`: what the caller can route now, in OpenAI's list shape, or Anthropic's
//! when the request carries `anthropic-version`: plain catalog ids and the provider-pinned
//! ids of every key the caller can use (`bedrock/...`, `azure/<label>`, `custom/<name>/...`).
//! Each entry names its provider, whether the caller's key or managed routing would serve
//! it, the provider's own name for it (`upstream`), and whether the key's provider listed
//! it (`discovered`).

use std::time::Instant;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, header};
use keyroute_proto::router::v1::{KeySource, ListModelsRequest, ModelInfo};
use serde_json::{Value, json};

use crate::model_api::dialect::Dialect;
use crate::model_api::pipeline::Call;
use crate::state::Edge;

fn key_source(model: &ModelInfo) -> &'static str {
    match model.key_source() {
        KeySource::Managed => "managed",
        _ => "byok",
    }
}

/// One model in OpenAI's list shape, with keyroute's additions (also the console's list).
pub fn openai_entry(m: &ModelInfo) -> Value {
    json!({
        "id": m.id, "object": "model", "created": 0, "owned_by": m.provider,
        "provider": m.provider, "key_source": key_source(m),
        "upstream": m.upstream, "discovered": m.discovered,
    })
}

fn anthropic_entry(m: &ModelInfo) -> Value {
    // A discovered model without a name from its provider goes by its id.
    let display_name = if m.display_name.is_empty() {
        &m.id
    } else {
        &m.display_name
    };
    json!({
        "type": "model", "id": m.id, "display_name": display_name,
        "created_at": "1970-01-01T00:00:00Z",
        "provider": m.provider, "key_source": key_source(m),
        "upstream": m.upstream, "discovered": m.discovered,
    })
}

fn openai_list(models: &[ModelInfo]) -> Value {
    let data: Vec<Value> = models.iter().map(openai_entry).collect();
    json!({ "object": "list", "data": data })
}

fn anthropic_list(models: &[ModelInfo]) -> Value {
    let data: Vec<Value> = models.iter().map(anthropic_entry).collect();
    json!({
        "data": data,
        "has_more": false,
        "first_id": models.first().map(|m| m.id.as_str()),
        "last_id": models.last().map(|m| m.id.as_str()),
    })
}

/// The models the caller can route now, in the dialect the request asks for.
async fn routable(
    edge: &Edge,
    headers: &HeaderMap,
    started: Instant,
) -> Result<(Dialect, Vec<ModelInfo>), Response> {
    let dialect = if headers.contains_key("anthropic-version") {
        Dialect::Anthropic
    } else {
        Dialect::OpenAi
    };
    let call = Call::start(dialect, "models", headers)?;
    let reply = call
        .route(
            edge,
            ListModelsRequest {},
            &|| Some(ListModelsRequest {}),
            |mut client, request| async move { client.list_models(request).await },
            started,
        )
        .await?;
    Ok((dialect, reply.into_inner().models))
}

fn json_ok(edge: &Edge, started: Instant, body: &Value) -> Response {
    edge.metrics
        .other("models", StatusCode::OK, started.elapsed());
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Lists the models the caller can use right now.
pub async fn list(State(edge): State<Edge>, headers: HeaderMap) -> Response {
    let started = Instant::now();
    let (dialect, models) = match routable(&edge, &headers, started).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let body = match dialect {
        Dialect::Anthropic => anthropic_list(&models),
        Dialect::OpenAi => openai_list(&models),
    };
    json_ok(&edge, started, &body)
}

/// One model (`GET /v1/models/{id}`, ids may contain `/`), if the caller can route it now.
pub async fn get(State(edge): State<Edge>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let started = Instant::now();
    let (dialect, models) = match routable(&edge, &headers, started).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let Some(model) = models.iter().find(|m| m.id == id) else {
        return dialect.error(
            StatusCode::NOT_FOUND,
            &format!("model {id:?} does not exist or you cannot route it now (see GET /v1/models)"),
            Some("model"),
            Some("model_not_found"),
        );
    };
    let body = match dialect {
        Dialect::Anthropic => anthropic_entry(model),
        Dialect::OpenAi => openai_entry(model),
    };
    json_ok(&edge, started, &body)
}
