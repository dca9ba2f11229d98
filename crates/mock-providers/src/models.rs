//! Model lists, per key, in each provider's shape: OpenAI and every compatible host (Mistral
//! too) `GET /v1/models`, Anthropic `GET /v1/models` paged by `limit` and `after_id`, Gemini
//! `GET /v1beta/models` paged by `pageSize` and `pageToken`. Keys are checked as the chat
//! endpoints check them, and a key's fault applies. A key sees what [`Mock::set_models`] gave
//! it, else the built-in catalog's models of its provider plus [`UNCATALOGED`].

use std::collections::HashMap;
use std::sync::Mutex;

use axum::response::Response;
use keyroute_wire::catalog::Catalog;
use keyroute_wire::registry::WireFormat;
use keyroute_wire::sigv4::uri_decode;
use serde_json::{Value, json};

use crate::{Call, Mock, gemini, lock, openai, respond};

/// A model every provider's default list holds that the built-in catalog lacks: discovery
/// makes it routable by its prefixed id (`openai/mock-discovered-1`) on the key that sees it.
pub const UNCATALOGED: &str = "mock-discovered-1";

/// Each key's own model list, where a test set one.
#[derive(Default)]
pub(crate) struct ModelLists(Mutex<HashMap<String, Vec<String>>>);

impl Mock {
    /// Sets the models `key` sees when it lists its provider's models (in this order).
    pub fn set_models(&self, key: &str, models: &[&str]) {
        lock(&self.0.model_lists.0).insert(
            key.to_owned(),
            models.iter().map(|m| (*m).to_owned()).collect(),
        );
    }

    /// The models `key` sees at `provider`.
    fn models_of(&self, provider: &str, key: &str) -> Vec<String> {
        if let Some(set) = lock(&self.0.model_lists.0).get(key) {
            return set.clone();
        }
        let mut models: Vec<String> = Vec::new();
        if let Ok(catalog) = Catalog::builtin() {
            for offer in catalog.models().iter().flat_map(|m| &m.offers) {
                if offer.provider.id == provider && !models.contains(&offer.upstream) {
                    models.push(offer.upstream.clone());
                }
            }
        }
        models.push(UNCATALOGED.to_owned());
        models
    }
}

fn query(call: &Call) -> HashMap<String, String> {
    call.query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), uri_decode(v)))
        .collect()
}

fn display(id: &str) -> String {
    format!("Mock {id}")
}

fn anthropic_error(status: u16, kind: &str, message: &str) -> Response {
    let body = json!({ "type": "error", "error": { "type": kind, "message": message } });
    respond::json(status, body.to_string().into_bytes())
}

/// The fault set for `key` (or the request's header): its delay, then its error if any.
async fn faulted(call: &Call, key: &str, shape: fn(u16) -> Response) -> Option<Response> {
    let fault = match call.fault(key) {
        Ok(fault) => fault,
        Err(message) => return Some(openai::error(400, "invalid_request_error", None, &message)),
    };
    tokio::time::sleep(fault.first_byte_delay).await;
    fault.status.map(shape)
}

/// Serves a model-list request, or 404 where the provider has no such route.
pub async fn list(call: Call) -> Response {
    match call.provider.format {
        WireFormat::OpenAiChat(_) if call.path.ends_with("/models") => openai_list(call).await,
        WireFormat::Anthropic if call.path == "/v1/models" => anthropic_list(call).await,
        WireFormat::Gemini if call.path == "/v1beta/models" => gemini_list(call).await,
        _ => respond::json(
            404,
            br#"{"error":"no such route for this provider"}"#.to_vec(),
        ),
    }
}

async fn openai_list(call: Call) -> Response {
    let key = match openai::authenticate(&call) {
        Ok(key) => key,
        Err(response) => return *response,
    };
    if let Some(response) = faulted(&call, &key, |s| openai::fault_error(s, None)).await {
        return response;
    }
    let data: Vec<Value> = call
        .mock
        .models_of(call.provider.id, &key)
        .iter()
        .map(|id| json!({ "id": id, "object": "model", "created": 1_700_000_000, "owned_by": call.provider.id }))
        .collect();
    respond::json(
        200,
        json!({ "object": "list", "data": data })
            .to_string()
            .into_bytes(),
    )
}

