//! Credentials (sealed), provider settings, leases and KEK rewrapping.

use std::collections::BTreeMap;

use super::sql::{Row, Tx, params};

use super::audit::append;
use super::identities::{get_principal, memberships_of};
use super::{
    AuditRecord, CredentialRecord, FallbackPolicy, LeasableCredential, LeaseData, PrincipalKind,
    ProviderMode, ProviderSettingRecord, RefreshBatch, SecretUpdate, StaleRows, Store, StoreError,
    UnreadableRow, parse_enum,
};
use crate::crypto::Sealed;

const COLUMNS: &str = "id, owner_id, provider, label, enabled, config, fingerprint, ciphertext, nonce, wrapped_key, key_nonce, kek_version, created_at, updated_at, aad_version, last_tested_at, last_test_outcome";

struct RawCredential {
    record: CredentialRecord,
    config: String,
}

fn from_row(row: &Row<'_>) -> Result<RawCredential, StoreError> {
    Ok(RawCredential {
        config: row.get(5)?,
        record: CredentialRecord {
            id: row.get(0)?,
            owner_id: row.get(1)?,
            provider: row.get(2)?,
            label: row.get(3)?,
            enabled: row.get(4)?,
            config: BTreeMap::new(),
            fingerprint: row.get(6)?,
            sealed: Sealed {
                ciphertext: row.get(7)?,
                nonce: row.get(8)?,
                wrapped_key: row.get(9)?,
                key_nonce: row.get(10)?,
                kek_version: row.get(11)?,
                aad_version: row.get(14)?,
            },
            created_at: row.get(12)?,
            updated_at: row.get(13)?,
            last_tested_at: row.get(15)?,
            last_test_outcome: row.get(16)?,
        },
    })
}

fn finish(raw: RawCredential) -> Result<CredentialRecord, StoreError> {
    let mut record = raw.record;
    record.config = serde_json::from_str(&raw.config).map_err(|_| {
        StoreError::Corrupt(format!("credential {} has unreadable config", record.id))
    })?;
    Ok(record)
}

fn config_json(config: &BTreeMap<String, String>) -> Result<String, StoreError> {
    serde_json::to_string(config).map_err(|error| StoreError::Backend(error.to_string()))
}

fn get(tx: &Tx<'_>, id: &str) -> Result<Option<CredentialRecord>, StoreError> {
    tx.query_opt(
        &format!("SELECT {COLUMNS} FROM credentials WHERE id = ?1"),
        params![id],
        from_row,
    )?
    .map(finish)
    .transpose()
}

fn require(tx: &Tx<'_>, id: &str) -> Result<CredentialRecord, StoreError> {
    get(tx, id)?.ok_or_else(|| StoreError::NotFound(format!("credential {id}")))
}

fn list(
    tx: &Tx<'_>,
    owner_id: &str,
    enabled_only: bool,
) -> Result<Vec<CredentialRecord>, StoreError> {
    tx.query_map(
        &format!(
            "SELECT {COLUMNS} FROM credentials WHERE owner_id = ?1 AND (enabled = 1 OR ?2 = 0)
             ORDER BY created_at, id"
        ),
        params![owner_id, enabled_only],
        from_row,
    )?
    .into_iter()
    .map(finish)
    .collect()
}

/// An owner's enabled credentials for a lease, in order; a row whose config cannot be read is
/// reported instead of failing the whole lease.
fn leasable(
    tx: &Tx<'_>,
    owner_id: &str,
    unreadable: &mut Vec<UnreadableRow>,
) -> Result<Vec<CredentialRecord>, StoreError> {
    let rows = tx.query_map(
        &format!(
            "SELECT {COLUMNS} FROM credentials WHERE owner_id = ?1 AND enabled = 1
             ORDER BY created_at, id"
        ),
        params![owner_id],
        from_row,
    )?;
    let mut credentials = Vec::new();
    for raw in rows {
        let (id, owner) = (raw.record.id.clone(), raw.record.owner_id.clone());
        match finish(raw) {
            Ok(record) => credentials.push(record),
            Err(error) => unreadable.push(UnreadableRow {
                credential_id: id,
                owner_id: owner,
                reason: error.to_string(),
            }),
        }
    }
    Ok(credentials)
}

