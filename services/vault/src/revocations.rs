//! The revocation hub: committed changes fan out to every router's `WatchRevocations`
//! stream, so a cached lease is dropped about as fast as the network allows.

use keyroute_proto::vault::v1::{RevocationKind, WatchRevocationsResponse};
use tokio::sync::broadcast;

use crate::convert::timestamp;

/// How many events a slow subscriber may fall behind before it is told to resync.
const CAPACITY: usize = 4096;

/// Publishes invalidation events to every subscriber.
#[derive(Debug, Clone)]
pub struct Revocations {
    sender: broadcast::Sender<WatchRevocationsResponse>,
}

impl Default for Revocations {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(CAPACITY).0,
        }
    }
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
    /// Sends an event; called only after the change committed.
    pub fn publish(&self, kind: RevocationKind, change: Change<'_>, now: i64) {
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
