//! Gateway tokens, verified with the vault and cached briefly: a revoked token stops working
//! as soon as the revocation event arrives, and within the cache TTL at worst. Tokens are
//! keyed by their SHA-256, never stored in clear.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// A short-lived cache of verified tokens.
pub struct TokenCache {
    vault: VaultClient,
    ttl: Duration,
    entries: Mutex<HashMap<[u8; 32], Entry>>,
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
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// The caller behind `token`, from the cache or the vault.
    pub async fn authenticate(&self, token: &str) -> Result<Arc<Caller>, RouterError> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(entry) = self
            .entries()
            .get(&key)
            .filter(|e| e.until > Instant::now())
        {
            return Ok(entry.caller.clone());
        }
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
        self.entries().insert(
            key,
            Entry {
                caller: caller.clone(),
                until: Instant::now() + self.ttl,
            },
        );
        Ok(caller)
    }

    /// Drops a revoked token.
    pub fn revoke_token(&self, token_id: &str) {
        self.entries()
            .retain(|_, entry| entry.caller.token_id != token_id);
    }

    /// Drops every token of a principal (its memberships changed).
    pub fn forget_principal(&self, principal_id: &str) {
        self.entries()
            .retain(|_, entry| entry.caller.principal_id != principal_id);
    }

    pub fn clear(&self) {
        self.entries().clear();
    }
}
