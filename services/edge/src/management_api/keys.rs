//! Provider keys: list, add, rename, replace the secret, enable or disable, delete, test. A
//! saved secret never comes back; every answer carries the key's fingerprint instead, and
//! when and how the key was last tested.

use std::collections::HashMap;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode, header};
use keyroute_proto::router::v1::{TestCredentialRequest, TestOutcome};
use keyroute_proto::vault::v1::{
    CreateCredentialRequest, Credential, DeleteCredentialRequest, GetCredentialRequest,
    ListCredentialsRequest, RecordCredentialTestResultRequest, RenameCredentialRequest,
    SetCredentialEnabledRequest, UpdateCredentialSecretRequest,
};
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use crate::management_api::caller::Caller;
use crate::management_api::error::{ApiError, vault_field};
use crate::management_api::input::{json_body, only_known, string_field};
use crate::management_api::output::{finish, reply, time};
use crate::state::Edge;

/// A key as the API shows it: everything but the secret.
pub fn key_json(key: &Credential) -> Value {
    let config: Map<String, Value> = key
        .config
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    json!({
        "id": key.id,
        "owner_id": key.owner_id,
        "provider": key.provider,
        "label": key.label,
        "enabled": key.enabled,
        "config": config,
        "fingerprint": key.fingerprint,
        "created_at": time(key.created_at.as_ref()),
        "updated_at": time(key.updated_at.as_ref()),
        "last_tested_at": time(key.last_tested_at.as_ref()),
        "last_test_outcome": (!key.last_test_outcome.is_empty()).then_some(&key.last_test_outcome),
    })
}

/// A vault refusal of a key's label as the API answers it: a taken label is a 409 on
/// `label` naming the key that has it, a bad one a 400 on the field the vault names.
fn label_error(status: &tonic::Status) -> ApiError {
    match status.code() {
        tonic::Code::AlreadyExists => ApiError {
            field: Some("label".into()),
            message: format!(
                "another key of this provider already has this label ({}); choose another",
                status.message()
            ),
            ..ApiError::from_status(status)
        },
        tonic::Code::InvalidArgument => ApiError {
            field: vault_field(status),
            ..ApiError::from_status(status)
        },
        _ => ApiError::from_status(status),
    }
}

fn config_field(object: &Map<String, Value>) -> Result<Option<HashMap<String, String>>, ApiError> {
    match object.get("config") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(config)) => config
            .iter()
            .map(|(key, value)| match value {
                Value::String(value) => Ok((key.clone(), value.clone())),
                _ => Err(ApiError::invalid(
                    &format!("config.{key}"),
                    "must be a string",
                )),
            })
            .collect::<Result<_, _>>()
            .map(Some),
        Some(_) => Err(ApiError::invalid("config", "must be an object of strings")),
    }
}

fn bool_field(object: &Map<String, Value>, key: &str) -> Result<Option<bool>, ApiError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(value)) => Ok(Some(*value)),
        Some(_) => Err(ApiError::invalid(key, "must be true or false")),
    }
}

fn list_reply(keys: &[Credential]) -> Response {
    let data: Vec<Value> = keys.iter().map(key_json).collect();
    reply(StatusCode::OK, &json!({ "data": data }))
}

async fn list_for(
    edge: &Edge,
    headers: &HeaderMap,
    org: Option<&str>,
) -> Result<Response, ApiError> {
    let caller = Caller::of(edge, headers).await?;
    let owner_id = caller.owner(org)?;
    let keys = edge
        .vault()
        .list_credentials(caller.request(ListCredentialsRequest { owner_id }, headers)?)
        .await?
        .into_inner()
        .credentials;
    Ok(list_reply(&keys))
}