async fn anthropic_list(call: Call) -> Response {
    let Some(key) = call.header("x-api-key").map(str::to_owned) else {
        return anthropic_error(401, "authentication_error", "x-api-key header is required");
    };
    if !call.mock.has_key("anthropic", &key) {
        return anthropic_error(401, "authentication_error", "invalid x-api-key");
    }
    if call.header("anthropic-version").is_none() {
        return anthropic_error(
            400,
            "invalid_request_error",
            "anthropic-version: header is required",
        );
    }
    let shape = |status| {
        anthropic_error(
            status,
            keyroute_wire::anthropic::error_type(status),
            "injected fault",
        )
    };
    if let Some(response) = faulted(&call, &key, shape).await {
        return response;
    }
    let params = query(&call);
    let limit = match params.get("limit").map(|l| l.parse::<usize>()) {
        None => 20,
        Some(Ok(limit)) if (1..=1000).contains(&limit) => limit,
        Some(_) => {
            return anthropic_error(
                400,
                "invalid_request_error",
                "limit: must be between 1 and 1000",
            );
        }
    };
    let all = call.mock.models_of("anthropic", &key);
    let start = match params.get("after_id") {
        None => 0,
        Some(after) => match all.iter().position(|id| id == after) {
            Some(index) => index + 1,
            None => {
                return anthropic_error(400, "invalid_request_error", "after_id: no such model");
            }
        },
    };
    let page: Vec<&String> = all.iter().skip(start).take(limit).collect();
    let data: Vec<Value> = page
        .iter()
        .map(|id| json!({ "type": "model", "id": id, "display_name": display(id), "created_at": "2025-01-01T00:00:00Z" }))
        .collect();
    let body = json!({
        "data": data,
        "has_more": start + page.len() < all.len(),
        "first_id": page.first(),
        "last_id": page.last(),
    });
    respond::json(200, body.to_string().into_bytes())
}

/// Gemini's page tokens are opaque; the mock's are `offset-<n>`.
const TOKEN_PREFIX: &str = "offset-";

async fn gemini_list(call: Call) -> Response {
    let params = query(&call);
    let key = call
        .header("x-goog-api-key")
        .map(str::to_owned)
        .or_else(|| params.get("key").cloned())
        .unwrap_or_default();
    if !call.mock.has_key("google", &key) {
        let detail = json!([{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com" }]);
        return gemini::error(
            400,
            "API key not valid. Please pass a valid API key.",
            detail,
        );
    }
    if let Some(response) = faulted(&call, &key, |s| {
        gemini::error(s, "injected fault", json!([]))
    })
    .await
    {
        return response;
    }
    // Google's default page is 50 and its maximum 1000; larger sizes are coerced down.
    let size = match params.get("pageSize").map(|s| s.parse::<usize>()) {
        None | Some(Ok(0)) => 50,
        Some(Ok(size)) => size.min(1000),
        Some(Err(_)) => return gemini::error(400, "Invalid page_size", json!([])),
    };
    let start = match params.get("pageToken") {
        None => 0,
        Some(token) => match token
            .strip_prefix(TOKEN_PREFIX)
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(offset) => offset,
            None => return gemini::error(400, "Invalid page_token", json!([])),
        },
    };
    let all = call.mock.models_of("google", &key);
    let models: Vec<Value> = all
        .iter()
        .skip(start)
        .take(size)
        .map(|id| json!({ "name": format!("models/{id}"), "displayName": display(id), "supportedGenerationMethods": ["generateContent", "countTokens"] }))
        .collect();
    let mut body = json!({ "models": models });
    if start + size < all.len() {
        body["nextPageToken"] = json!(format!("{TOKEN_PREFIX}{}", start + size));
    }
    respond::json(200, body.to_string().into_bytes())
}
