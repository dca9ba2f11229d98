//! KEK rotation, online: reload the keyring file, make its active version current, and
//! rewrap every data key in small transactions while the vault keeps serving.

use std::sync::Arc;

use keyroute_proto::vault::v1 as pb;
use serde_json::json;

use super::{Call, Vault};
use crate::convert::now_ms;
use crate::crypto::{Keyring, SealContext, rewrap};
use crate::error::VaultError;

/// Data keys rewrapped per transaction: small enough to keep write latency low for others.
const REWRAP_BATCH: usize = 64;

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

    pub(super) async fn rotate_kek(
        &self,
        call: &Call,
    ) -> Result<pb::RotateKekResponse, VaultError> {
        let _one_at_a_time = self.inner.rotation.lock().await;
        let keyring = self.reload_keyring().await?;
        let active = keyring.active().version();
        let mut rewrapped = 0u64;
        loop {
            let keyring = keyring.clone();
            let batch = self
                .store()
                .rewrap_batch(active, REWRAP_BATCH, move |record| {
                    let context = SealContext {
                        credential_id: &record.id,
                        owner_id: &record.owner_id,
                        provider: &record.provider,
                    };
                    rewrap(&record.sealed, &keyring, &context).map_err(|error| error.to_string())
                })
                .await?;
            rewrapped += batch as u64;
            if batch < REWRAP_BATCH {
                break;
            }
        }
        let versions_in_use = self.store().kek_versions_in_use().await?;
        let now = now_ms();
        let detail = json!({ "active_version": active, "rewrapped": rewrapped, "versions_in_use": versions_in_use });
        self.store()
            .record_audit(call.audit(
                "kek.rotate",
                &format!("kek/v{active}"),
                crate::storage::PLATFORM_PRINCIPAL_ID,
                detail,
                now,
            ))
            .await?;
        tracing::info!(active_version = active, rewrapped, "kek rotation finished");
        Ok(pb::RotateKekResponse {
            active_version: active,
            rewrapped,
            versions_in_use,
        })
    }
}
