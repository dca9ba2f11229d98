//! Credential management, provider settings and the audit log, on behalf of owners.

use keyroute_proto::vault::v1 as pb;
use keyroute_proto::vault::v1::RevocationKind;
use serde_json::json;

use super::call::credential_not_found;
use super::{Actor, Call, Vault, new_id, page_size};
use crate::convert::{self, now_ms};
use crate::crypto::{SealContext, open, seal};
use crate::error::VaultError;
use crate::providers::shape_of;
use crate::revocations::Change;
use crate::storage::{CredentialRecord, ProviderSettingRecord, SecretUpdate, StoreError};
use crate::validate::{label_for, validate_for};

/// The outcomes a live key test can have (the router's TestOutcome names).
const TEST_OUTCOMES: [&str; 5] = [
    "ok",
    "key_invalid",
    "no_model_access",
    "out_of_credit",
    "unreachable",
];

fn check_outcome(outcome: &str) -> Result<(), VaultError> {
    if TEST_OUTCOMES.contains(&outcome) {
        Ok(())
    } else {
        Err(VaultError::InvalidArgument(format!(
            "outcome must be one of {}",
            TEST_OUTCOMES.join(", ")
        )))
    }
}

impl Vault {
    async fn require_credential(&self, id: &str) -> Result<CredentialRecord, VaultError> {
        self.store()
            .get_credential(id)
            .await?
            .ok_or_else(|| credential_not_found(id))
    }

    pub(super) async fn create_credential(
        &self,
        call: &Call,
        request: pb::CreateCredentialRequest,
    ) -> Result<pb::CreateCredentialResponse, VaultError> {
        let owner_id = request.owner_id.trim();
        if owner_id.is_empty() {
            return Err(VaultError::InvalidArgument("owner_id is required".into()));
        }
        // Validate before anything else: a bad secret never reaches the store or a log.
        let valid = validate_for(
            &request.provider,
            &request.label,
            &request.secret,
            &request.config,
            &self.inner.egress,
        )?;
        self.authorize_manage(call, owner_id).await?;
        let now = now_ms();
        let id = new_id("cred");
        let context = SealContext {
            credential_id: &id,
            owner_id,
            provider: &request.provider,
            config: &valid.config,
        };
        let sealed = seal(
            valid.secret.as_bytes(),
            &self.inner.keyring.load(),
            &context,
        )?;
        let record = CredentialRecord {
            id: id.clone(),
            owner_id: owner_id.to_owned(),
            provider: request.provider.clone(),
            label: valid.label,
            enabled: !request.disabled,
            config: valid.config,
            fingerprint: valid.fingerprint,
            sealed,
            created_at: now,
            updated_at: now,
            last_tested_at: None,
            last_test_outcome: None,
        };
        let detail = json!({ "provider": record.provider, "label": record.label, "fingerprint": record.fingerprint });
        let audit = call.audit("credential.create", &id, owner_id, detail, now);
        match self.store().insert_credential(record.clone(), audit).await {
            Ok(()) => {}
            Err(StoreError::AlreadyExists { existing_id }) => {
                let label = if record.label.is_empty() {
                    String::new()
                } else {
                    format!(" with label {:?}", record.label)
                };
                return Err(VaultError::AlreadyExists(format!(
                    "{owner_id} already has a credential for {}{label}: {existing_id}",
                    record.provider
                )));
            }
            Err(other) => return Err(other.into()),
        }
        self.inner.revocations.publish(
            RevocationKind::CredentialCreated,
            Change {
                credential_id: &id,
                owner_id,
                ..Change::default()
            },
            now,
        );
        Ok(pb::CreateCredentialResponse {
            credential: Some(convert::credential(record)),
        })
    }

