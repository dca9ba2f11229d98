//! Rate limits: who may set which, the list each caller may see, and the limits routers get
//! with balances and leases. A change to a key's or a managed model's limit is announced on
//! the revocation stream, so routers refresh the leases that carry it; user and org limits
//! reach routers with the balance they re-read every few seconds.

use keyroute_proto::vault::v1 as pb;
use keyroute_proto::vault::v1::RevocationKind;
use serde_json::json;

use super::call::credential_not_found;
use super::{Actor, Call, Vault};
use crate::convert::{now_ms, timestamp};
use crate::error::VaultError;
use crate::revocations::Change;
use crate::storage::{
    PLATFORM_PRINCIPAL_ID, PrincipalKind, RateLimitChange, RateLimitRecord, RateLimitScope,
};

/// The longest target id accepted: ids and catalog model names are far shorter.
const MAX_TARGET_LEN: usize = 256;

/// A request's scope: `None` for UNSPECIFIED; unknown numbers are refused.
fn scope_of(scope: i32) -> Result<Option<RateLimitScope>, VaultError> {
    match pb::RateLimitScope::try_from(scope) {
        Ok(pb::RateLimitScope::Unspecified) => Ok(None),
        Ok(pb::RateLimitScope::Principal) => Ok(Some(RateLimitScope::Principal)),
        Ok(pb::RateLimitScope::Org) => Ok(Some(RateLimitScope::Org)),
        Ok(pb::RateLimitScope::Credential) => Ok(Some(RateLimitScope::Credential)),
        Ok(pb::RateLimitScope::ManagedModel) => Ok(Some(RateLimitScope::ManagedModel)),
        Err(_) => Err(VaultError::InvalidArgument(format!(
            "scope {scope} is not a rate limit scope"
        ))),
    }
}

fn scope_to_pb(scope: RateLimitScope) -> pb::RateLimitScope {
    match scope {
        RateLimitScope::Principal => pb::RateLimitScope::Principal,
        RateLimitScope::Org => pb::RateLimitScope::Org,
        RateLimitScope::Credential => pb::RateLimitScope::Credential,
        RateLimitScope::ManagedModel => pb::RateLimitScope::ManagedModel,
    }
}

/// A stored limit as the API shows it (balances and leases carry them too).
pub(super) fn rate_limit(record: RateLimitRecord) -> pb::RateLimit {
    pb::RateLimit {
        scope: scope_to_pb(record.scope) as i32,
        target_id: record.target_id,
        requests_per_minute: record.requests_per_minute,
        tokens_per_minute: record.tokens_per_minute,
        set_by_operator: record.set_by_operator,
        updated_at: Some(timestamp(record.updated_at)),
    }
}

/// A target id: required, bounded, printable.
fn target_of(target_id: &str) -> Result<&str, VaultError> {
    let target_id = target_id.trim();
    if target_id.is_empty() {
        return Err(VaultError::InvalidArgument("target_id is required".into()));
    }
    if target_id.len() > MAX_TARGET_LEN || target_id.chars().any(char::is_control) {
        return Err(VaultError::InvalidArgument(format!(
            "target_id must be at most {MAX_TARGET_LEN} bytes of printable text"
        )));
    }
    Ok(target_id)
}

/// A figure the database's signed columns can hold.
fn figure_of(field: &str, value: u64) -> Result<u64, VaultError> {
    if i64::try_from(value).is_err() {
        return Err(VaultError::InvalidArgument(format!(
            "{field} must be at most {}",
            i64::MAX
        )));
    }
    Ok(value)
}

impl Vault {
    /// Checks that `target_id` exists as `scope` names it and that `call` may set its limit;
    /// returns who the target belongs to (audit events are filed under it, and routers drop
    /// the leases holding a key of it). Unknown targets and those a principal may not see
    /// answer the same `NotFound` (as `authorize_manage` and `authorize_credential` do), so
    /// ids cannot be probed.
    async fn authorize_rate_limit(
        &self,
        call: &Call,
        scope: RateLimitScope,
        target_id: &str,
    ) -> Result<String, VaultError> {
        let actor = Self::acting_principal(call)?;
        match scope {
            RateLimitScope::Principal | RateLimitScope::Org => {
                let kind = if scope == RateLimitScope::Principal {
                    PrincipalKind::User
                } else {
                    PrincipalKind::Org
                };
                // The words `authorize_manage` answers for an owner a principal may not see.
                let not_found = || VaultError::NotFound(format!("owner {target_id} not found"));
                let target = self
                    .store()
                    .get_principal(target_id)
                    .await?
                    .ok_or_else(not_found)?;
                if target.kind != kind {
                    return Err(not_found());
                }
                self.authorize_manage(call, target_id).await?;
                Ok(target.id)
            }
            RateLimitScope::Credential => {
                // A deleted key's limit went with it.
                let Some(credential) = self.store().get_credential(target_id).await? else {
                    return Err(credential_not_found(target_id));
                };
                self.authorize_credential(call, &credential, true).await?;
                Ok(credential.owner_id)
            }
            RateLimitScope::ManagedModel => match actor {
                None => Ok(PLATFORM_PRINCIPAL_ID.to_owned()),
                Some(_) => Err(VaultError::PermissionDenied(
                    "limits on managed models are the operator's to set".into(),
                )),
            },
        }
    }