fn setting_from_row(row: &Row<'_>) -> Result<(String, String, String, String, i64), StoreError> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
    ))
}

fn settings(tx: &Tx<'_>, owner_id: &str) -> Result<Vec<ProviderSettingRecord>, StoreError> {
    let rows = tx.query_map(
        "SELECT owner_id, provider, mode, fallback, updated_at FROM provider_settings
         WHERE owner_id = ?1 ORDER BY provider",
        params![owner_id],
        setting_from_row,
    )?;
    rows.into_iter()
        .map(|raw| {
            let (owner_id, provider, mode, fallback, updated_at) = raw;
            Ok(ProviderSettingRecord {
                mode: parse_enum(&mode, ProviderMode::parse, "provider mode")?,
                fallback: parse_enum(&fallback, FallbackPolicy::parse, "fallback policy")?,
                owner_id,
                provider,
                updated_at,
            })
        })
        .collect()
}

impl Store {
    /// Stores a new sealed credential; a second one for the same owner, provider and label
    /// fails with `AlreadyExists` naming the first.
    pub async fn insert_credential(
        &self,
        record: CredentialRecord,
        audit: AuditRecord,
    ) -> Result<(), StoreError> {
        self.write(move |tx| {
            get_principal(tx, &record.owner_id)?.ok_or_else(|| StoreError::NotFound(format!("owner {}", record.owner_id)))?;
            let existing: Option<String> = tx.query_opt(
                "SELECT id FROM credentials WHERE owner_id = ?1 AND provider = ?2 AND label = ?3",
                params![record.owner_id, record.provider, record.label],
                |row| row.get(0),
            )?;
            if let Some(existing_id) = existing {
                return Err(StoreError::AlreadyExists { existing_id });
            }
            tx.execute(
                &format!("INSERT INTO credentials ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"),
                params![
                    record.id,
                    record.owner_id,
                    record.provider,
                    record.label,
                    record.enabled,
                    config_json(&record.config)?,
                    record.fingerprint,
                    record.sealed.ciphertext,
                    record.sealed.nonce,
                    record.sealed.wrapped_key,
                    record.sealed.key_nonce,
                    record.sealed.kek_version,
                    record.created_at,
                    record.updated_at,
                    record.sealed.aad_version,
                    record.last_tested_at,
                    record.last_test_outcome
                ],
            )?;
            append(tx, &audit)
        })
        .await
    }

