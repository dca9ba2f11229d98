//! `GET /api/v1/providers`: every provider keyroute routes to, the fields its credential
//! takes, and the catalog models it serves. Static data; the token is checked all the same.

use std::time::Instant;

use axum::extract::State;
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use keyroute_wire::catalog::Catalog;
use keyroute_wire::registry;
use serde_json::{Value, json};

use crate::management_api::caller::Caller;
use crate::management_api::output::{finish, reply};
use crate::state::Edge;

/// The providers document, built once per process.
fn document(catalog: &Catalog) -> Value {
    let providers: Vec<Value> = registry::all()
        .into_iter()
        .map(|provider| {
            let fields: Vec<Value> = provider
                .shape
                .fields()
                .iter()
                .map(|f| {
                    json!({
                        "name": f.name, "required": f.required, "secret": f.secret,
                        "description": f.description,
                    })
                })
                .collect();
            let models: Vec<Value> = catalog
                .models()
                .iter()
                .filter_map(|model| {
                    let offer = model.offers.iter().find(|o| o.provider.id == provider.id)?;
                    Some(json!({
                        "id": model.id,
                        "upstream": offer.upstream,
                        "input_usd_per_million": keyroute_wire::catalog::dollars(i64::try_from(offer.input_per_million).unwrap_or(i64::MAX)),
                        "output_usd_per_million": keyroute_wire::catalog::dollars(i64::try_from(offer.output_per_million).unwrap_or(i64::MAX)),
                    }))
                })
                .collect();
            json!({
                "id": provider.id,
                "name": provider.name,
                "format": provider.format.name(),
                "credential": { "shape": provider.shape.name(), "fields": fields },
                "models": models,
            })
        })
        .collect();
    json!({ "data": providers })
}

/// Lists every provider.
pub async fn list(State(edge): State<Edge>, headers: HeaderMap) -> Response {
    static DOCUMENT: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    let started = Instant::now();
    let result = Caller::of(&edge, &headers).await.map(|_| {
        let document = DOCUMENT.get_or_init(|| document(&Catalog::builtin().unwrap_or_default()));
        reply(StatusCode::OK, document)
    });
    finish(&edge, "api_providers", started, result)
}
