//! Rate limits in requests and tokens per minute: `GET /api/v1/rate-limits`
//! (`?scope=&target_id=`, the limits the caller may see), `PUT /api/v1/rate-limits`
//! (`{"scope","target_id"?,"requests_per_minute"?,"tokens_per_minute"?}`) and
//! `DELETE /api/v1/rate-limits` (`?scope=&target_id=`). The caller's own limit, an org's where
//! their role allows (owners and billing managers), and their keys'; managed models and
//! limits the operator set are the operator's alone. The vault checks all of it; 0 is "not
//! limited", as a budget's 0 is "no cap".

use std::collections::HashMap;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use keyroute_proto::vault::v1::{
    ListRateLimitsRequest, RateLimit, RateLimitScope, SetRateLimitRequest,
};
use serde_json::{Map, Value, json};

use crate::management_api::caller::Caller;
use crate::management_api::error::ApiError;
use crate::management_api::input::{json_body, only_known, only_known_query, string_field};
use crate::management_api::output::{finish, reply, time};
use crate::state::Edge;

/// The vault's scope for the API's name (a 400 naming `scope` for any other).
fn scope_of(name: &str) -> Result<RateLimitScope, ApiError> {
    RateLimitScope::from_name(name).ok_or_else(|| {
        ApiError::invalid(
            "scope",
            "must be one of principal, org, credential, managed_model",
        )
    })
}

/// A rate limit as the API shows it.
pub fn rate_limit_json(limit: &RateLimit) -> Value {
    json!({
        "scope": limit.scope().name(),
        "target_id": limit.target_id,
        "requests_per_minute": limit.requests_per_minute,
        "tokens_per_minute": limit.tokens_per_minute,
        "set_by_operator": limit.set_by_operator,
        "updated_at": time(limit.updated_at.as_ref()),
    })
}

/// The target a call names: `target_id`, or the caller themselves for scope principal.
fn target(
    caller: &Caller,
    scope: RateLimitScope,
    target_id: Option<&str>,
) -> Result<String, ApiError> {
    match target_id.filter(|t| !t.is_empty()) {
        Some(target) => Ok(target.to_owned()),
        None if scope == RateLimitScope::Principal => Ok(caller.principal.id.clone()),
        None => Err(ApiError::invalid(
            "target_id",
            "is required for this scope (an org, credential or model id)",
        )),
    }
}

/// An optional per-minute figure: absent or null is 0 (not limited).
fn per_minute(object: &Map<String, Value>, key: &str) -> Result<u64, ApiError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(0),
        Some(value) => value.as_u64().ok_or_else(|| {
            ApiError::invalid(key, "must be a whole number of at least 0 (0: not limited)")
        }),
    }
}

async fn list_limits(
    edge: &Edge,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    only_known_query(query, &["scope", "target_id"])?;
    let scope = match query.get("scope").filter(|s| !s.is_empty()) {
        None => RateLimitScope::Unspecified,
        Some(name) => scope_of(name)?,
    };
    let caller = Caller::of(edge, headers).await?;
    let request = ListRateLimitsRequest {
        scope: scope.into(),
        target_id: query.get("target_id").cloned().unwrap_or_default(),
    };
    let limits = edge
        .vault()
        .list_rate_limits(caller.request(request, headers)?)
        .await?
        .into_inner()
        .rate_limits;
    let data: Vec<Value> = limits.iter().map(rate_limit_json).collect();
    Ok(reply(StatusCode::OK, &json!({ "data": data })))
}

/// `GET /api/v1/rate-limits`: the limits the caller may see, by scope then target.
pub async fn list(
    State(edge): State<Edge>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let started = Instant::now();
    let result = list_limits(&edge, &headers, &query).await;
    finish(&edge, "api_rate_limits_list", started, result)
}

async fn set_limit(edge: &Edge, headers: &HeaderMap, body: Body) -> Result<Response, ApiError> {
    let object = json_body(edge, headers, body).await?;
    only_known(
        &object,
        &[
            "scope",
            "target_id",
            "requests_per_minute",
            "tokens_per_minute",
        ],
    )?;
    let scope = scope_of(
        string_field(&object, "scope")?.ok_or_else(|| ApiError::invalid("scope", "is required"))?,
    )?;
    let target_id = string_field(&object, "target_id")?;
    let requests_per_minute = per_minute(&object, "requests_per_minute")?;
    let tokens_per_minute = per_minute(&object, "tokens_per_minute")?;
    if requests_per_minute == 0 && tokens_per_minute == 0 {
        return Err(ApiError::invalid(
            "",
            "set requests_per_minute or tokens_per_minute above 0 (DELETE /api/v1/rate-limits removes a limit)",
        ));
    }
    let caller = Caller::of(edge, headers).await?;
    let target_id = target(&caller, scope, target_id)?;
    let request = SetRateLimitRequest {
        scope: scope.into(),
        target_id,
        requests_per_minute,
        tokens_per_minute,
    };
    let stored = edge
        .vault()
        .set_rate_limit(caller.request(request, headers)?)
        .await?
        .into_inner()
        .rate_limit
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the vault sent no rate limit",
            )
        })?;
    Ok(reply(StatusCode::OK, &rate_limit_json(&stored)))
}

/// `PUT /api/v1/rate-limits`: sets or changes one limit; answers it as stored.
pub async fn put(State(edge): State<Edge>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let result = set_limit(&edge, &headers, body).await;
    finish(&edge, "api_rate_limits_put", started, result)
}

async fn remove_limit(
    edge: &Edge,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    only_known_query(query, &["scope", "target_id"])?;
    let scope = scope_of(
        query
            .get("scope")
            .ok_or_else(|| ApiError::invalid("scope", "is required"))?,
    )?;
    let caller = Caller::of(edge, headers).await?;
    let target_id = target(&caller, scope, query.get("target_id").map(String::as_str))?;
    let request = SetRateLimitRequest {
        scope: scope.into(),
        target_id,
        requests_per_minute: 0,
        tokens_per_minute: 0,
    };
    edge.vault()
        .set_rate_limit(caller.request(request, headers)?)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /api/v1/rate-limits`: removes one limit (both figures 0 at the vault).
pub async fn delete(
    State(edge): State<Edge>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let started = Instant::now();
    let result = remove_limit(&edge, &headers, &query).await;
    finish(&edge, "api_rate_limits_delete", started, result)
}

#[cfg(test)]
mod tests {
    use super::scope_of;
    use keyroute_proto::vault::v1::RateLimitScope;

    #[test]
    fn scopes_read_and_print_the_same_names() {
        for scope in RateLimitScope::NAMED {
            assert_eq!(scope_of(scope.name()), Ok(scope));
        }
        assert!(scope_of("managed-model").is_err());
        assert!(scope_of("").is_err());
        assert_eq!(RateLimitScope::Unspecified.name(), "unspecified");
    }
}
