//! The revocation watch: one long-lived `WatchRevocations` stream per router, applied to the
//! lease and token caches. It reconnects with backoff when the stream breaks; the lease TTL
//! bounds staleness meanwhile.

use std::sync::Arc;
use std::time::Duration;

use keyroute_proto::vault::v1::{RevocationKind, WatchRevocationsRequest};

use crate::cache::leases::LeaseCache;
use crate::cache::tokens::TokenCache;
use crate::vault::VaultClient;

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The running watch. `connections` counts successful (re)subscriptions.
#[derive(Debug)]
pub struct RevocationWatch {
    pub connections: tokio::sync::watch::Receiver<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RevocationWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts watching; runs until the returned handle is dropped.
pub fn watch(
    vault: VaultClient,
    leases: Arc<LeaseCache>,
    tokens: Arc<TokenCache>,
) -> RevocationWatch {
    let (connected, connections) = tokio::sync::watch::channel(0u64);
    let task = tokio::spawn(async move {
        let mut backoff = MIN_BACKOFF;
        loop {
            match vault
                .clone()
                .watch_revocations(WatchRevocationsRequest {})
                .await
            {
                Ok(response) => {
                    let mut stream = response.into_inner();
                    loop {
                        match stream.message().await {
                            Ok(Some(event)) => {
                                if event.kind() == RevocationKind::Resync {
                                    // Live again: anything before may have been missed.
                                    leases.clear();
                                    tokens.clear();
                                    connected.send_modify(|count| *count += 1);
                                    backoff = MIN_BACKOFF;
                                    continue;
                                }
                                apply(&event, &leases, &tokens);
                            }
                            Ok(None) => {
                                tracing::info!("revocation stream ended; reconnecting");
                                break;
                            }
                            Err(status) => {
                                tracing::warn!(error = %status.message(), "revocation stream broke; reconnecting");
                                break;
                            }
                        }
                    }
                }
                Err(status) => {
                    tracing::warn!(error = %status.message(), backoff = ?backoff, "cannot watch revocations; retrying")
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    });
    RevocationWatch { connections, task }
}

fn apply(
    event: &keyroute_proto::vault::v1::WatchRevocationsResponse,
    leases: &LeaseCache,
    tokens: &TokenCache,
) {
    match event.kind() {
        RevocationKind::CredentialDisabled
        | RevocationKind::CredentialUpdated
        | RevocationKind::CredentialDeleted
        | RevocationKind::CredentialCreated => {
            leases.invalidate_credential(&event.credential_id, &event.owner_id);
        }
        RevocationKind::ProviderSettingChanged => leases.invalidate_owner(&event.owner_id),
        RevocationKind::MembershipChanged => {
            leases.invalidate_principal(&event.principal_id);
            tokens.forget_principal(&event.principal_id);
        }
        RevocationKind::TokenRevoked => tokens.revoke_token(&event.token_id),
        RevocationKind::PrincipalTokensRevoked => tokens.forget_principal(&event.principal_id),
        RevocationKind::PrincipalDisabled => {
            tokens.forget_principal(&event.principal_id);
            leases.invalidate_principal(&event.principal_id);
            // A disabled org's keys leave its members' leases.
            leases.invalidate_owner(&event.principal_id);
        }
        RevocationKind::PrincipalEnabled => leases.invalidate_owner(&event.principal_id),
        RevocationKind::Resync | RevocationKind::Unspecified => {}
    }
}
