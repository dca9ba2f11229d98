//! `GET/PUT /api/v1/provider-settings`: per provider, whether the caller's own keys
//! (`custom_key`), only managed keys (`managed`) or nothing (`disabled`) serve it, and when a
//! failing key may fall back to managed keys. `?org=<id>` acts on an org instead.

use std::collections::HashMap;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use keyroute_proto::vault::v1::{
    FallbackPolicy, ListProviderSettingsRequest, ProviderMode, ProviderSetting,
    SetProviderSettingRequest,
};
use serde_json::{Value, json};

use crate::management_api::caller::Caller;
use crate::management_api::error::ApiError;
use crate::management_api::input::{json_body, only_known, only_known_query, string_field};
use crate::management_api::output::{finish, reply, time};
use crate::state::Edge;

const MODES: [(&str, ProviderMode); 3] = [
    ("managed", ProviderMode::Managed),
    ("custom_key", ProviderMode::CustomKey),
    ("disabled", ProviderMode::Disabled),
];

const POLICIES: [(&str, FallbackPolicy); 3] = [
    ("never", FallbackPolicy::Never),
    ("when_no_key", FallbackPolicy::WhenNoKey),
    ("when_key_fails", FallbackPolicy::WhenKeyFails),
];

fn name_of<T: PartialEq + Copy>(table: &[(&'static str, T)], value: T) -> &'static str {
    table
        .iter()
        .find(|(_, v)| *v == value)
        .map_or("unspecified", |(name, _)| name)
}

fn setting_json(setting: &ProviderSetting) -> Value {
    json!({
        "owner_id": setting.owner_id,
        "provider": setting.provider,
        "mode": name_of(&MODES, setting.mode()),
        "fallback_policy": name_of(&POLICIES, setting.fallback_policy()),
        "updated_at": time(setting.updated_at.as_ref()),
    })
}

fn parse_name<T: Copy>(
    table: &[(&'static str, T)],
    field: &str,
    value: Option<&str>,
) -> Result<Option<T>, ApiError> {
    let Some(value) = value else { return Ok(None) };
    table
        .iter()
        .find(|(name, _)| *name == value)
        .map(|(_, v)| Some(*v))
        .ok_or_else(|| {
            let names: Vec<&str> = table.iter().map(|(name, _)| *name).collect();
            ApiError::invalid(field, format!("must be one of {}", names.join(", ")))
        })
}

async fn list_settings(
    edge: &Edge,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    only_known_query(query, &["org"])?;
    let caller = Caller::of(edge, headers).await?;
    let owner_id = caller.owner(query.get("org").map(String::as_str))?;
    let settings = edge
        .vault()
        .list_provider_settings(caller.request(ListProviderSettingsRequest { owner_id }, headers)?)
        .await?
        .into_inner()
        .settings;
    let data: Vec<Value> = settings.iter().map(setting_json).collect();
    Ok(reply(StatusCode::OK, &json!({ "data": data })))
}

/// Lists the caller's (or `?org=`'s) provider settings.
pub async fn list(
    State(edge): State<Edge>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let started = Instant::now();
    let result = list_settings(&edge, &headers, &query).await;
    finish(&edge, "api_provider_settings", started, result)
}

async fn put_setting(
    edge: &Edge,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    body: Body,
) -> Result<Response, ApiError> {
    only_known_query(query, &["org"])?;
    let caller = Caller::of(edge, headers).await?;
    let owner_id = caller.owner(query.get("org").map(String::as_str))?;
    let object = json_body(edge, headers, body).await?;
    only_known(&object, &["provider", "mode", "fallback_policy"])?;
    let provider = string_field(&object, "provider")?
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::invalid("provider", "is required"))?;
    let mode = parse_name(&MODES, "mode", string_field(&object, "mode")?)?
        .ok_or_else(|| ApiError::invalid("mode", "is required: managed, custom_key or disabled"))?;
    let policy = match parse_name(
        &POLICIES,
        "fallback_policy",
        string_field(&object, "fallback_policy")?,
    )? {
        Some(policy) => policy,
        // Not given: the provider's current policy stays, or the default for a new one.
        None => edge
            .vault()
            .list_provider_settings(caller.request(
                ListProviderSettingsRequest {
                    owner_id: owner_id.clone(),
                },
                headers,
            )?)
            .await?
            .into_inner()
            .settings
            .iter()
            .find(|s| s.provider == provider)
            .map_or(FallbackPolicy::WhenNoKey, ProviderSetting::fallback_policy),
    };
    let request = SetProviderSettingRequest {
        owner_id,
        provider: provider.to_owned(),
        mode: mode as i32,
        fallback_policy: policy as i32,
    };
    let setting = edge
        .vault()
        .set_provider_setting(caller.request(request, headers)?)
        .await?
        .into_inner()
        .setting
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the vault sent no setting",
            )
        })?;
    Ok(reply(StatusCode::OK, &setting_json(&setting)))
}

/// Sets one provider's mode and fallback policy: `{"provider","mode","fallback_policy"?}`.
pub async fn put(
    State(edge): State<Edge>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let result = put_setting(&edge, &headers, &query, body).await;
    finish(&edge, "api_provider_settings", started, result)
}
