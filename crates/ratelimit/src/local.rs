//! The in-process store: the same sliding-window counters as the Redis script, in a map behind
//! one mutex, for a router without Redis and for the fallback when Redis is unreachable.
//!
//! One mutex, not shards: a call's checks must be read and charged together (all or nothing),
//! and the critical section is a few hash lookups with no await inside, so even at tens of
//! thousands of calls per second it is held a small fraction of the time. Time is this
//! process's monotonic clock; windows are cut from the store's creation. Scopes idle for two
//! windows are dropped once per window, so memory follows the active scopes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::check::Check;
use crate::decide::{CheckCounts, Enforced, Observation};
use crate::window::{Counts, Position};

/// In-process counters per scope.
#[derive(Debug)]
pub(crate) struct LocalStore {
    origin: Instant,
    window_ms: u64,
    slots: Mutex<Slots>,
}

#[derive(Debug, Default)]
struct Slots {
    map: HashMap<Arc<str>, Slot>,
    swept: u64,
}

/// One scope's counters, as of `window`.
#[derive(Debug, Default, Clone, Copy)]
struct Slot {
    window: u64,
    requests: Counts,
    tokens: Counts,
}

impl Slot {
    /// The counters as seen from `window`: the slot's current window becomes the previous one
    /// a window later, and is forgotten after that.
    fn rolled(mut self, window: u64) -> Self {
        if self.window == window {
            return self;
        }
        let keep = self.window + 1 == window;
        for counts in [&mut self.requests, &mut self.tokens] {
            counts.previous = if keep { counts.current } else { 0 };
            counts.current = 0;
        }
        self.window = window;
        self
    }
}

impl LocalStore {
    /// A store cutting time into windows of `window` (at least a millisecond).
    pub fn new(window: Duration) -> Self {
        Self {
            origin: Instant::now(),
            window_ms: u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1),
            slots: Mutex::new(Slots::default()),
        }
    }

    fn now(&self) -> (u64, Position) {
        let ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        let position = Position {
            window_ms: self.window_ms,
            elapsed_ms: ms % self.window_ms,
        };
        (ms / self.window_ms, position)
    }

    /// Reads the counters of every limited check and charges them all if the call fits under
    /// each (its `share` of each limit), none otherwise.
    pub fn admit(
        &self,
        checks: &[Check],
        cost: u64,
        share: f64,
    ) -> (Observation, Vec<CheckCounts>) {
        let (window, position) = self.now();
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.sweep(window);
        let mut counts = Vec::with_capacity(checks.len());
        let mut admitted = true;
        for check in checks.iter().filter(|c| c.is_limited()) {
            let slot = slots
                .map
                .get(&*check.scope)
                .map_or(Slot::default(), |slot| slot.rolled(window));
            let seen = CheckCounts {
                requests: slot.requests,
                tokens: slot.tokens,
            };
            let enforced = Enforced::of(check, cost, share);
            let fits = |limit: Option<u64>, counts: Counts, cost: u64| {
                limit.is_none_or(|limit| position.fits(counts, cost, limit))
            };
            admitted &= fits(enforced.requests, seen.requests, 1)
                && fits(enforced.tokens, seen.tokens, enforced.token_cost);
            counts.push(seen);
        }
        if admitted {
            for check in checks.iter().filter(|c| c.is_limited()) {
                let enforced = Enforced::of(check, cost, share);
                let slot = slots.map.entry(check.scope.clone()).or_default();
                *slot = slot.rolled(window);
                if enforced.requests.is_some() {
                    slot.requests.current = slot.requests.current.saturating_add(1);
                }
                if enforced.tokens.is_some() {
                    slot.tokens.current = slot.tokens.current.saturating_add(enforced.token_cost);
                }
            }
        }
        let seen = Observation {
            admitted,
            position,
            window,
        };
        (seen, counts)
    }

    /// Adds `delta` tokens (never going below zero) to the counters of `scopes` for the window
    /// `window`, if that window still counts.
    pub fn settle(&self, window: u64, scopes: &[Arc<str>], delta: i64) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        for scope in scopes {
            let Some(slot) = slots.map.get_mut(&**scope) else {
                continue;
            };
            let counts = if slot.window == window {
                &mut slot.tokens.current
            } else if slot.window == window + 1 {
                &mut slot.tokens.previous
            } else {
                continue;
            };
            *counts = counts.saturating_add_signed(delta);
        }
    }

    /// How many scopes the store holds (tests check that idle ones go).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .len()
    }
}