    pub(super) async fn update_credential_secret(
        &self,
        call: &Call,
        request: pb::UpdateCredentialSecretRequest,
    ) -> Result<pb::UpdateCredentialSecretResponse, VaultError> {
        let existing = self.require_credential(&request.credential_id).await?;
        self.authorize_credential(call, &existing, true).await?;
        let valid = validate_for(
            &existing.provider,
            &existing.label,
            &request.secret,
            &request.config,
            &self.inner.egress,
        )?;
        let keyring = self.inner.keyring.load();
        // A row that fails its integrity check may have had its routing config edited in the
        // database: sealing a new secret over it would authenticate that config (the edge
        // sends the stored config back when only the secret changes). Refused; such a key
        // is deleted and added again.
        let stored = SealContext {
            credential_id: &existing.id,
            owner_id: &existing.owner_id,
            provider: &existing.provider,
            config: &existing.config,
        };
        if let Err(error) = open(&existing.sealed, &keyring, &stored) {
            tracing::warn!(credential = %existing.id, owner = %existing.owner_id, reason = %error, "update refused: the stored credential does not open");
            return Err(VaultError::FailedPrecondition(format!(
                "credential {} cannot be updated: {error}; delete it and add it again",
                existing.id
            )));
        }
        // The new config is sealed with the new secret: a config change always re-seals.
        let context = SealContext {
            config: &valid.config,
            ..stored
        };
        let sealed = seal(valid.secret.as_bytes(), &keyring, &context)?;
        let now = now_ms();
        let detail = json!({ "fingerprint": valid.fingerprint, "previous_fingerprint": existing.fingerprint });
        let audit = call.audit(
            "credential.update",
            &existing.id,
            &existing.owner_id,
            detail,
            now,
        );
        let update = SecretUpdate {
            sealed,
            config: valid.config,
            fingerprint: valid.fingerprint,
            updated_at: now,
        };
        let record = self
            .store()
            .update_credential_secret(&existing.id, update, audit)
            .await?;
        self.inner.revocations.publish(
            RevocationKind::CredentialUpdated,
            Change {
                credential_id: &record.id,
                owner_id: &record.owner_id,
                ..Change::default()
            },
            now,
        );
        Ok(pb::UpdateCredentialSecretResponse {
            credential: Some(convert::credential(record)),
        })
    }

    pub(super) async fn set_credential_enabled(
        &self,
        call: &Call,
        request: pb::SetCredentialEnabledRequest,
    ) -> Result<pb::SetCredentialEnabledResponse, VaultError> {
        let existing = self.require_credential(&request.credential_id).await?;
        self.authorize_credential(call, &existing, true).await?;
        let now = now_ms();
        let action = if request.enabled {
            "credential.enable"
        } else {
            "credential.disable"
        };
        let audit = call.audit(action, &existing.id, &existing.owner_id, json!({}), now);
        let record = self
            .store()
            .set_credential_enabled(&existing.id, request.enabled, now, audit)
            .await?;
        let kind = if request.enabled {
            RevocationKind::CredentialUpdated
        } else {
            RevocationKind::CredentialDisabled
        };
        self.inner.revocations.publish(
            kind,
            Change {
                credential_id: &record.id,
                owner_id: &record.owner_id,
                ..Change::default()
            },
            now,
        );
        Ok(pb::SetCredentialEnabledResponse {
            credential: Some(convert::credential(record)),
        })
    }

    pub(super) async fn delete_credential(
        &self,
        call: &Call,
        request: pb::DeleteCredentialRequest,
    ) -> Result<pb::DeleteCredentialResponse, VaultError> {
        let existing = self.require_credential(&request.credential_id).await?;
        self.authorize_credential(call, &existing, true).await?;
        let now = now_ms();
        let detail = json!({ "provider": existing.provider, "fingerprint": existing.fingerprint });
        let audit = call.audit(
            "credential.delete",
            &existing.id,
            &existing.owner_id,
            detail,
            now,
        );
        let record = self.store().delete_credential(&existing.id, audit).await?;
        self.inner.revocations.publish(
            RevocationKind::CredentialDeleted,
            Change {
                credential_id: &record.id,
                owner_id: &record.owner_id,
                ..Change::default()
            },
            now,
        );
        Ok(pb::DeleteCredentialResponse {
            credential: Some(convert::credential(record)),
        })
    }

