//! The edge's one route table: every HTTP route (model endpoints, management API, the
//! console, health, readiness, metrics), the fallbacks, the limit on failed token checks, the
//! session cookie with its CSRF check, each request's span and access line, and the
//! request-id middleware (the last four as one layer, [`crate::front`]).

use axum::extract::State;
use axum::routing::{delete, get, patch, post, put};
use http::HeaderMap;

use crate::console;
use crate::fallback;
use crate::front::FrontLayer;
use crate::management_api::models as management_models;
use crate::management_api::{
    account, billing, keys, providers, rate_limits, session, settings, tokens,
};
use crate::model_api::{anthropic, embeddings, models, openai, responses};
use crate::state::Edge;

/// The HTTP routes, served with `edge` as their state.
pub fn routes(edge: Edge) -> axum::Router {
    axum::Router::new()
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/responses", post(responses::responses))
        .route("/v1/messages", post(anthropic::messages))
        .route("/v1/messages/count_tokens", post(anthropic::count_tokens))
        .route("/v1/fim/completions", post(openai::fim_completions))
        .route("/v1/embeddings", post(embeddings::embeddings))
        .route("/v1/models", get(models::list))
        .route("/v1/models/{*id}", get(models::get))
        .route("/api/v1/keys", get(keys::list_own).post(keys::create_own))
        .route(
            "/api/v1/keys/{id}",
            patch(keys::update).delete(keys::delete),
        )
        .route("/api/v1/keys/{id}/test", post(keys::test))
        .route(
            "/api/v1/orgs/{org}/keys",
            get(keys::list_org).post(keys::create_org),
        )
        .route("/api/v1/orgs/{org}/audit", get(account::org_audit))
        .route("/api/v1/providers", get(providers::list))
        .route("/api/v1/models", get(management_models::list))
        .route(
            "/api/v1/provider-settings",
            get(settings::list).put(settings::put),
        )
        .route("/api/v1/usage", get(account::usage))
        .route("/api/v1/balance", get(account::balance))
        .route("/api/v1/usage/daily", get(billing::daily))
        .route("/api/v1/budget", put(billing::put).delete(billing::delete))
        .route(
            "/api/v1/rate-limits",
            get(rate_limits::list)
                .put(rate_limits::put)
                .delete(rate_limits::delete),
        )
        .route(
            "/api/v1/session",
            post(session::create)
                .get(session::get)
                .delete(session::delete),
        )
        .route("/api/v1/tokens", get(tokens::list).post(tokens::create))
        .route("/api/v1/tokens/{id}", delete(tokens::delete))
        .route("/", get(console::index))
        .route("/console/{*path}", get(console::asset))
        .fallback(fallback::not_found)
        .method_not_allowed_fallback(fallback::method_not_allowed)
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(|State(edge): State<Edge>| async move { edge.ready().await }),
        )
        .route(
            "/metrics",
            get(|State(edge): State<Edge>, headers: HeaderMap| async move {
                keyroute_telemetry::metrics::answer(&headers, |format| edge.metrics.render(format))
            }),
        )
        .layer(FrontLayer::new(edge.clone()))
        .with_state(edge)
}