async fn create_for(
    edge: &Edge,
    headers: &HeaderMap,
    body: Body,
    org: Option<&str>,
) -> Result<Response, ApiError> {
    let caller = Caller::of(edge, headers).await?;
    let owner_id = caller.owner(org)?;
    let object = json_body(edge, headers, body).await?;
    only_known(
        &object,
        &["provider", "secret", "label", "config", "enabled"],
    )?;
    let provider = string_field(&object, "provider")?
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::invalid("provider", "is required"))?;
    if keyroute_wire::registry::provider(provider).is_none() {
        return Err(ApiError::invalid(
            "provider",
            format!(
                "unknown provider {provider:?}; expected one of {}",
                keyroute_wire::registry::provider_ids()
            ),
        ));
    }
    let secret = Zeroizing::new(
        string_field(&object, "secret")?
            .unwrap_or_default()
            .to_owned(),
    );
    let request = CreateCredentialRequest {
        owner_id,
        provider: provider.to_owned(),
        label: string_field(&object, "label")?
            .unwrap_or_default()
            .to_owned(),
        secret: secret.to_string(),
        config: config_field(&object)?.unwrap_or_default(),
        disabled: !bool_field(&object, "enabled")?.unwrap_or(true),
    };
    let key = edge
        .vault()
        .create_credential(caller.request(request, headers)?)
        .await
        .map_err(|status| match status.code() {
            tonic::Code::AlreadyExists => ApiError {
                field: Some("label".into()),
                message: format!(
                    "a key for {provider} with this label is already configured ({}); replace its secret with PATCH /api/v1/keys/{{id}} or give the new one another label",
                    status.message()
                ),
                ..ApiError::from_status(&status)
            },
            tonic::Code::InvalidArgument => ApiError {
                field: vault_field(&status),
                ..ApiError::from_status(&status)
            },
            _ => ApiError::from_status(&status),
        })?
        .into_inner()
        .credential
        .ok_or_else(|| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the vault sent no key"))?;
    let mut response = reply(StatusCode::CREATED, &key_json(&key));
    if let Ok(location) = format!("/api/v1/keys/{}", key.id).parse() {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `GET /api/v1/keys`: the caller's personal keys.
pub async fn list_own(State(edge): State<Edge>, headers: HeaderMap) -> Response {
    let started = Instant::now();
    let result = list_for(&edge, &headers, None).await;
    finish(&edge, "api_keys", started, result)
}

/// `POST /api/v1/keys`: adds a personal key.
pub async fn create_own(State(edge): State<Edge>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let result = create_for(&edge, &headers, body, None).await;
    finish(&edge, "api_keys", started, result)
}

/// `GET /api/v1/orgs/{org}/keys`: an org's keys, for its members.
pub async fn list_org(
    State(edge): State<Edge>,
    Path(org): Path<String>,
    headers: HeaderMap,
) -> Response {
    let started = Instant::now();
    let result = list_for(&edge, &headers, Some(&org)).await;
    finish(&edge, "api_org_keys", started, result)
}

/// `POST /api/v1/orgs/{org}/keys`: adds an org key (owners and billing managers).
pub async fn create_org(
    State(edge): State<Edge>,
    Path(org): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let result = create_for(&edge, &headers, body, Some(&org)).await;
    finish(&edge, "api_org_keys", started, result)
}

async fn update_key(
    edge: &Edge,
    headers: &HeaderMap,
    id: String,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = Caller::of(edge, headers).await?;
    let object = json_body(edge, headers, body).await?;
    only_known(&object, &["secret", "config", "enabled", "label"])?;
    let label = string_field(&object, "label")?.map(str::to_owned);
    let secret = string_field(&object, "secret")?.map(|s| Zeroizing::new(s.to_owned()));
    let config = config_field(&object)?;
    let enabled = bool_field(&object, "enabled")?;
    if secret.is_none() && config.is_some() {
        return Err(ApiError::invalid(
            "config",
            "config changes together with the secret: send both",
        ));
    }
    if secret.is_none() && enabled.is_none() && label.is_none() {
        return Err(ApiError::invalid(
            "",
            "nothing to change: send `label`, `secret` (and `config`), or `enabled`",
        ));
    }
    let mut vault = edge.vault();
    let mut key = None;
    // The label first: a taken or bad one refuses the call before anything else changes.
    if let Some(label) = label {
        let request = RenameCredentialRequest {
            credential_id: id.clone(),
            label,
        };
        key = vault
            .rename_credential(caller.request(request, headers)?)
            .await
            .map_err(|status| label_error(&status))?
            .into_inner()
            .credential;
    }
    if let Some(secret) = secret {
        // A new secret keeps the key's config unless a new one comes with it.
        let config = match config {
            Some(config) => config,
            None => vault
                .get_credential(caller.request(
                    GetCredentialRequest {
                        credential_id: id.clone(),
                    },
                    headers,
                )?)
                .await?
                .into_inner()
                .credential
                .map(|c| c.config)
                .unwrap_or_default(),
        };
        let request = UpdateCredentialSecretRequest {
            credential_id: id.clone(),
            secret: secret.to_string(),
            config,
        };
        key = vault
            .update_credential_secret(caller.request(request, headers)?)
            .await
            .map_err(|status| ApiError {
                field: vault_field(&status),
                ..ApiError::from_status(&status)
            })?
            .into_inner()
            .credential;
    }
    if let Some(enabled) = enabled {
        let request = SetCredentialEnabledRequest {
            credential_id: id,
            enabled,
        };
        key = vault
            .set_credential_enabled(caller.request(request, headers)?)
            .await?
            .into_inner()
            .credential;
    }
    let key = key.ok_or_else(|| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the vault sent no key",
        )
    })?;
    Ok(reply(StatusCode::OK, &key_json(&key)))
}

