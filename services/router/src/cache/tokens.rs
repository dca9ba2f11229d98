//! Gateway tokens, verified with the vault and cached briefly: a revoked token, or one whose
//! principal is disabled, stops working as soon as the revocation event arrives, and within
//! the cache TTL at worst; an expiring token is kept no longer than it lives. Tokens are
//! keyed by their SHA-256, never stored in clear.
//!
//! An answer the vault gave before a revocation may arrive after the router applied it: it
//! is never cached. Every applied revocation moves a generation counter; an answer is kept
//! only if the generation is still the one read before asking, and is asked for again
//! otherwise.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use keyroute_proto::vault::v1::{AuthenticateRequest, AuthenticateResponse};
use sha2::{Digest, Sha256};

use crate::error::RouterError;
use crate::vault::{VaultClient, vault_error};

/// Who a token belongs to.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal_id: String,
    pub token_id: String,
    /// The orgs the principal belongs to, in membership order.
    pub org_ids: Vec<String>,
}

struct Entry {
    caller: Arc<Caller>,
    until: Instant,
}

/// Where a vault timestamp falls on this process's clock (`None`: it has passed).
fn local_deadline(at: &prost_types::Timestamp) -> Option<Instant> {
    let at = SystemTime::UNIX_EPOCH
        + Duration::new(
            at.seconds.max(0) as u64,
            at.nanos.clamp(0, 999_999_999) as u32,
        );
    let left = at.duration_since(SystemTime::now()).ok()?;
    Instant::now().checked_add(left)
}

/// The cached tokens and the count of revocations applied to them.
#[derive(Default)]
struct Entries {
    tokens: HashMap<[u8; 32], Entry>,
    generation: u64,
}

/// How many times an answer overtaken by a revocation is asked for again before the newest
/// is used for this one call (uncached).
const FETCH_ATTEMPTS: usize = 3;

/// A short-lived cache of verified tokens.
pub struct TokenCache {
    vault: VaultClient,
    ttl: Duration,
    entries: Mutex<Entries>,
    /// Ticks with the generation whenever a revocation is applied.
    revocations: tokio::sync::watch::Sender<u64>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl TokenCache {
    pub fn new(vault: VaultClient, ttl: Duration) -> Self {
        Self {
            vault,
            ttl,
            entries: Mutex::new(Entries::default()),
            revocations: tokio::sync::watch::Sender::new(0),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// The number of revocations applied so far; changes whenever one is.
    pub fn revocations(&self) -> tokio::sync::watch::Receiver<u64> {
        self.revocations.subscribe()
    }

    /// The caller behind `token`, from the cache or the vault.
    pub async fn authenticate(&self, token: &str) -> Result<Arc<Caller>, RouterError> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(entry) = self
            .entries()
            .tokens
            .get(&key)
            .filter(|e| e.until > Instant::now())
        {
            return Ok(entry.caller.clone());
        }
        let mut newest = None;
        for _ in 0..FETCH_ATTEMPTS {
            let asked_at = self.entries().generation;
            let (caller, expires_at) = self.ask(token).await?;
            let mut until = Instant::now() + self.ttl;
            if let Some(expires_at) = &expires_at {
                // Expired on the way here: the vault refuses it from now on.
                let Some(deadline) = local_deadline(expires_at) else {
                    return Err(RouterError::Unauthenticated(
                        "gateway token has expired".into(),
                    ));
                };
                until = until.min(deadline);
            }
            let mut entries = self.entries();
            if entries.generation == asked_at {
                entries.tokens.insert(
                    key,
                    Entry {
                        caller: caller.clone(),
                        until,
                    },
                );
                return Ok(caller);
            }
            drop(entries);
            tracing::debug!("a revocation arrived while the vault checked a token; asking again");
            newest = Some(caller);
        }
        newest.ok_or_else(|| RouterError::Internal("no token check was made".into()))
    }

    /// The vault's answer for `token`, uncached, and when the token expires.
    async fn ask(
        &self,
        token: &str,
    ) -> Result<(Arc<Caller>, Option<prost_types::Timestamp>), RouterError> {
        let reply: AuthenticateResponse = self
            .vault
            .clone()
            .authenticate(AuthenticateRequest {
                token: token.to_owned(),
            })
            .await
            .map_err(vault_error)?
            .into_inner();
        let principal = reply
            .principal
            .ok_or_else(|| RouterError::Internal("vault answered without a principal".into()))?;
        let caller = Arc::new(Caller {
            principal_id: principal.id,
            token_id: reply.token_id,
            org_ids: reply.memberships.into_iter().map(|m| m.org_id).collect(),
        });
        Ok((caller, reply.token_expires_at))
    }

    /// Applies a revocation: drops the entries `stale` names, and makes every answer asked
    /// for before now stale too.
    fn revoke(&self, stale: impl Fn(&Entry) -> bool) {
        let generation = {
            let mut entries = self.entries();
            entries.generation += 1;
            entries.tokens.retain(|_, entry| !stale(entry));
            entries.generation
        };
        self.revocations.send_replace(generation);
    }

    /// Drops a revoked token.
    pub fn revoke_token(&self, token_id: &str) {
        self.revoke(|entry| entry.caller.token_id == token_id);
    }

    /// Drops every token of a principal (its memberships changed, its tokens were revoked,
    /// or it was disabled).
    pub fn forget_principal(&self, principal_id: &str) {
        self.revoke(|entry| entry.caller.principal_id == principal_id);
    }

    pub fn clear(&self) {
        self.revoke(|_| true);
    }
}
