//! The vault's RPC handlers. `grpc.rs` adapts the generated trait; each domain file holds
//! the logic for its RPCs and returns [`VaultError`], mapped to a status in one place.

mod call;
mod credentials;
mod grpc;
mod identities;
mod kek;
mod leases;
mod money;
mod rate_limits;
mod sessions;

pub use call::{Actor, Call};
pub use kek::{KekMetrics, RefreshReport};

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use crate::crypto::Keyring;
use crate::revocations::Revocations;
use crate::storage::Store;

/// The vault service's state, shared by every handler.
#[derive(Debug, Clone)]
pub struct Vault {
    inner: Arc<VaultState>,
}

#[derive(Debug)]
struct VaultState {
    store: Store,
    keyring: ArcSwap<Keyring>,
    keyring_path: PathBuf,
    lease_ttl: Duration,
    revocations: Revocations,
    /// One rotation (or re-seal pass) at a time.
    rotation: tokio::sync::Mutex<()>,
    kek_metrics: KekMetrics,
    /// Where a key's destination may lead (checked when keys are added or changed).
    egress: keyroute_egress::EgressPolicy,
    shutdown: tokio::sync::watch::Receiver<bool>,
}

impl Vault {
    /// `shutdown` turning true ends every revocation stream, so graceful shutdown can finish.
    pub async fn new(
        store: Store,
        keyring: Keyring,
        keyring_path: PathBuf,
        lease_ttl: Duration,
        egress: keyroute_egress::EgressPolicy,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Result<Self, crate::storage::StoreError> {
        let revocations = Revocations::for_store(&store).await?;
        Ok(Self {
            inner: Arc::new(VaultState {
                store,
                keyring: ArcSwap::from_pointee(keyring),
                keyring_path,
                lease_ttl,
                revocations,
                rotation: tokio::sync::Mutex::new(()),
                kek_metrics: KekMetrics::default(),
                egress,
                shutdown,
            }),
        })
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Registers the vault's own series (KEK rotation) beside the per-RPC ones.
    pub fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        self.register_kek_metrics(registry);
    }

    /// The tonic service for this vault.
    pub fn into_service(
        self,
    ) -> keyroute_proto::vault::v1::vault_service_server::VaultServiceServer<Self> {
        keyroute_proto::vault::v1::vault_service_server::VaultServiceServer::new(self)
    }
}

/// Bounds a client-supplied page size.
fn page_size(requested: i32) -> usize {
    match requested {
        n if n <= 0 => 100,
        n => (n as usize).min(1000),
    }
}

/// Random ids with a readable prefix: `usr_`, `org_`, `cred_`, `tok_`, `lease_`.
fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}
