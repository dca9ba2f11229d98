//! KEK rotation, online: reload the keyring file, make its active version current, and
//! rewrap every data key in small transactions while the vault keeps serving. A row that
//! cannot be opened is skipped, audited and reported, never allowed to stop the others.
//!
//! The same pass re-seals rows whose AAD predates the routing config (see
//! `crypto::envelope`): the vault runs it for those rows alone when it starts, before it
//! binds its port, and rotation re-seals any it still finds.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use keyroute_proto::vault::v1 as pb;
use serde_json::json;

use super::{Call, Vault};
use crate::convert::now_ms;
use crate::crypto::{AAD_VERSION, Keyring, SealContext, refresh};
use crate::error::VaultError;
use crate::storage::{AuditRecord, CredentialRecord, StaleRows, UnreadableRow};

/// Data keys rewrapped per transaction: small enough to keep write latency low for others.
const REWRAP_BATCH: usize = 64;

/// The audit event, if any, to write for a row a pass skipped (given its reason).
type SkipAudit = Arc<dyn Fn(&CredentialRecord, &str) -> Option<AuditRecord> + Send + Sync>;

/// What one pass over stale rows did.
#[derive(Debug, Default)]
pub struct RefreshReport {
    /// Rows now under the active KEK and the current AAD.
    pub refreshed: u64,
    /// Rows that could not be opened and were left as they were.
    pub skipped: Vec<UnreadableRow>,
}

/// The vault's own counters on `/metrics`, beside the per-RPC ones.
#[derive(Debug, Default)]
pub struct KekMetrics {
    rotations: AtomicU64,
    skipped_total: AtomicU64,
    last_skipped: AtomicU64,
}

impl KekMetrics {
    fn rotated(&self, skipped: usize) {
        self.rotations.fetch_add(1, Ordering::Relaxed);
        self.skipped_total
            .fetch_add(skipped as u64, Ordering::Relaxed);
        self.last_skipped.store(skipped as u64, Ordering::Relaxed);
    }
}

impl Vault {
    /// Registers the KEK rotation series, read at each scrape (each reader keeps a handle on
    /// the vault's state).
    pub(super) fn register_kek_metrics(
        &self,
        registry: &mut prometheus_client::registry::Registry,
    ) {
        use keyroute_telemetry::metrics::{sampled_counter, sampled_gauge};
        let read = |pick: fn(&KekMetrics) -> &AtomicU64| {
            let vault = self.clone();
            move || pick(&vault.inner.kek_metrics).load(Ordering::Relaxed)
        };
        registry.register(
            "keyroute_vault_kek_rotations",
            "KEK rotations finished",
            sampled_counter(read(|m| &m.rotations)),
        );
        registry.register(
            "keyroute_vault_kek_rotation_skipped",
            "Credentials KEK rotations could not open and left under their old KEK version",
            sampled_counter(read(|m| &m.skipped_total)),
        );
        registry.register(
            "keyroute_vault_kek_rotation_last_skipped",
            "Credentials the last KEK rotation could not open",
            sampled_gauge(read(|m| &m.last_skipped)),
        );
    }
}

impl Vault {
    /// Loads the keyring file and installs it if every KEK version still referenced by a
    /// stored data key is in it. Fails closed otherwise, keeping the old keyring.
    pub async fn reload_keyring(&self) -> Result<Arc<Keyring>, VaultError> {
        let keyring = Keyring::load(&self.inner.keyring_path)?;
        let versions = keyring.versions();
        let missing: Vec<u32> = self
            .store()
            .kek_versions_in_use()
            .await?
            .into_iter()
            .filter(|version| !versions.contains(version))
            .collect();
        if !missing.is_empty() {
            return Err(VaultError::FailedPrecondition(format!(
                "the keyring file lacks kek versions {missing:?} that stored credentials still use"
            )));
        }
        let keyring = Arc::new(keyring);
        self.inner.keyring.store(keyring.clone());
        Ok(keyring)
    }