    pub(super) async fn rename_credential(
        &self,
        call: &Call,
        request: pb::RenameCredentialRequest,
    ) -> Result<pb::RenameCredentialResponse, VaultError> {
        let existing = self.require_credential(&request.credential_id).await?;
        self.authorize_credential(call, &existing, true).await?;
        let label = label_for(&existing.provider, &request.label, &existing.config)?;
        if label == existing.label {
            return Ok(pb::RenameCredentialResponse {
                credential: Some(convert::credential(existing)),
            });
        }
        let now = now_ms();
        let detail = json!({ "label": label, "previous_label": existing.label });
        let audit = call.audit(
            "credential.rename",
            &existing.id,
            &existing.owner_id,
            detail,
            now,
        );
        let record = match self
            .store()
            .rename_credential(&existing.id, &label, now, audit)
            .await
        {
            Ok(record) => record,
            Err(StoreError::AlreadyExists { existing_id }) => {
                return Err(VaultError::AlreadyExists(format!(
                    "{} already has a credential for {} with label {label:?}: {existing_id}",
                    existing.owner_id, existing.provider
                )));
            }
            Err(other) => return Err(other.into()),
        };
        // Routes name keys by label: routers drop the old name with their lease.
        self.inner.revocations.publish(
            RevocationKind::CredentialUpdated,
            Change {
                credential_id: &record.id,
                owner_id: &record.owner_id,
                ..Change::default()
            },
            now,
        );
        Ok(pb::RenameCredentialResponse {
            credential: Some(convert::credential(record)),
        })
    }

    /// Remembers on the key how its last live test went, for a caller who may manage it.
    pub(super) async fn record_credential_test_result(
        &self,
        call: &Call,
        request: pb::RecordCredentialTestResultRequest,
    ) -> Result<pb::RecordCredentialTestResultResponse, VaultError> {
        check_outcome(&request.outcome)?;
        let existing = self.require_credential(&request.credential_id).await?;
        self.authorize_credential(call, &existing, true).await?;
        let now = now_ms();
        let detail = json!({ "outcome": request.outcome, "fingerprint": existing.fingerprint });
        let audit = call.audit(
            "credential.test_result",
            &existing.id,
            &existing.owner_id,
            detail,
            now,
        );
        let record = self
            .store()
            .record_credential_test_result(&existing.id, now, &request.outcome, audit)
            .await?;
        Ok(pb::RecordCredentialTestResultResponse {
            credential: Some(convert::credential(record)),
        })
    }

    pub(super) async fn get_credential(
        &self,
        call: &Call,
        request: pb::GetCredentialRequest,
    ) -> Result<pb::GetCredentialResponse, VaultError> {
        let record = self.require_credential(&request.credential_id).await?;
        self.authorize_credential(call, &record, false).await?;
        Ok(pb::GetCredentialResponse {
            credential: Some(convert::credential(record)),
        })
    }

    pub(super) async fn list_credentials(
        &self,
        call: &Call,
        request: pb::ListCredentialsRequest,
    ) -> Result<pb::ListCredentialsResponse, VaultError> {
        self.authorize_read(call, &request.owner_id).await?;
        let records = self.store().list_credentials(&request.owner_id).await?;
        Ok(pb::ListCredentialsResponse {
            credentials: records.into_iter().map(convert::credential).collect(),
        })
    }

    pub(super) async fn list_provider_settings(
        &self,
        call: &Call,
        request: pb::ListProviderSettingsRequest,
    ) -> Result<pb::ListProviderSettingsResponse, VaultError> {
        self.authorize_read(call, &request.owner_id).await?;
        let records = self
            .store()
            .list_provider_settings(&request.owner_id)
            .await?;
        Ok(pb::ListProviderSettingsResponse {
            settings: records.into_iter().map(convert::setting).collect(),
        })
    }