impl Slots {
    /// Once per window, drops the scopes that no longer weigh (idle for two windows).
    fn sweep(&mut self, window: u64) {
        if self.swept == window {
            return;
        }
        self.swept = window;
        self.map.retain(|_, slot| slot.window + 1 >= window);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> LocalStore {
        LocalStore::new(Duration::from_secs(3600))
    }

    #[test]
    fn a_call_is_charged_to_every_check_or_to_none() {
        let store = store();
        let small = Check::new("small").requests_per_minute(1);
        let big = Check::new("big").requests_per_minute(10);
        assert!(
            store
                .admit(&[small.clone(), big.clone()], 0, 1.0)
                .0
                .admitted
        );
        let (seen, counts) = store.admit(&[small, big.clone()], 0, 1.0);
        assert!(!seen.admitted);
        assert_eq!(counts[1].requests.current, 1);
        let (_, counts) = store.admit(&[big], 0, 1.0);
        assert_eq!(
            counts[0].requests.current, 1,
            "the refused call took nothing from big"
        );
    }

    #[test]
    fn checks_without_limits_are_not_counted() {
        let store = store();
        let (seen, counts) = store.admit(&[Check::new("free")], 5, 1.0);
        assert!(seen.admitted);
        assert!(counts.is_empty());
        assert_eq!(store.len(), 0);
    }

    #[test]
    fn a_share_enforces_part_of_the_limit_and_caps_the_cost() {
        let store = store();
        let check = Check::new("s")
            .requests_per_minute(4)
            .tokens_per_minute(100);
        let admitted = (0..4)
            .filter(|_| {
                store
                    .admit(std::slice::from_ref(&check), 80, 0.5)
                    .0
                    .admitted
            })
            .count();
        // Half of 4 requests; 80 tokens is capped to the 50-token share, admitted once.
        assert_eq!(admitted, 1);
    }

    #[test]
    fn settling_moves_the_token_count_but_never_below_zero() {
        let store = store();
        let check = Check::new("t").tokens_per_minute(1000);
        let (seen, _) = store.admit(std::slice::from_ref(&check), 300, 1.0);
        let scopes = [check.scope.clone()];
        store.settle(seen.window, &scopes, 200);
        let (_, counts) = store.admit(std::slice::from_ref(&check), 0, 1.0);
        assert_eq!(counts[0].tokens.current, 500);
        store.settle(seen.window, &scopes, -10_000);
        let (_, counts) = store.admit(std::slice::from_ref(&check), 0, 1.0);
        assert_eq!(counts[0].tokens.current, 0);
    }

    #[test]
    fn idle_scopes_are_swept_and_windows_roll() {
        let store = LocalStore::new(Duration::from_millis(5));
        let check = Check::new("idle").requests_per_minute(1);
        assert!(store.admit(std::slice::from_ref(&check), 0, 1.0).0.admitted);
        assert_eq!(store.len(), 1);
        // A sleep is the clock under test here: three short windows.
        std::thread::sleep(Duration::from_millis(15));
        let (seen, counts) = store.admit(&[Check::new("other").requests_per_minute(1)], 0, 1.0);
        assert!(seen.admitted);
        assert_eq!(counts[0], CheckCounts::default());
        assert_eq!(store.len(), 1, "idle scope dropped, the new one kept");
        assert!(store.admit(&[check], 0, 1.0).0.admitted);
    }
}
