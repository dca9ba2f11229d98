//! How an answer is built from the counters a store read, the same way for Redis and for the
//! local store: which limits apply (a share of them in fallback), the tightest quota per
//! dimension for the headers, and on refusal the check that needs the longest wait.

use std::sync::Arc;
use std::time::Duration;

use crate::check::{Check, Dimension};
use crate::decision::{Admission, Quota, Quotas, Refusal, RefusalKind, Settlement, Store};
use crate::window::{Counts, Position, scaled};

/// The refusal a call earns before any counter is read: a limit of zero, or a token estimate
/// above a token limit.
pub(crate) fn never_fits(checks: &[Check], estimated_tokens: u64) -> Option<Refusal> {
    checks.iter().find_map(|check| {
        if check.requests_per_minute == Some(0) {
            return Some(Refusal::too_large(check, Dimension::Requests, 0, 1));
        }
        match check.tokens_per_minute {
            Some(limit) if estimated_tokens > limit => Some(Refusal::too_large(
                check,
                Dimension::Tokens,
                limit,
                estimated_tokens,
            )),
            _ => None,
        }
    })
}

/// The counters a store read for one check, before this call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CheckCounts {
    pub requests: Counts,
    pub tokens: Counts,
}

/// What a store saw: whether it admitted the call, and when.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Observation {
    pub admitted: bool,
    pub position: Position,
    pub window: u64,
}

/// The limits a store enforces for one check: the configured ones, or this router's share of
/// them in fallback; the token cost is capped to a shared-down limit so that a call the full
/// limit admits is not refused forever by a share.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Enforced {
    pub requests: Option<u64>,
    pub tokens: Option<u64>,
    pub token_cost: u64,
}

impl Enforced {
    pub fn of(check: &Check, cost: u64, share: f64) -> Self {
        let tokens = check.tokens_per_minute.map(|limit| scaled(limit, share));
        Self {
            requests: check.requests_per_minute.map(|limit| scaled(limit, share)),
            tokens,
            token_cost: tokens.map_or(cost, |limit| cost.min(limit)),
        }
    }
}

/// Builds the answer from what a store saw. `counts` lines up with the limited checks
/// (`Check::is_limited`), in order.
pub(crate) fn decide(
    store: Store,
    checks: &[Check],
    counts: &[CheckCounts],
    seen: Observation,
    cost: u64,
    share: f64,
) -> Result<Admission, Refusal> {
    let limited = checks.iter().filter(|c| c.is_limited()).zip(counts);
    let position = seen.position;
    let mut quotas = Quotas::default();
    if seen.admitted {
        let mut scopes = Vec::new();
        for (check, counts) in limited {
            let enforced = Enforced::of(check, cost, share);
            if let Some(limit) = enforced.requests {
                let after = with_added(counts.requests, 1);
                quotas.tighten(Dimension::Requests, Quota::at(position, after, limit));
            }
            if let Some(limit) = enforced.tokens {
                let after = with_added(counts.tokens, enforced.token_cost);
                quotas.tighten(Dimension::Tokens, Quota::at(position, after, limit));
                scopes.push(check.scope.clone());
            }
        }
        return Ok(Admission {
            quotas,
            store: Some(store),
            settlement: Settlement {
                window: seen.window,
                estimated: cost,
                scopes,
            },
        });
    }
    // Refused: the check needing the longest wait is the one to report.
    let mut worst: Option<(Duration, &Check, Dimension, u64, u64, Quota)> = None;
    for (check, counts) in limited {
        let enforced = Enforced::of(check, cost, share);
        let dimensions = [
            (Dimension::Requests, enforced.requests, counts.requests, 1),
            (
                Dimension::Tokens,
                enforced.tokens,
                counts.tokens,
                enforced.token_cost,
            ),
        ];
        for (dimension, limit, counts, requested) in dimensions {
            let Some(limit) = limit else { continue };
            let quota = Quota::at(position, counts, limit);
            quotas.tighten(dimension, quota);
            if position.fits(counts, requested, limit) {
                continue;
            }
            let wait = position
                .retry_after(counts, requested, limit)
                .unwrap_or(Duration::from_millis(position.window_ms));
            if worst.as_ref().is_none_or(|held| wait > held.0) {
                worst = Some((wait, check, dimension, limit, requested, quota));
            }
        }
    }
    let Some((wait, check, dimension, limit, requested, quota)) = worst else {
        // Not expected: the script compares exactly as `Position::fits` does. Still refuse,
        // as the store did, asking for the shortest wait.
        return Err(refused_without_culprit(checks, quotas));
    };
    *quotas.slot(dimension) = Some(quota);
    Err(Refusal {
        kind: RefusalKind::Exhausted,
        scope: check.scope.clone(),
        dimension,
        limit,
        requested,
        retry_after: Some(wait.max(Duration::from_millis(1))),
        quotas,
    })
}

