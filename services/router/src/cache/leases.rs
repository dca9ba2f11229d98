//! Leased credentials, in memory only. A lease is served from the cache until it expires;
//! past three quarters of its life the next use refreshes it in the background, so a busy
//! caller never waits for the vault. Revocation events drop affected leases at once; with
//! the vault down, leases keep serving until they expire, then calls fail naming the vault.
//!
//! A lease the vault made before a revocation may arrive after the router applied it: it is
//! never cached. Every applied revocation moves a generation counter; a lease is kept only
//! if the generation is still the one read before asking, and is asked for again otherwise.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use keyroute_proto::vault::v1::{self as pb, LeaseCredentialsRequest};
use secrecy::SecretString;

use crate::cache::tokens::Caller;
use crate::error::RouterError;
use crate::policy::rate_limits::LimitTable;
use crate::vault::{VaultClient, vault_error};

/// One usable credential. `Debug` never shows the secret.
#[derive(Debug, Clone)]
pub struct LeasedKey {
    pub id: String,
    pub owner_id: String,
    pub owner_kind: pb::PrincipalKind,
    pub provider: String,
    pub label: String,
    pub config: HashMap<String, String>,
    pub fingerprint: String,
    pub secret: SecretString,
}

/// What a principal may use right now.
#[derive(Debug)]
pub struct Lease {
    pub principal_id: String,
    /// The principal and its orgs: a change to any of them makes the lease stale.
    pub owners: HashSet<String>,
    /// Personal keys first, then each org's, in membership order.
    pub keys: Vec<LeasedKey>,
    pub settings: Vec<pb::ProviderSetting>,
    /// The rate limits on these keys; in the platform's lease, on managed models too.
    pub limits: LimitTable,
    fetched_at: Instant,
    expires_at: Instant,
}

impl Lease {
    /// A lease valid for `ttl` from now (the cache builds them from vault answers; tests and
    /// the managed-key lease use this directly).
    pub fn new(
        principal_id: &str,
        owners: HashSet<String>,
        keys: Vec<LeasedKey>,
        settings: Vec<pb::ProviderSetting>,
        ttl: Duration,
    ) -> Self {
        let now = Instant::now();
        Self {
            principal_id: principal_id.to_owned(),
            owners,
            keys,
            settings,
            limits: LimitTable::default(),
            fetched_at: now,
            expires_at: now + ttl,
        }
    }

    /// The lease with rate limits on its keys (or, the platform's, on managed models).
    #[must_use]
    pub fn with_limits(mut self, limits: LimitTable) -> Self {
        self.limits = limits;
        self
    }

    pub fn expired(&self) -> bool {
        Instant::now() >= self.expires_at
    }

    fn due_for_refresh(&self) -> bool {
        let life = self.expires_at.saturating_duration_since(self.fetched_at);
        Instant::now() >= self.fetched_at + life.mul_f64(0.75)
    }

    pub fn expires_at(&self) -> Instant {
        self.expires_at
    }
}

/// The lease cache shared by every request.
pub struct LeaseCache {
    vault: VaultClient,
    leases: Mutex<HashMap<String, Arc<Lease>>>,
    /// Revocations applied so far; moved only with `leases` locked.
    generation: AtomicU64,
    /// One fetch per principal at a time.
    fetching: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    refreshing: Mutex<HashSet<String>>,
    vault_calls: AtomicU64,
    /// Lease fetches the vault did not answer with a lease (refreshes in the background and
    /// fetches a request waited on).
    refresh_failures: AtomicU64,
    hits: AtomicU64,
    invalidations: tokio::sync::watch::Sender<u64>,
}

impl std::fmt::Debug for LeaseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseCache")
            .field("vault_calls", &self.vault_calls())
            .finish_non_exhaustive()
    }
}

/// How many times a lease overtaken by a revocation is asked for again.
const FETCH_ATTEMPTS: usize = 3;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// A vault timestamp as a local deadline.
fn deadline(timestamp: Option<&prost_types::Timestamp>) -> Instant {
    let Some(timestamp) = timestamp else {
        return Instant::now();
    };
    let at = SystemTime::UNIX_EPOCH
        + Duration::new(
            timestamp.seconds.max(0) as u64,
            timestamp.nanos.max(0) as u32,
        );
    Instant::now() + at.duration_since(SystemTime::now()).unwrap_or_default()
}

impl LeaseCache {
    pub fn new(vault: VaultClient) -> Arc<Self> {
        Arc::new(Self {
            vault,
            leases: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
            fetching: Mutex::new(HashMap::new()),
            refreshing: Mutex::new(HashSet::new()),
            vault_calls: AtomicU64::new(0),
            refresh_failures: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            invalidations: tokio::sync::watch::Sender::new(0),
        })
    }

    /// How many leases were fetched from the vault (for metrics and tests).
    pub fn vault_calls(&self) -> u64 {
        self.vault_calls.load(Ordering::Relaxed)
    }

    /// How many lease fetches from the vault failed (for metrics: a vault that cannot renew
    /// leases leaves routers serving until the cached ones expire).
    pub fn refresh_failures(&self) -> u64 {
        self.refresh_failures.load(Ordering::Relaxed)
    }