    /// `SetRateLimit`: validates, authorizes, writes with its audit event, then tells routers.
    pub(super) async fn set_rate_limit(
        &self,
        call: &Call,
        request: pb::SetRateLimitRequest,
    ) -> Result<pb::SetRateLimitResponse, VaultError> {
        let scope = scope_of(request.scope)?.ok_or_else(|| {
            VaultError::InvalidArgument(
                "scope is required: principal, org, credential or managed_model".into(),
            )
        })?;
        let target_id = target_of(&request.target_id)?;
        let requests_per_minute = figure_of("requests_per_minute", request.requests_per_minute)?;
        let tokens_per_minute = figure_of("tokens_per_minute", request.tokens_per_minute)?;
        let removal = requests_per_minute == 0 && tokens_per_minute == 0;
        let owner_id = self.authorize_rate_limit(call, scope, target_id).await?;
        let by_operator = matches!(call.actor, Actor::Operator);
        let now = now_ms();
        let limit = RateLimitRecord {
            scope,
            target_id: target_id.to_owned(),
            requests_per_minute,
            tokens_per_minute,
            set_by_operator: by_operator,
            updated_at: now,
        };
        let action = if removal {
            "rate_limit.removed"
        } else {
            "rate_limit.set"
        };
        let detail = json!({
            "scope": scope.as_str(),
            "target_id": target_id,
            "requests_per_minute": requests_per_minute,
            "tokens_per_minute": tokens_per_minute,
        });
        let audit = call.audit(action, target_id, &owner_id, detail, now);
        let stored = match self.store().set_rate_limit(limit, audit).await? {
            RateLimitChange::OperatorOwned => {
                return Err(VaultError::PermissionDenied(format!(
                    "the operator set the {} limit on {target_id}: only the operator may change or remove it",
                    scope.as_str()
                )));
            }
            RateLimitChange::Absent => {
                return Ok(pb::SetRateLimitResponse { rate_limit: None });
            }
            RateLimitChange::Removed(_) => None,
            RateLimitChange::Stored(record) => Some(record),
        };
        tracing::info!(
            scope = scope.as_str(),
            target = target_id,
            requests_per_minute,
            tokens_per_minute,
            by_operator,
            change = if stored.is_some() { "set" } else { "removed" },
            "rate limit changed"
        );
        self.announce_rate_limit(scope, target_id, &owner_id, now);
        Ok(pb::SetRateLimitResponse {
            rate_limit: stored.map(rate_limit),
        })
    }

    /// Tells routers which cached leases carry a changed limit: a key's limit travels in
    /// every lease holding the key (the event a change of the key's config sends), a managed
    /// model's in the platform's lease (the event a change of its provider settings sends).
    /// User and org limits travel with the balance, which routers re-read every few seconds.
    fn announce_rate_limit(
        &self,
        scope: RateLimitScope,
        target_id: &str,
        owner_id: &str,
        now: i64,
    ) {
        let (kind, change) = match scope {
            RateLimitScope::Credential => (
                RevocationKind::CredentialUpdated,
                Change {
                    credential_id: target_id,
                    owner_id,
                    ..Change::default()
                },
            ),
            RateLimitScope::ManagedModel => (
                RevocationKind::ProviderSettingChanged,
                Change {
                    owner_id: PLATFORM_PRINCIPAL_ID,
                    ..Change::default()
                },
            ),
            RateLimitScope::Principal | RateLimitScope::Org => return,
        };
        self.inner.revocations.publish(kind, change, now);
    }

    /// `ListRateLimits`: every limit for the operator, the visible ones for a principal.
    pub(super) async fn list_rate_limits(
        &self,
        call: &Call,
        request: pb::ListRateLimitsRequest,
    ) -> Result<pb::ListRateLimitsResponse, VaultError> {
        let scope = scope_of(request.scope)?;
        let target_id = match request.target_id.trim() {
            "" => None,
            target => Some(target_of(target)?),
        };
        let records = match Self::acting_principal(call)? {
            None => self.store().list_rate_limits(scope, target_id).await?,
            Some(principal) => {
                self.store()
                    .visible_rate_limits(&principal.id, scope, target_id)
                    .await?
            }
        };
        Ok(pb::ListRateLimitsResponse {
            rate_limits: records.into_iter().map(rate_limit).collect(),
        })
    }
}