/// `PATCH /api/v1/keys/{id}`: renames the key (`{"label"}`), replaces the secret
/// (`{"secret", "config"?}`) or enables or disables it (`{"enabled": false}`).
pub async fn update(
    State(edge): State<Edge>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let result = update_key(&edge, &headers, id, body).await;
    finish(&edge, "api_key", started, result)
}

async fn delete_key(edge: &Edge, headers: &HeaderMap, id: String) -> Result<Response, ApiError> {
    let caller = Caller::of(edge, headers).await?;
    edge.vault()
        .delete_credential(caller.request(DeleteCredentialRequest { credential_id: id }, headers)?)
        .await?;
    Ok(axum::response::IntoResponse::into_response(
        StatusCode::NO_CONTENT,
    ))
}

/// `DELETE /api/v1/keys/{id}`.
pub async fn delete(
    State(edge): State<Edge>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let started = Instant::now();
    let result = delete_key(&edge, &headers, id).await;
    finish(&edge, "api_key", started, result)
}

fn outcome_name(outcome: TestOutcome) -> &'static str {
    match outcome {
        TestOutcome::Ok => "ok",
        TestOutcome::KeyInvalid => "key_invalid",
        TestOutcome::NoModelAccess => "no_model_access",
        TestOutcome::OutOfCredit => "out_of_credit",
        TestOutcome::Unreachable => "unreachable",
        TestOutcome::Unspecified => "unknown",
    }
}

/// Remembers the outcome on the key, so its row shows it on the next visit. Only those who
/// may manage the key may record; a member who tested an org key is answered all the same,
/// and a vault that fails to record does not undo a test that ran (the router audited it).
async fn record_result(
    edge: &Edge,
    caller: &Caller,
    headers: &HeaderMap,
    id: &str,
    outcome: TestOutcome,
) {
    if outcome == TestOutcome::Unspecified {
        return;
    }
    let message = RecordCredentialTestResultRequest {
        credential_id: id.to_owned(),
        outcome: outcome_name(outcome).to_owned(),
    };
    let Ok(request) = caller.request(message, headers) else {
        return;
    };
    match edge.vault().record_credential_test_result(request).await {
        Ok(_) => {}
        Err(status) if status.code() == tonic::Code::PermissionDenied => {
            tracing::debug!(credential = %id, "test result not recorded: the caller may not manage the key");
        }
        Err(status) => {
            tracing::warn!(credential = %id, error = %status.message(), "test result not recorded");
        }
    }
}

async fn test_key(
    edge: &Edge,
    headers: &HeaderMap,
    id: String,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = Caller::of(edge, headers).await?;
    let object = json_body(edge, headers, body).await?;
    only_known(&object, &["model"])?;
    let model = string_field(&object, "model")?
        .unwrap_or_default()
        .to_owned();
    let message = || TestCredentialRequest {
        credential_id: id.clone(),
        model: model.clone(),
    };
    // Built once here so a malformed token is refused before any router is tried.
    let mut first = Some(caller.request(message(), headers)?);
    let next = || {
        first
            .take()
            .or_else(|| caller.request(message(), headers).ok())
    };
    let result = edge
        .routers
        .call(next, |mut client, request| async move {
            client.test_credential(request).await
        })
        .await?
        .into_inner();
    record_result(edge, &caller, headers, &id, result.outcome()).await;
    Ok(reply(
        StatusCode::OK,
        &json!({
            "id": id,
            "outcome": outcome_name(result.outcome()),
            "ok": result.outcome() == TestOutcome::Ok,
            "provider": result.provider,
            "latency_ms": result.latency_ms,
            "provider_message": result.provider_message,
            "models": result.models,
            "models_message": result.models_message,
        }),
    ))
}

/// `POST /api/v1/keys/{id}/test`: one small call with the key (`{"model"}` optional); the
/// outcome says whether the provider accepted it, and `models` which models the provider
/// says the key can use.
pub async fn test(
    State(edge): State<Edge>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let result = test_key(&edge, &headers, id, body).await;
    finish(&edge, "api_key_test", started, result)
}