    /// How many requests were served from a cached lease.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Ticks whenever leases are dropped by a revocation.
    pub fn invalidations(&self) -> tokio::sync::watch::Receiver<u64> {
        self.invalidations.subscribe()
    }

    /// The caller's current lease.
    pub async fn get(self: &Arc<Self>, caller: &Arc<Caller>) -> Result<Arc<Lease>, RouterError> {
        if let Some(lease) = self.cached(&caller.principal_id) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            if lease.due_for_refresh() && lock(&self.refreshing).insert(caller.principal_id.clone())
            {
                let (cache, caller) = (self.clone(), caller.clone());
                tokio::spawn(async move {
                    if let Err(error) = cache.fetch(&caller).await {
                        tracing::warn!(%error, principal = %caller.principal_id, "background lease refresh failed; the cached lease serves until it expires");
                    }
                    lock(&cache.refreshing).remove(&caller.principal_id);
                });
            }
            return Ok(lease);
        }
        let gate = lock(&self.fetching)
            .entry(caller.principal_id.clone())
            .or_default()
            .clone();
        let _one_fetch = gate.lock().await;
        if let Some(lease) = self.cached(&caller.principal_id) {
            return Ok(lease);
        }
        self.fetch(caller).await
    }

    fn cached(&self, principal_id: &str) -> Option<Arc<Lease>> {
        lock(&self.leases)
            .get(principal_id)
            .filter(|lease| !lease.expired())
            .cloned()
    }

    /// A lease from the vault, cached unless a revocation was applied while it was made (then
    /// asked for again, a few times at most; the newest serves this call uncached).
    async fn fetch(&self, caller: &Caller) -> Result<Arc<Lease>, RouterError> {
        let mut newest = None;
        for _ in 0..FETCH_ATTEMPTS {
            let asked_at = self.generation.load(Ordering::Acquire);
            let lease = self.ask(caller).await?;
            let mut leases = lock(&self.leases);
            if self.generation.load(Ordering::Acquire) == asked_at {
                leases.insert(caller.principal_id.clone(), lease.clone());
                return Ok(lease);
            }
            drop(leases);
            tracing::debug!(principal = %caller.principal_id, "a revocation arrived while the vault made a lease; asking again");
            newest = Some(lease);
        }
        newest.ok_or_else(|| RouterError::Internal("no lease was asked for".into()))
    }

    /// A lease from the vault, uncached.
    async fn ask(&self, caller: &Caller) -> Result<Arc<Lease>, RouterError> {
        self.vault_calls.fetch_add(1, Ordering::Relaxed);
        let reply = self
            .vault
            .clone()
            .lease_credentials(LeaseCredentialsRequest {
                principal_id: caller.principal_id.clone(),
            })
            .await
            .map_err(|status| {
                self.refresh_failures.fetch_add(1, Ordering::Relaxed);
                vault_error(status)
            })?
            .into_inner();
        for unreadable in &reply.unreadable {
            tracing::error!(credential = %unreadable.credential_id, reason = %unreadable.reason, "vault could not open a credential; it is not used");
        }
        let keys = reply
            .credentials
            .into_iter()
            .filter_map(|leased| {
                let owner_kind = leased.owner_kind();
                let credential = leased.credential?;
                Some(LeasedKey {
                    id: credential.id,
                    owner_id: credential.owner_id,
                    owner_kind,
                    provider: credential.provider,
                    label: credential.label,
                    config: credential.config,
                    fingerprint: credential.fingerprint,
                    secret: SecretString::from(leased.secret),
                })
            })
            .collect();
        let mut owners: HashSet<String> = caller.org_ids.iter().cloned().collect();
        owners.insert(caller.principal_id.clone());
        Ok(Arc::new(Lease {
            principal_id: caller.principal_id.clone(),
            owners,
            keys,
            settings: reply.provider_settings,
            limits: LimitTable::new(reply.rate_limits),
            fetched_at: Instant::now(),
            expires_at: deadline(reply.expires_at.as_ref()),
        }))
    }

    fn drop_where(&self, stale: impl Fn(&Lease) -> bool) {
        let dropped = {
            let mut leases = lock(&self.leases);
            self.generation.fetch_add(1, Ordering::AcqRel);
            let before = leases.len();
            leases.retain(|_, lease| !stale(lease));
            before - leases.len()
        };
        if dropped > 0 {
            tracing::debug!(dropped, "dropped stale leases");
        }
        self.invalidations.send_modify(|count| *count += 1);
    }

    /// A credential changed or went away.
    pub fn invalidate_credential(&self, credential_id: &str, owner_id: &str) {
        self.drop_where(|lease| {
            lease.owners.contains(owner_id) || lease.keys.iter().any(|k| k.id == credential_id)
        });
    }

    /// Something an owner (a principal or org) holds changed.
    pub fn invalidate_owner(&self, owner_id: &str) {
        self.drop_where(|lease| lease.owners.contains(owner_id));
    }

    pub fn invalidate_principal(&self, principal_id: &str) {
        self.drop_where(|lease| lease.principal_id == principal_id);
    }

    pub fn clear(&self) {
        self.drop_where(|_| true);
    }
}
