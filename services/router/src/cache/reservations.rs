//! Credit held for managed calls in flight. A managed call reserves its estimate before it
//! starts and releases it once charged. Locally, a principal's reservations never exceed its
//! balance; across routers, each router keeps a hold at the vault (`HoldCredits`) that covers
//! its reservations, and the vault grants holds only while every router's together fit in the
//! balance. A hold grows ahead of need (so most calls cost no vault round trip), shrinks by
//! each charge (the vault shrinks it with the usage record), is released once the principal
//! has had no call here for [`RELEASE_AFTER`] (one call after another keeps it), and lapses on
//! its own if this router stops.
//!
//! With the vault unreachable, reservations are local only (logged): routers may then
//! overdraw between them by up to a balance each, until the vault is back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keyroute_proto::vault::v1::HoldCreditsRequest;

use crate::vault::VaultClient;

/// How long a hold stands at the vault unless asked again.
pub const HOLD_TTL: Duration = Duration::from_secs(60);
/// How long a principal's hold outlives its last call here before it goes back to the other
/// routers: calls in a row reuse it instead of asking the vault each time.
pub const RELEASE_AFTER: Duration = Duration::from_secs(2);

/// Why a managed call could not reserve its estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shortfall {
    pub balance: i64,
    /// What this principal's calls in flight hold, here and (as far as the vault said) on
    /// other routers.
    pub reserved: i64,
    pub in_flight: i64,
    pub needed: i64,
}

/// One principal's reservations on this router, and its hold at the vault.
#[derive(Debug)]
struct Holding {
    principal: String,
    /// Reserved by calls in flight here, in micro-dollars.
    reserved: AtomicI64,
    in_flight: AtomicI64,
    hold_id: String,
    /// The hold's size as the vault last granted it, less charges since.
    held: AtomicI64,
    /// When the vault last granted the hold; one hold call at a time.
    granted_at: tokio::sync::Mutex<Option<Instant>>,
    /// When the last call here ended, as milliseconds since the reservations began.
    idle_since: AtomicU64,
    /// A release is waiting for the principal to stay idle.
    release_pending: AtomicBool,
}

/// Every principal's reservations on this router.
#[derive(Debug)]
pub struct Reservations {
    vault: VaultClient,
    holdings: Mutex<HashMap<String, Arc<Holding>>>,
    /// The clock `Holding::idle_since` counts from.
    began: Instant,
}

/// Credit held for one managed call: released when dropped (after the call's charge).
#[derive(Debug)]
pub struct Reservation {
    holding: Arc<Holding>,
    micros: i64,
    reservations: Arc<Reservations>,
}

impl Reservation {
    /// The vault hold this call is served under, for its usage record.
    pub fn hold_id(&self) -> &str {
        &self.holding.hold_id
    }

    /// The call was charged `cost`: the vault takes it off the hold with the usage record,
    /// and so does this router's view of the hold.
    pub fn charged(&self, cost: i64) {
        self.holding.held.fetch_sub(cost, Ordering::AcqRel);
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let left = self
            .holding
            .reserved
            .fetch_sub(self.micros, Ordering::AcqRel)
            - self.micros;
        self.holding.in_flight.fetch_sub(1, Ordering::AcqRel);
        if left > 0 {
            return;
        }
        // The principal's last call here ended: its hold goes back to the other routers once
        // it stays idle, by one release task at a time.
        self.holding
            .idle_since
            .store(self.reservations.now_ms(), Ordering::Release);
        if self.holding.release_pending.swap(true, Ordering::AcqRel) {
            return;
        }
        let (reservations, holding) = (self.reservations.clone(), self.holding.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { reservations.release_when_idle(&holding).await });
        }
    }
}