    /// Replaces a credential's sealed secret and config.
    pub async fn update_credential_secret(
        &self,
        id: &str,
        update: SecretUpdate,
        audit: AuditRecord,
    ) -> Result<CredentialRecord, StoreError> {
        let id = id.to_owned();
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE credentials SET config = ?2, fingerprint = ?3, ciphertext = ?4, nonce = ?5,
                 wrapped_key = ?6, key_nonce = ?7, kek_version = ?8, updated_at = ?9, aad_version = ?10
                 WHERE id = ?1",
                params![
                    id,
                    config_json(&update.config)?,
                    update.fingerprint,
                    update.sealed.ciphertext,
                    update.sealed.nonce,
                    update.sealed.wrapped_key,
                    update.sealed.key_nonce,
                    update.sealed.kek_version,
                    update.updated_at,
                    update.sealed.aad_version
                ],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound(format!("credential {id}")));
            }
            append(tx, &audit)?;
            require(tx, &id)
        })
        .await
    }

    pub async fn set_credential_enabled(
        &self,
        id: &str,
        enabled: bool,
        now: i64,
        audit: AuditRecord,
    ) -> Result<CredentialRecord, StoreError> {
        let id = id.to_owned();
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE credentials SET enabled = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, enabled, now],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound(format!("credential {id}")));
            }
            append(tx, &audit)?;
            require(tx, &id)
        })
        .await
    }

    /// Remembers a live test's time and outcome on the key (not a change to the key itself:
    /// `updated_at` stays).
    pub async fn record_credential_test_result(
        &self,
        id: &str,
        tested_at: i64,
        outcome: &str,
        audit: AuditRecord,
    ) -> Result<CredentialRecord, StoreError> {
        let id = id.to_owned();
        let outcome = outcome.to_owned();
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE credentials SET last_tested_at = ?2, last_test_outcome = ?3 WHERE id = ?1",
                params![id, tested_at, outcome],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound(format!("credential {id}")));
            }
            append(tx, &audit)?;
            require(tx, &id)
        })
        .await
    }

    /// Gives a key a new label; another key of the same owner and provider with that label
    /// fails with `AlreadyExists` naming it (labels name routes: `azure/<label>`).
    pub async fn rename_credential(
        &self,
        id: &str,
        label: &str,
        now: i64,
        audit: AuditRecord,
    ) -> Result<CredentialRecord, StoreError> {
        let id = id.to_owned();
        let label = label.to_owned();
        self.write(move |tx| {
            let current = require(tx, &id)?;
            let existing: Option<String> = tx.query_opt(
                "SELECT id FROM credentials WHERE owner_id = ?1 AND provider = ?2 AND label = ?3 AND id <> ?4",
                params![current.owner_id, current.provider, label, id],
                |row| row.get(0),
            )?;
            if let Some(existing_id) = existing {
                return Err(StoreError::AlreadyExists { existing_id });
            }
            tx.execute(
                "UPDATE credentials SET label = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, label, now],
            )?;
            append(tx, &audit)?;
            require(tx, &id)
        })
        .await
    }

    /// Deletes a credential and returns what it was.
    pub async fn delete_credential(
        &self,
        id: &str,
        audit: AuditRecord,
    ) -> Result<CredentialRecord, StoreError> {
        let id = id.to_owned();
        self.write(move |tx| {
            let record = require(tx, &id)?;
            tx.execute("DELETE FROM credentials WHERE id = ?1", params![id])?;
            // The key's rate limit goes with it (no foreign key: targets span tables).
            tx.execute(
                "DELETE FROM rate_limits WHERE scope = 'credential' AND target_id = ?1",
                params![id],
            )?;
            append(tx, &audit)?;
            Ok(record)
        })
        .await
    }

    pub async fn get_credential(&self, id: &str) -> Result<Option<CredentialRecord>, StoreError> {
        let id = id.to_owned();
        self.read(move |tx| get(tx, &id)).await
    }

    /// An owner's credentials, oldest first.
    pub async fn list_credentials(
        &self,
        owner_id: &str,
    ) -> Result<Vec<CredentialRecord>, StoreError> {
        let owner_id = owner_id.to_owned();
        self.read(move |tx| list(tx, &owner_id, false)).await
    }

    pub async fn list_provider_settings(
        &self,
        owner_id: &str,
    ) -> Result<Vec<ProviderSettingRecord>, StoreError> {
        let owner_id = owner_id.to_owned();
        self.read(move |tx| settings(tx, &owner_id)).await
    }

    pub async fn put_provider_setting(
        &self,
        record: ProviderSettingRecord,
        audit: AuditRecord,
    ) -> Result<(), StoreError> {
        self.write(move |tx| {
            get_principal(tx, &record.owner_id)?.ok_or_else(|| StoreError::NotFound(format!("owner {}", record.owner_id)))?;
            tx.execute(
                "INSERT INTO provider_settings (owner_id, provider, mode, fallback, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (owner_id, provider) DO UPDATE SET mode = excluded.mode, fallback = excluded.fallback, updated_at = excluded.updated_at",
                params![record.owner_id, record.provider, record.mode.as_str(), record.fallback.as_str(), record.updated_at],
            )?;
            append(tx, &audit)
        })
        .await
    }

    /// The enabled credentials a principal may use, personal first, then each org's in
    /// membership order, with the provider settings of the principal and its orgs. The lease
    /// is audited in the same transaction.
    pub async fn lease(
        &self,
        principal_id: &str,
        audit: AuditRecord,
    ) -> Result<LeaseData, StoreError> {
        let principal_id = principal_id.to_owned();
        self.write(move |tx| {
            let principal = get_principal(tx, &principal_id)?
                .ok_or_else(|| StoreError::NotFound(format!("principal {principal_id}")))?;
            let mut owners = vec![(principal.id.clone(), principal.kind)];
            if principal.kind == PrincipalKind::User {
                for membership in memberships_of(tx, &principal.id)? {
                    // A disabled org's keys serve none of its members.
                    let enabled = get_principal(tx, &membership.org_id)?
                        .is_some_and(|org| org.disabled_at.is_none());
                    if enabled {
                        owners.push((membership.org_id, PrincipalKind::Org));
                    }
                }
            }
            let mut data = LeaseData::default();
            for (owner_id, owner_kind) in owners {
                data.credentials.extend(
                    leasable(tx, &owner_id, &mut data.unreadable)?
                        .into_iter()
                        .map(|credential| LeasableCredential {
                            credential,
                            owner_kind,
                        }),
                );
                data.settings.extend(settings(tx, &owner_id)?);
            }
            append(tx, &audit)?;
            Ok(data)
        })
        .await
    }

    /// KEK versions referenced by stored data keys.
    pub async fn kek_versions_in_use(&self) -> Result<Vec<u32>, StoreError> {
        self.read(|tx| {
            tx.query_map(
                "SELECT DISTINCT kek_version FROM credentials ORDER BY kek_version",
                params![],
                |row| row.get::<u32>(0),
            )
        })
        .await
    }

    /// Brings up to `limit` stale credentials (see [`StaleRows`]) with ids after `after` to
    /// the current sealing, in one transaction: `refresh` computes each row's new sealed
    /// value, or says why it cannot. A row it cannot refresh, or whose config cannot even be
    /// read, is skipped: left as it is, with the audit event `skip_audit` makes for it (if
    /// any) written in the same transaction. Skipped rows do not stop the batch, and the
    /// next batch starts after the last id seen, so they are not visited twice.
    pub async fn refresh_batch<F, A>(
        &self,
        stale: StaleRows,
        after: String,
        limit: usize,
        refresh: F,
        skip_audit: A,
    ) -> Result<RefreshBatch, StoreError>
    where
        F: Fn(&CredentialRecord) -> Result<Sealed, String> + Send + 'static,
        A: Fn(&CredentialRecord, &str) -> Option<AuditRecord> + Send + 'static,
    {
        self.write(move |tx| {
            let raws: Vec<RawCredential> = tx.query_map(
                &format!(
                    "SELECT {COLUMNS} FROM credentials
                     WHERE (kek_version != ?1 OR aad_version < ?2) AND id > ?3
                     ORDER BY id LIMIT ?4"
                ),
                params![stale.not_under_kek, stale.aad_below, after, limit],
                from_row,
            )?;
            let mut batch = RefreshBatch {
                visited: raws.len(),
                last_id: raws.last().map(|raw| raw.record.id.clone()),
                ..RefreshBatch::default()
            };
            for raw in raws {
                // Without its config when that cannot be read: enough to name and audit it.
                let bare = raw.record.clone();
                let id = bare.id.clone();
                let outcome = match finish(raw) {
                    Ok(record) => refresh(&record).map_err(|reason| (record, reason)),
                    Err(error) => Err((bare, error.to_string())),
                };
                match outcome {
                    Ok(sealed) => {
                        tx.execute(
                            "UPDATE credentials SET ciphertext = ?2, nonce = ?3, wrapped_key = ?4,
                             key_nonce = ?5, kek_version = ?6, aad_version = ?7 WHERE id = ?1",
                            params![
                                id,
                                sealed.ciphertext,
                                sealed.nonce,
                                sealed.wrapped_key,
                                sealed.key_nonce,
                                sealed.kek_version,
                                sealed.aad_version
                            ],
                        )?;
                        batch.replaced += 1;
                    }
                    Err((record, reason)) => {
                        if let Some(audit) = skip_audit(&record, &reason) {
                            append(tx, &audit)?;
                        }
                        batch.skipped.push(UnreadableRow {
                            credential_id: record.id,
                            owner_id: record.owner_id,
                            reason,
                        });
                    }
                }
            }
            Ok(batch)
        })
        .await
    }
}
