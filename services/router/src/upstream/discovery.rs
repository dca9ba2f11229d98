//! Live discovery: which models each key's provider says the key can use, kept in memory per
//! key. A list is refreshed when someone needs it and it is older than [`LISTED_TTL`] (a
//! refused one after [`FAILED_TTL`]), so a key is asked at most once per TTL however many
//! callers list their models; the key test asks again at once. One refresh per key runs at a
//! time: callers arriving meanwhile wait for it and share its answer. The refresh runs on its
//! own task, so a caller that stops waiting (a listing bounded in time) does not cancel it.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use keyroute_wire::contract::{Contract, ListedModel, Operation};
use keyroute_wire::error::WireError;
use keyroute_wire::registry;
use secrecy::ExposeSecret;

use super::{Target, Upstreams};
use crate::cache::leases::LeasedKey;

/// How long a key's listed models are used before the provider is asked again.
pub const LISTED_TTL: Duration = Duration::from_secs(600);
/// How long a refused or failed listing stands before the provider is asked again.
pub const FAILED_TTL: Duration = Duration::from_secs(60);
/// The most keys whose lists are kept; past it the stalest is dropped.
const MAX_KEYS: usize = 10_000;

/// What a key's provider said about its models.
#[derive(Debug, Clone)]
pub enum Discovery {
    /// The models it listed, in its order.
    Listed(Arc<Vec<ListedModel>>),
    /// It lists no models for this kind of key (Azure, Bedrock, Vertex), or has no list
    /// endpoint (404): the key serves the catalog's models and ids pinned to it.
    Unlisted(String),
    /// The list call failed: the provider's refusal (a bad key) or an outage.
    Failed(WireError),
}

impl Discovery {
    /// The listed models; none when not listed.
    pub fn models(&self) -> &[ListedModel] {
        match self {
            Self::Listed(models) => models,
            _ => &[],
        }
    }

    fn ttl(&self) -> Duration {
        match self {
            Self::Failed(_) => FAILED_TTL,
            _ => LISTED_TTL,
        }
    }
}

/// One answer, for one version of the key (its secret and config).
#[derive(Debug, Clone)]
struct Entry {
    version: u64,
    at: Instant,
    discovery: Discovery,
}

#[derive(Debug, Default)]
struct Slot {
    entry: Mutex<Option<Entry>>,
    /// Held by the one refresh under way.
    refreshing: tokio::sync::Mutex<()>,
}

/// Each key's latest discovery, by credential id.
#[derive(Debug, Default)]
pub struct Discovered {
    slots: Mutex<HashMap<String, Arc<Slot>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// A key's version: a new secret or config (a rotated key, another base URL) asks again.
fn version(key: &LeasedKey) -> u64 {
    let mut hasher = DefaultHasher::new();
    key.secret.expose_secret().hash(&mut hasher);
    let mut config: Vec<_> = key.config.iter().collect();
    config.sort();
    config.hash(&mut hasher);
    hasher.finish()
}

impl Discovered {
    fn slot(&self, key_id: &str) -> Arc<Slot> {
        let mut slots = lock(&self.slots);
        if let Some(slot) = slots.get(key_id) {
            return slot.clone();
        }
        if slots.len() >= MAX_KEYS {
            // The slot asked longest ago goes (one never answered counts as oldest).
            let stalest = slots
                .iter()
                .min_by_key(|(_, slot)| lock(&slot.entry).as_ref().map(|e| e.at))
                .map(|(id, _)| id.clone());
            if let Some(id) = stalest {
                slots.remove(&id);
            }
        }
        let slot = Arc::new(Slot::default());
        slots.insert(key_id.to_owned(), slot.clone());
        slot
    }

    /// The key's answer if it is for this version and no older than `since` allows.
    fn fresh(slot: &Slot, version: u64, since: Option<Instant>) -> Option<Discovery> {
        let entry = lock(&slot.entry);
        let entry = entry.as_ref().filter(|e| e.version == version)?;
        let fresh = match since {
            Some(since) => entry.at >= since,
            None => entry.at.elapsed() < entry.discovery.ttl(),
        };
        fresh.then(|| entry.discovery.clone())
    }

    /// The key's last answer for this version, however old.
    fn last(slot: &Slot, version: u64) -> Option<Discovery> {
        lock(&slot.entry)
            .as_ref()
            .filter(|e| e.version == version)
            .map(|e| e.discovery.clone())
    }
}

/// Why a key's provider is not asked: it keeps no list a key can read.
fn unlisted(provider: &str) -> Discovery {
    Discovery::Unlisted(format!(
        "{provider} lists no models for a key: it serves the catalog's models and ids pinned to it"
    ))
}

impl Upstreams {
    /// The models `key` can use as its provider lists them: the kept answer while fresh,
    /// else a refresh, waited for up to `wait` (the last answer, or none, when it takes
    /// longer; the refresh goes on). `now` asks again unless an answer arrived since the
    /// call began (the key test).
    pub async fn discover(
        self: &Arc<Self>,
        key: &LeasedKey,
        wait: Duration,
        now: bool,
    ) -> Option<Discovery> {
        let provider = registry::provider(&key.provider)?;
        let contract = Contract::new(provider, None, "", &key.config);
        if !contract.supports(Operation::ListModels) {
            return Some(unlisted(provider.id));
        }
        let version = version(key);
        let slot = self.discovered.slot(&key.id);
        let since = now.then(Instant::now);
        if let Some(kept) = Discovered::fresh(&slot, version, since) {
            return Some(kept);
        }
        let upstreams = self.clone();
        let owned = key.clone();
        let refreshing = slot.clone();
        let refresh = tokio::spawn(async move {
            let _only = refreshing.refreshing.lock().await;
            // Whoever held the lock before may have just answered.
            if let Some(kept) = Discovered::fresh(&refreshing, version, since) {
                return kept;
            }
            let discovery = upstreams.list_for(&owned).await;
            *lock(&refreshing.entry) = Some(Entry {
                version,
                at: Instant::now(),
                discovery: discovery.clone(),
            });
            discovery
        });
        match tokio::time::timeout(wait, refresh).await {
            Ok(Ok(discovery)) => Some(discovery),
            _ => Discovered::last(&slot, version),
        }
    }

    /// Asks the key's provider, once, and says what came of it.
    async fn list_for(&self, key: &LeasedKey) -> Discovery {
        let Some(provider) = registry::provider(&key.provider) else {
            return unlisted(&key.provider);
        };
        let contract = Contract::new(provider, None, "", &key.config);
        let target = Target {
            key,
            contract: &contract,
            model: "",
        };
        match self.list_models(target).await {
            Ok(models) => Discovery::Listed(Arc::new(models)),
            Err(error) if error.status == 404 => Discovery::Unlisted(format!(
                "{} lists no models at this endpoint (404)",
                provider.id
            )),
            Err(error) => {
                tracing::info!(credential = %key.fingerprint, %error, "model list refused");
                Discovery::Failed(error)
            }
        }
    }
}