    /// Opens every row matching `stale` and stores it again under the active KEK and the
    /// current AAD, in batches; rows that do not open are skipped (and audited as
    /// `skip_audit` says), and the pass goes on.
    async fn refresh_rows(
        &self,
        keyring: &Arc<Keyring>,
        stale: StaleRows,
        skip_audit: SkipAudit,
    ) -> Result<RefreshReport, VaultError> {
        let mut report = RefreshReport::default();
        let mut after = String::new();
        loop {
            let (keyring, skip_audit) = (keyring.clone(), skip_audit.clone());
            let refresh_row = move |record: &CredentialRecord| {
                let context = SealContext {
                    credential_id: &record.id,
                    owner_id: &record.owner_id,
                    provider: &record.provider,
                    config: &record.config,
                };
                refresh(&record.sealed, &keyring, &context).map_err(|error| error.to_string())
            };
            let batch = self
                .store()
                .refresh_batch(
                    stale,
                    after,
                    REWRAP_BATCH,
                    refresh_row,
                    move |record, reason| skip_audit(record, reason),
                )
                .await?;
            report.refreshed += batch.replaced as u64;
            for row in &batch.skipped {
                tracing::warn!(credential = %row.credential_id, owner = %row.owner_id, reason = %row.reason, "credential cannot be opened; left as it is");
            }
            report.skipped.extend(batch.skipped);
            match batch.last_id {
                Some(last) if batch.visited == REWRAP_BATCH => after = last,
                _ => break,
            }
        }
        Ok(report)
    }

    /// Re-seals every row still sealed with the AAD that predates the routing config, so
    /// that its config is authenticated from now on. Run when the vault starts, before it
    /// serves; rows that do not open stay as they are (a lease reports them as unreadable).
    pub async fn reseal_legacy_rows(&self) -> Result<RefreshReport, VaultError> {
        let _one_at_a_time = self.inner.rotation.lock().await;
        let keyring = self.inner.keyring.load_full();
        let stale = StaleRows {
            not_under_kek: None,
            aad_below: AAD_VERSION,
        };
        let report = self
            .refresh_rows(&keyring, stale, Arc::new(|_, _| None))
            .await?;
        if report.refreshed > 0 || !report.skipped.is_empty() {
            tracing::info!(
                resealed = report.refreshed,
                skipped = report.skipped.len(),
                "re-sealed credentials with their routing config in the aad"
            );
        }
        Ok(report)
    }

    pub(super) async fn rotate_kek(
        &self,
        call: &Call,
    ) -> Result<pb::RotateKekResponse, VaultError> {
        let _one_at_a_time = self.inner.rotation.lock().await;
        let keyring = self.reload_keyring().await?;
        let active = keyring.active().version();
        let stale = StaleRows {
            not_under_kek: Some(active),
            aad_below: AAD_VERSION,
        };
        let skip_call = call.clone();
        let skip_audit: SkipAudit = Arc::new(move |record, reason| {
            let detail = json!({
                "provider": record.provider,
                "fingerprint": record.fingerprint,
                "kek_version": record.sealed.kek_version,
                "active_version": active,
                "reason": reason,
            });
            Some(skip_call.audit(
                "kek.rotate.skip",
                &record.id,
                &record.owner_id,
                detail,
                now_ms(),
            ))
        });
        let report = self.refresh_rows(&keyring, stale, skip_audit).await?;
        self.inner.kek_metrics.rotated(report.skipped.len());
        let versions_in_use = self.store().kek_versions_in_use().await?;
        let skipped_ids: Vec<&str> = report
            .skipped
            .iter()
            .map(|row| row.credential_id.as_str())
            .collect();
        let detail = json!({
            "active_version": active,
            "rewrapped": report.refreshed,
            "skipped": skipped_ids,
            "versions_in_use": versions_in_use,
        });
        self.store()
            .record_audit(call.audit(
                "kek.rotate",
                &format!("kek/v{active}"),
                crate::storage::PLATFORM_PRINCIPAL_ID,
                detail,
                now_ms(),
            ))
            .await?;
        tracing::info!(
            active_version = active,
            rewrapped = report.refreshed,
            skipped = report.skipped.len(),
            "kek rotation finished"
        );
        Ok(pb::RotateKekResponse {
            active_version: active,
            rewrapped: report.refreshed,
            versions_in_use,
            skipped: report
                .skipped
                .into_iter()
                .map(|row| pb::UnreadableCredential {
                    credential_id: row.credential_id,
                    owner_id: row.owner_id,
                    reason: row.reason,
                })
                .collect(),
        })
    }
}
