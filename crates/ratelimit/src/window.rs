//! The sliding-window counter's arithmetic, shared by the Redis script's caller and the local
//! store so that both decide, and report, alike.
//!
//! Time is cut into fixed windows (a minute by default). A limit key counts what it admitted in
//! the current window and in the previous one; its usage at a moment is the previous count
//! weighted by the share of the previous window still inside the last window-length, plus the
//! current count: `previous * (window - elapsed) / window + current`. A call fits when its cost
//! added to that usage stays within the limit. The comparison is done on integers scaled by the
//! window length (`previous * left + (current + cost) * window <= limit * window`), exactly as
//! the Lua script does it, so Redis and this module never disagree on a boundary.
//!
//! The weighting assumes the previous window's calls were spread evenly. Under steady load that
//! holds and any window-long span admits the limit; a burst late in one window followed by load
//! in the next can admit more than the limit over a span straddling the boundary (at most twice
//! it in the extreme, the price of two counters per key instead of a log of every call).

use std::time::Duration;

/// What one limit key admitted in the current window and in the previous one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub current: u64,
    pub previous: u64,
}

/// Where a moment lies in its window: the arithmetic every decision needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    /// The window's length in milliseconds (never zero).
    pub window_ms: u64,
    /// Milliseconds since the current window began, below `window_ms`.
    pub elapsed_ms: u64,
}

impl Position {
    fn left(self) -> u128 {
        u128::from(self.window_ms.saturating_sub(self.elapsed_ms))
    }

    fn window(self) -> u128 {
        u128::from(self.window_ms.max(1))
    }

    /// The weighted usage, scaled by the window length.
    fn scaled_usage(self, counts: Counts) -> u128 {
        u128::from(counts.previous) * self.left() + u128::from(counts.current) * self.window()
    }

    /// Whether a call costing `cost` fits under `limit` now.
    pub fn fits(self, counts: Counts, cost: u64, limit: u64) -> bool {
        self.scaled_usage(counts) + u128::from(cost) * self.window()
            <= u128::from(limit) * self.window()
    }

    /// What is left under `limit`, rounded down.
    pub fn remaining(self, counts: Counts, limit: u64) -> u64 {
        let cap = u128::from(limit) * self.window();
        let used = self.scaled_usage(counts);
        u64::try_from(cap.saturating_sub(used) / self.window()).unwrap_or(u64::MAX)
    }

    /// How long until the usage is back to zero if nothing else is admitted: the current
    /// window's calls weigh until the end of the next window, the previous window's until the
    /// end of this one.
    pub fn reset(self, counts: Counts) -> Duration {
        let left = self.window_ms.saturating_sub(self.elapsed_ms);
        let ms = if counts.current > 0 {
            left + self.window_ms
        } else if counts.previous > 0 {
            left
        } else {
            0
        };
        Duration::from_millis(ms)
    }

    /// How long until a call costing `cost` would fit if nothing else is admitted meanwhile, or
    /// `None` when it never can (`cost` above `limit`).
    pub fn retry_after(self, counts: Counts, cost: u64, limit: u64) -> Option<Duration> {
        if cost > limit {
            return None;
        }
        if self.fits(counts, cost, limit) {
            return Some(Duration::ZERO);
        }
        let w = self.window();
        let elapsed = u128::from(self.elapsed_ms);
        let (current, previous) = (u128::from(counts.current), u128::from(counts.previous));
        let (cost, limit) = (u128::from(cost), u128::from(limit));
        let ms = if current + cost <= limit && previous > 0 {
            // Later in this window, once the previous window weighs little enough:
            // previous * (w - e) <= (limit - current - cost) * w.
            let allowed_left = (limit - current - cost) * w / previous;
            w.saturating_sub(allowed_left).saturating_sub(elapsed)
        } else {
            // In the next window, where this window's count becomes the previous one:
            // current * (w - g) <= (limit - cost) * w, with current > 0 here.
            let allowed_left = (limit - cost) * w / current.max(1);
            (w - elapsed) + w.saturating_sub(allowed_left)
        };
        Some(Duration::from_millis(
            u64::try_from(ms.max(1)).unwrap_or(u64::MAX),
        ))
    }
}

/// The share of a limit one router enforces alone (see the fallback policy in the crate
/// docs): at least 1 for a non-zero limit, the limit itself for a share of 1.
pub(crate) fn scaled(limit: u64, share: f64) -> u64 {
    if share >= 1.0 || limit == 0 {
        return limit;
    }
    // Exact below 2^53; a limit above that is not a rate anyone configures.
    let part = (limit as f64 * share).floor();
    (part as u64).clamp(1, limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(elapsed_ms: u64) -> Position {
        Position {
            window_ms: 1000,
            elapsed_ms,
        }
    }

    fn counts(current: u64, previous: u64) -> Counts {
        Counts { current, previous }
    }

    #[test]
    fn the_previous_window_weighs_by_what_is_left_of_it() {
        // 100 last window, a quarter into this one: 75 still count.
        assert!(at(250).fits(counts(0, 100), 25, 100));
        assert!(!at(250).fits(counts(0, 100), 26, 100));
        assert_eq!(at(250).remaining(counts(0, 100), 100), 25);
        assert_eq!(at(250).remaining(counts(10, 100), 100), 15);
        assert_eq!(at(0).remaining(counts(0, 100), 100), 0);
    }

    #[test]
    fn remaining_never_goes_below_zero() {
        assert_eq!(at(500).remaining(counts(150, 0), 100), 0);
    }

    #[test]
    fn reset_is_when_the_usage_is_back_to_zero() {
        assert_eq!(at(250).reset(counts(1, 0)), Duration::from_millis(1750));
        assert_eq!(at(250).reset(counts(0, 1)), Duration::from_millis(750));
        assert_eq!(at(250).reset(counts(0, 0)), Duration::ZERO);
    }

    #[test]
    fn retry_after_waits_for_the_previous_window_to_fade() {
        // 100 previous, 0 current, a quarter in: 75 weigh, so one more fits now.
        assert_eq!(
            at(250).retry_after(counts(0, 100), 1, 100),
            Some(Duration::ZERO)
        );
        // 100 previous, 25 current: usage 100; one more fits once previous * left <= 74 * w,
        // left <= 740, elapsed >= 260: 10 ms from now.
        assert_eq!(
            at(250).retry_after(counts(25, 100), 1, 100),
            Some(Duration::from_millis(10))
        );
        let later = at(260);
        assert!(later.fits(counts(25, 100), 1, 100));
    }

    #[test]
    fn retry_after_waits_for_the_next_window_when_this_one_is_full() {
        // 100 current of 100: in the next window 100 previous must weigh at most 99:
        // left <= 990, so 10 ms into it, 750 + 10 from now.
        assert_eq!(
            at(250).retry_after(counts(100, 0), 1, 100),
            Some(Duration::from_millis(760))
        );
        let next = at(10);
        assert!(next.fits(counts(0, 100), 1, 100));
        assert!(!at(9).fits(counts(0, 100), 1, 100));
    }

    #[test]
    fn a_cost_above_the_limit_never_fits() {
        assert_eq!(at(0).retry_after(counts(0, 0), 101, 100), None);
    }

    #[test]
    fn shares_round_down_but_never_to_zero() {
        assert_eq!(scaled(600, 1.0), 600);
        assert_eq!(scaled(600, 0.25), 150);
        assert_eq!(scaled(3, 0.1), 1);
        assert_eq!(scaled(0, 0.5), 0);
    }
}