impl Reservations {
    pub fn new(vault: VaultClient) -> Arc<Self> {
        Arc::new(Self {
            vault,
            holdings: Mutex::default(),
            began: Instant::now(),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.began.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn holding(&self, principal: &str) -> Arc<Holding> {
        let mut holdings = self
            .holdings
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if let Some(holding) = holdings.get(principal) {
            return holding.clone();
        }
        holdings
            .entry(principal.to_owned())
            .or_insert_with(|| {
                Arc::new(Holding {
                    principal: principal.to_owned(),
                    reserved: AtomicI64::new(0),
                    in_flight: AtomicI64::new(0),
                    hold_id: format!("hold_{}", uuid::Uuid::now_v7().simple()),
                    held: AtomicI64::new(0),
                    granted_at: tokio::sync::Mutex::new(None),
                    idle_since: AtomicU64::new(0),
                    release_pending: AtomicBool::new(false),
                })
            })
            .clone()
    }

    /// Reserves `micros` of `principal`'s `balance` for a managed call, if its calls in
    /// flight here leave room and the vault's hold covers them all.
    pub async fn reserve(
        self: &Arc<Self>,
        principal: &str,
        balance: i64,
        micros: i64,
    ) -> Result<Reservation, Shortfall> {
        let holding = self.holding(principal);
        let mut reserved = holding.reserved.load(Ordering::Acquire);
        loop {
            if balance - reserved < micros {
                return Err(Shortfall {
                    balance,
                    reserved,
                    in_flight: holding.in_flight.load(Ordering::Acquire),
                    needed: micros,
                });
            }
            match holding.reserved.compare_exchange_weak(
                reserved,
                reserved + micros,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => reserved = now,
            }
        }
        holding.in_flight.fetch_add(1, Ordering::AcqRel);
        let reservation = Reservation {
            holding: holding.clone(),
            micros,
            reservations: self.clone(),
        };
        match self.cover(&holding, micros).await {
            Ok(()) => Ok(reservation),
            Err(held_by_others) => Err(Shortfall {
                balance,
                reserved: reserved + held_by_others,
                in_flight: holding.in_flight.load(Ordering::Acquire) - 1,
                needed: micros,
            }),
        }
    }

    /// Makes the vault hold cover every reservation here, growing it by `headroom` more
    /// so that the next call of this size needs no round trip. `Err` carries what other
    /// routers hold when the vault refuses.
    async fn cover(&self, holding: &Holding, headroom: i64) -> Result<(), i64> {
        let fresh = |at: Option<Instant>| at.is_some_and(|at| at.elapsed() < HOLD_TTL / 2);
        let covered = |holding: &Holding| {
            holding.reserved.load(Ordering::Acquire) <= holding.held.load(Ordering::Acquire)
        };
        let mut granted_at = holding.granted_at.lock().await;
        if covered(holding) && fresh(*granted_at) {
            return Ok(());
        }
        let needed = holding.reserved.load(Ordering::Acquire);
        for size in [needed + headroom, needed] {
            match self.ask(holding, size).await {
                Some((true, _)) => {
                    holding.held.store(size, Ordering::Release);
                    *granted_at = Some(Instant::now());
                    return Ok(());
                }
                Some((false, others)) if size == needed => return Err(others),
                Some((false, _)) => continue,
                // The vault cannot say: local reservations only, until it can.
                None => return Ok(()),
            }
        }
        Ok(())
    }

    /// Asks the vault for a hold of `micros`: whether it was granted, and what other
    /// routers hold; `None` when the vault cannot be asked.
    async fn ask(&self, holding: &Holding, micros: i64) -> Option<(bool, i64)> {
        let request = HoldCreditsRequest {
            hold_id: holding.hold_id.clone(),
            principal_id: holding.principal.clone(),
            micros,
            ttl_seconds: HOLD_TTL.as_secs() as u32,
        };
        match self.vault.clone().hold_credits(request).await {
            Ok(reply) => {
                let reply = reply.into_inner();
                Some((reply.granted, reply.held_by_others_micros))
            }
            Err(status) => {
                tracing::warn!(principal = %holding.principal, code = ?status.code(), message = status.message(), "credit hold unavailable; reserving locally only");
                None
            }
        }
    }

    /// Waits until the principal has had no call here for [`RELEASE_AFTER`], then gives its
    /// hold back; a call that starts meanwhile keeps the hold (its end waits again).
    async fn release_when_idle(&self, holding: &Holding) {
        loop {
            let idle_for = self
                .now_ms()
                .saturating_sub(holding.idle_since.load(Ordering::Acquire));
            let wait = RELEASE_AFTER.saturating_sub(Duration::from_millis(idle_for));
            if wait.is_zero() {
                break;
            }
            tokio::time::sleep(wait).await;
        }
        holding.release_pending.store(false, Ordering::Release);
        self.release(holding).await;
    }

    /// Gives the hold back if no call here reserves anything.
    async fn release(&self, holding: &Holding) {
        let mut granted_at = holding.granted_at.lock().await;
        if holding.reserved.load(Ordering::Acquire) > 0 || granted_at.is_none() {
            return;
        }
        if self
            .ask(holding, 0)
            .await
            .is_some_and(|(granted, _)| granted)
        {
            holding.held.store(0, Ordering::Release);
            *granted_at = None;
        }
    }
}