fn refused_without_culprit(checks: &[Check], quotas: Quotas) -> Refusal {
    let check = checks.iter().find(|c| c.is_limited());
    let dimension = if quotas.requests.is_some() {
        Dimension::Requests
    } else {
        Dimension::Tokens
    };
    Refusal {
        kind: RefusalKind::Exhausted,
        scope: check.map_or_else(|| Arc::from(""), |c| c.scope.clone()),
        dimension,
        limit: quotas.get(dimension).map_or(0, |q| q.limit),
        requested: 1,
        retry_after: Some(Duration::from_millis(1)),
        quotas,
    }
}

fn with_added(counts: Counts, cost: u64) -> Counts {
    Counts {
        current: counts.current.saturating_add(cost),
        previous: counts.previous,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEEN: Observation = Observation {
        admitted: true,
        position: Position {
            window_ms: 1000,
            elapsed_ms: 250,
        },
        window: 7,
    };

    fn requests(current: u64, previous: u64) -> CheckCounts {
        CheckCounts {
            requests: Counts { current, previous },
            tokens: Counts::default(),
        }
    }

    #[test]
    fn an_admission_reports_the_tightest_limit_after_the_call() {
        let checks = [
            Check::new("loose").requests_per_minute(100),
            Check::new("unlimited"),
            Check::new("tight")
                .requests_per_minute(10)
                .tokens_per_minute(1000),
        ];
        let counts = [requests(5, 0), requests(8, 0)];
        let admission = decide(Store::Redis, &checks, &counts, SEEN, 50, 1.0).expect("admitted");
        let quota = admission.quotas.requests.expect("requests limited");
        assert_eq!((quota.limit, quota.remaining), (10, 1));
        assert_eq!(quota.reset, Duration::from_millis(1750));
        let tokens = admission.quotas.tokens.expect("tokens limited");
        assert_eq!((tokens.limit, tokens.remaining), (1000, 950));
        assert_eq!(admission.store, Some(Store::Redis));
        assert_eq!(admission.settlement.window, 7);
        assert_eq!(admission.settlement.scopes, [Arc::from("tight")]);
        assert_eq!(admission.estimated_tokens(), 50);
    }

    #[test]
    fn a_refusal_names_the_check_needing_the_longest_wait() {
        let checks = [
            // Full until the previous window fades a little: 10 ms.
            Check::new("fading").requests_per_minute(100),
            // Full for this whole window: 750 ms and more.
            Check::new("full").requests_per_minute(10),
        ];
        let counts = [requests(25, 100), requests(10, 0)];
        let seen = Observation {
            admitted: false,
            ..SEEN
        };
        let refusal = decide(Store::Redis, &checks, &counts, seen, 0, 1.0).expect_err("refused");
        assert_eq!(refusal.kind, RefusalKind::Exhausted);
        assert_eq!(&*refusal.scope, "full");
        assert_eq!(refusal.dimension, Dimension::Requests);
        assert_eq!((refusal.limit, refusal.requested), (10, 1));
        assert_eq!(refusal.retry_after, Some(Duration::from_millis(850)));
        let quota = refusal.quota().expect("counters were read");
        assert_eq!((quota.limit, quota.remaining), (10, 0));
    }

    #[test]
    fn a_call_larger_than_a_limit_is_refused_before_counting() {
        let checks = [Check::new("t").tokens_per_minute(1000)];
        assert!(never_fits(&checks, 1000).is_none());
        let refusal = never_fits(&checks, 1001).expect("too large");
        assert_eq!(refusal.kind, RefusalKind::TooLarge);
        assert_eq!((refusal.limit, refusal.requested), (1000, 1001));
        assert_eq!(refusal.retry_after, None);
        assert!(refusal.to_string().contains("needs 1001 tokens"));

        let blocked = [Check::new("r").requests_per_minute(0)];
        let refusal = never_fits(&blocked, 0).expect("a zero limit");
        assert_eq!(refusal.dimension, Dimension::Requests);
    }
}
