//! Leases: decrypted credentials for the router, and the revocation stream that tells it
//! when to drop them.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use keyroute_proto::vault::v1 as pb;
use serde_json::json;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use super::{Call, Vault, new_id};
use crate::convert::{self, now_ms, timestamp};
use crate::crypto::{SealContext, open};
use crate::error::VaultError;
use crate::revocations::resync;
use crate::storage::PLATFORM_PRINCIPAL_ID;

/// The stream type of `WatchRevocations`.
pub type RevocationStream =
    Pin<Box<dyn Stream<Item = Result<pb::WatchRevocationsResponse, tonic::Status>> + Send>>;

impl Vault {
    pub(super) async fn lease_credentials(
        &self,
        call: &Call,
        request: pb::LeaseCredentialsRequest,
    ) -> Result<pb::LeaseCredentialsResponse, VaultError> {
        let principal_id = request.principal_id.trim();
        if principal_id.is_empty() {
            return Err(VaultError::InvalidArgument(
                "principal_id is required".into(),
            ));
        }
        let now = now_ms();
        let lease_id = new_id("lease");
        let expires_at = now + self.inner.lease_ttl.as_millis() as i64;
        let audit = call.audit(
            "credentials.lease",
            &lease_id,
            principal_id,
            json!({ "expires_at": expires_at }),
            now,
        );
        let data = self.store().lease(principal_id, audit).await?;
        let mut keyring = self.inner.keyring.load_full();
        let unknown_version = data
            .credentials
            .iter()
            .any(|leasable| keyring.get(leasable.credential.sealed.kek_version).is_err());
        if unknown_version {
            // Another replica rotated to a KEK version this one has not loaded: the keyring
            // file (one Secret, mounted in every replica) has it by now.
            match self.reload_keyring().await {
                Ok(fresh) => keyring = fresh,
                Err(error) => tracing::warn!(%error, "cannot reload the keyring for a lease"),
            }
        }
        let mut credentials = Vec::with_capacity(data.credentials.len());
        let mut unreadable = Vec::new();
        for row in data.unreadable {
            tracing::error!(credential = %row.credential_id, owner = %row.owner_id, reason = %row.reason, "credential cannot be read; left out of the lease");
            unreadable.push(pb::UnreadableCredential {
                credential_id: row.credential_id,
                owner_id: row.owner_id,
                reason: row.reason,
            });
        }
        for leasable in data.credentials {
            let record = leasable.credential;
            // The config the router gets is the one authenticated here, with the secret.
            let context = SealContext {
                credential_id: &record.id,
                owner_id: &record.owner_id,
                provider: &record.provider,
                config: &record.config,
            };
            let opened = open(&record.sealed, &keyring, &context)
                .map_err(|error| error.to_string())
                .and_then(|plain| {
                    String::from_utf8(plain.to_vec()).map_err(|_| "secret is not utf-8".to_owned())
                });
            match opened {
                Ok(secret) => credentials.push(pb::LeasedCredential {
                    owner_kind: convert::principal_kind(leasable.owner_kind) as i32,
                    credential: Some(convert::credential(record)),
                    secret,
                }),
                Err(reason) => {
                    tracing::error!(credential = %record.id, owner = %record.owner_id, %reason, "credential cannot be opened; left out of the lease");
                    unreadable.push(pb::UnreadableCredential {
                        credential_id: record.id,
                        owner_id: record.owner_id,
                        reason,
                    });
                }
            }
        }
        // The limits on the keys leased, and the managed models' in the platform's own lease.
        let leased_ids = credentials
            .iter()
            .filter_map(|leased| leased.credential.as_ref().map(|c| c.id.clone()))
            .collect();
        let rate_limits = self
            .store()
            .lease_rate_limits(leased_ids, principal_id == PLATFORM_PRINCIPAL_ID)
            .await?
            .into_iter()
            .map(super::rate_limits::rate_limit)
            .collect();
        tracing::debug!(principal = principal_id, lease = %lease_id, credentials = credentials.len(), "leased credentials");
        Ok(pb::LeaseCredentialsResponse {
            lease_id,
            expires_at: Some(timestamp(expires_at)),
            credentials,
            provider_settings: data.settings.into_iter().map(convert::setting).collect(),
            unreadable,
            rate_limits,
        })
    }

    /// A stream that starts with a resync, then carries every committed change, and ends when
    /// the vault shuts down.
    pub(super) fn watch_revocations(&self) -> RevocationStream {
        let events =
            BroadcastStream::new(self.inner.revocations.subscribe()).map(|event| match event {
                Ok(event) => Ok(event),
                Err(BroadcastStreamRecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "revocation subscriber lagged; telling it to resync");
                    Ok(resync(now_ms()))
                }
            });
        let mut shutdown = self.inner.shutdown.clone();
        let stopped = async move {
            let _ = shutdown.wait_for(|stopping| *stopping).await;
        };
        let first = futures::stream::once(async { Ok(resync(now_ms())) });
        Box::pin(first.chain(events).take_until(stopped))
    }
}