    pub(super) async fn set_provider_setting(
        &self,
        call: &Call,
        request: pb::SetProviderSettingRequest,
    ) -> Result<pb::SetProviderSettingResponse, VaultError> {
        if shape_of(&request.provider).is_none() {
            return Err(VaultError::InvalidArgument(format!(
                "unknown provider {:?}",
                request.provider
            )));
        }
        let mode = convert::mode_from(request.mode()).ok_or_else(|| {
            VaultError::InvalidArgument("mode is required: managed, custom_key or disabled".into())
        })?;
        let fallback = convert::fallback_from(request.fallback_policy()).ok_or_else(|| {
            VaultError::InvalidArgument(
                "fallback_policy is required: never, when_no_key or when_key_fails".into(),
            )
        })?;
        self.authorize_manage(call, &request.owner_id).await?;
        let now = now_ms();
        let record = ProviderSettingRecord {
            owner_id: request.owner_id.clone(),
            provider: request.provider.clone(),
            mode,
            fallback,
            updated_at: now,
        };
        let detail = json!({ "provider": record.provider, "mode": mode.as_str(), "fallback": fallback.as_str() });
        let target = format!("{}/{}", record.owner_id, record.provider);
        let audit = call.audit(
            "provider_setting.set",
            &target,
            &record.owner_id,
            detail,
            now,
        );
        self.store()
            .put_provider_setting(record.clone(), audit)
            .await?;
        self.inner.revocations.publish(
            RevocationKind::ProviderSettingChanged,
            Change {
                owner_id: &record.owner_id,
                ..Change::default()
            },
            now,
        );
        Ok(pb::SetProviderSettingResponse {
            setting: Some(convert::setting(record)),
        })
    }

    /// Audits a live test a router made with a key on behalf of `principal_id`.
    pub(super) async fn record_credential_test(
        &self,
        call: &Call,
        request: pb::RecordCredentialTestRequest,
    ) -> Result<pb::RecordCredentialTestResponse, VaultError> {
        check_outcome(&request.outcome)?;
        let principal_id = request.principal_id.trim();
        if principal_id.is_empty() {
            return Err(VaultError::InvalidArgument(
                "principal_id is required".into(),
            ));
        }
        let credential = self.require_credential(&request.credential_id).await?;
        // A test the router ran for a platform carries the principal's token: it must be the
        // principal named, and one who may see the key.
        if let Actor::Principal(actor) = &call.actor {
            if actor.id != principal_id {
                return Err(VaultError::PermissionDenied(
                    "principal_id is not the principal whose token was forwarded".into(),
                ));
            }
            self.authorize_credential(call, &credential, false).await?;
        }
        let detail = json!({
            "provider": credential.provider,
            "fingerprint": credential.fingerprint,
            "model": request.model,
            "outcome": request.outcome,
            "latency_ms": request.latency_ms,
        });
        let mut audit = call.audit(
            "credential.test",
            &credential.id,
            &credential.owner_id,
            detail,
            now_ms(),
        );
        audit.actor = principal_id.to_owned();
        self.store().record_audit(audit).await?;
        Ok(pb::RecordCredentialTestResponse {})
    }

    pub(super) async fn list_audit_events(
        &self,
        call: &Call,
        request: pb::ListAuditEventsRequest,
    ) -> Result<pb::ListAuditEventsResponse, VaultError> {
        // The audit log of an org is for those who manage it.
        self.authorize_manage(call, &request.owner_id).await?;
        let before = match request.page_token.as_str() {
            "" => None,
            token => Some(
                token
                    .parse::<i64>()
                    .map_err(|_| VaultError::InvalidArgument("page_token is not valid".into()))?,
            ),
        };
        let limit = page_size(request.page_size);
        let mut events = self
            .store()
            .list_audit(&request.owner_id, before, limit + 1)
            .await?;
        let next_page_token = if events.len() > limit {
            events.truncate(limit);
            events
                .last()
                .map(|event| event.id.to_string())
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(pb::ListAuditEventsResponse {
            events: events.into_iter().map(convert::audit_event).collect(),
            next_page_token,
        })
    }
}
