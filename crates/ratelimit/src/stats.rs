//! Counters of what the limiter did, cheap enough to bump on every call, for the router's
//! Prometheus metrics (`keyroute_ratelimit_*_total`) and for tests.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the limiter's counters since it was built; each only grows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Calls decided (admitted or refused) by Redis.
    pub redis_decisions: u64,
    /// Calls decided in this process because Redis was unreachable or slow: the fallback.
    pub fallback_decisions: u64,
    /// Calls decided in this process because no Redis is configured.
    pub local_decisions: u64,
    /// Calls refused, by any store, including those too large to ever pass.
    pub refusals: u64,
    /// Redis calls that failed or timed out.
    pub redis_errors: u64,
    /// Times the limiter turned to the fallback (Redis lost, or unreachable at start).
    pub fallback_entries: u64,
    /// Settlements dropped because Redis was unreachable (their estimates stand).
    pub settlements_lost: u64,
}

/// The live counters behind [`Stats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub redis_decisions: AtomicU64,
    pub fallback_decisions: AtomicU64,
    pub local_decisions: AtomicU64,
    pub refusals: AtomicU64,
    pub redis_errors: AtomicU64,
    pub fallback_entries: AtomicU64,
    pub settlements_lost: AtomicU64,
}

/// Adds one; relaxed: the counters order nothing.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub fn snapshot(&self) -> Stats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Stats {
            redis_decisions: read(&self.redis_decisions),
            fallback_decisions: read(&self.fallback_decisions),
            local_decisions: read(&self.local_decisions),
            refusals: read(&self.refusals),
            redis_errors: read(&self.redis_errors),
            fallback_entries: read(&self.fallback_entries),
            settlements_lost: read(&self.settlements_lost),
        }
    }
}
