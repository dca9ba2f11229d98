//! The revocation hub: committed changes fan out to every router's `WatchRevocations`
//! stream, so a cached lease is dropped about as fast as the network allows. With several
//! replicas on one PostgreSQL database, each change is also announced through the database
//! (`NOTIFY`), and every replica passes the others' on to its own routers; when a replica's
//! listener had to reconnect, its routers are told to resync, since changes may have passed.

use keyroute_proto::vault::v1::{RevocationKind, WatchRevocationsResponse};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::convert::{now_ms, timestamp};
use crate::storage::Store;

/// How many events a slow subscriber may fall behind before it is told to resync.
const CAPACITY: usize = 4096;

/// Publishes invalidation events to every subscriber.
#[derive(Debug, Clone)]
pub struct Revocations {
    sender: broadcast::Sender<WatchRevocationsResponse>,
    /// The shared database changes are announced through, and this replica's name in them.
    fanout: Option<(Store, String)>,
}

impl Default for Revocations {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(CAPACITY).0,
            fanout: None,
        }
    }
}

/// A change as announced to the other replicas.
#[derive(Debug, Serialize, Deserialize)]
struct Announcement {
    origin: String,
    kind: i32,
    credential_id: String,
    owner_id: String,
    token_id: String,
    principal_id: String,
    time: i64,
}

/// What changed, for [`Revocations::publish`].
#[derive(Debug, Default)]
pub struct Change<'a> {
    pub credential_id: &'a str,
    pub owner_id: &'a str,
    pub token_id: &'a str,
    pub principal_id: &'a str,
}

impl Revocations {
    /// A hub for `store`'s vault: local only on SQLite; on a shared database it also
    /// announces changes to, and hears them from, the other replicas.
    pub async fn for_store(store: &Store) -> Result<Self, crate::storage::StoreError> {
        let mut hub = Self::default();
        if !store.is_shared() {
            return Ok(hub);
        }
        let origin = uuid::Uuid::new_v4().simple().to_string();
        let sender = hub.sender.clone();
        let own = origin.clone();
        store
            .listen_changes(Box::new(move |payload| {
                let Some(payload) = payload else {
                    let _ = sender.send(resync(now_ms()));
                    return;
                };
                match serde_json::from_str::<Announcement>(payload) {
                    Ok(heard) if heard.origin == own => {}
                    Ok(heard) => {
                        let _ = sender.send(WatchRevocationsResponse {
                            kind: heard.kind,
                            credential_id: heard.credential_id,
                            owner_id: heard.owner_id,
                            token_id: heard.token_id,
                            principal_id: heard.principal_id,
                            time: Some(timestamp(heard.time)),
                        });
                    }
                    Err(error) => {
                        tracing::warn!(%error, "unreadable change announcement, resyncing routers");
                        let _ = sender.send(resync(now_ms()));
                    }
                }
            }))
            .await?;
        hub.fanout = Some((store.clone(), origin));
        Ok(hub)
    }

    /// Sends an event; called only after the change committed.
    pub fn publish(&self, kind: RevocationKind, change: Change<'_>, now: i64) {
        if let Some((store, origin)) = &self.fanout {
            let announcement = Announcement {
                origin: origin.clone(),
                kind: kind as i32,
                credential_id: change.credential_id.to_owned(),
                owner_id: change.owner_id.to_owned(),
                token_id: change.token_id.to_owned(),
                principal_id: change.principal_id.to_owned(),
                time: now,
            };
            if let Ok(payload) = serde_json::to_string(&announcement) {
                let store = store.clone();
                tokio::spawn(async move {
                    if let Err(error) = store.announce_change(payload).await {
                        // Other replicas' routers keep their leases until those expire.
                        tracing::error!(%error, "cannot announce a change to the other replicas");
                    }
                });
            }
        }
        let event = WatchRevocationsResponse {
            kind: kind as i32,
            credential_id: change.credential_id.to_owned(),
            owner_id: change.owner_id.to_owned(),
            token_id: change.token_id.to_owned(),
            principal_id: change.principal_id.to_owned(),
            time: Some(timestamp(now)),
        };
        // No subscriber is fine: routers that connect later start with a resync.
        let _ = self.sender.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<WatchRevocationsResponse> {
        self.sender.subscribe()
    }
}

/// The event a subscriber gets first, and whenever it lagged.
pub fn resync(now: i64) -> WatchRevocationsResponse {
    WatchRevocationsResponse {
        kind: RevocationKind::Resync as i32,
        time: Some(timestamp(now)),
        ..Default::default()
    }
}
