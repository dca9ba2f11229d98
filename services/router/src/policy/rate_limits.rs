//! Rate limits around a routed call: which of the limits the vault served apply to it (the
//! caller's own and its orgs' come with the balance, each key's and each managed model's
//! with the leases), the limiter's refusal as the caller's error, and the figures the edge
//! turns into the caller's dialect's rate-limit headers.
//!
//! What counts where: a principal's limit counts every call it makes; an org's, the calls
//! served with the org's keys (as its budget does); a key's, the calls that key serves; a
//! managed model's, every caller's calls to it on the platform's keys. Tokens are admitted
//! at keyroute's input estimate plus `max_tokens` and settled to the real usage when the
//! call's meter is dropped.

use std::time::Duration;

use keyroute_proto::contract::header;
use keyroute_proto::vault::v1::{RateLimit, RateLimitScope};
use keyroute_ratelimit::{Admission, Check, Limiter, Quota, Quotas, Refusal, RefusalKind};
use tonic::metadata::MetadataMap;

use crate::error::{RateLimited, RouterError};

/// The rate limits one vault answer carried, as checks ready for the limiter: built once per
/// fetch, so a call only clones the `Arc` names of the few that apply to it.
#[derive(Debug, Default)]
pub struct LimitTable {
    checks: Vec<(RateLimitScope, String, Check)>,
}

impl LimitTable {
    pub fn new(limits: Vec<RateLimit>) -> Self {
        let checks = limits
            .into_iter()
            .filter_map(|limit| {
                let scope = limit.scope();
                if scope == RateLimitScope::Unspecified {
                    return None;
                }
                let mut check = Check::new(format!("{}:{}", scope.name(), limit.target_id));
                if limit.requests_per_minute > 0 {
                    check = check.requests_per_minute(limit.requests_per_minute);
                }
                if limit.tokens_per_minute > 0 {
                    check = check.tokens_per_minute(limit.tokens_per_minute);
                }
                Some((scope, limit.target_id, check))
            })
            .collect();
        Self { checks }
    }

    /// The limit on `target` in `scope`, if one is set.
    pub fn get(&self, scope: RateLimitScope, target: &str) -> Option<&Check> {
        self.checks
            .iter()
            .find(|(s, t, _)| *s == scope && t == target)
            .map(|(_, _, check)| check)
    }

    pub fn is_empty(&self) -> bool {
        self.checks.is_empty()
    }
}

/// The tokens a call is admitted with: keyroute's input estimate and the output it may ask
/// for (OpenAI counts `max_tokens` the same way at admission).
pub fn token_estimate(input_estimate: u64, max_tokens: Option<u32>) -> u64 {
    input_estimate.saturating_add(max_tokens.map_or(0, u64::from))
}

/// The kind of limit a refusal came from, from its counter name (`principal:usr_1`).
fn refused_kind(refusal: &Refusal) -> &str {
    refusal
        .scope
        .split_once(':')
        .map_or(&*refusal.scope, |(kind, _)| kind)
}

/// A refusal as the caller's error: retryable after the wait the limiter computed, or not at
/// all when the call alone is larger than the limit.
pub fn refused(model: &str, refusal: &Refusal) -> RouterError {
    let message = match (refusal.kind, refusal.retry_after) {
        (RefusalKind::Exhausted, Some(wait)) => format!(
            "cannot route {model}: {refusal}; try again in {:.1}s",
            wait.as_secs_f64()
        ),
        (RefusalKind::Exhausted, None) => format!("cannot route {model}: {refusal}"),
        (RefusalKind::TooLarge, _) => format!(
            "cannot route {model}: {refusal}, so it cannot be served however long you wait (lower max_tokens or the input)"
        ),
    };
    RouterError::RateLimited(Box::new(RateLimited {
        message,
        retry_after: refusal.retry_after,
        quotas: refusal.quotas,
        refused_by: format!("{}/{}", refused_kind(refusal), refusal.dimension),
    }))
}

fn insert(metadata: &mut MetadataMap, name: &'static str, value: &str) {
    if let Ok(value) = value.parse() {
        metadata.insert(name, value);
    }
}

fn millis(duration: Duration) -> String {
    duration.as_millis().to_string()
}

/// Writes `quotas` as the router's rate-limit metadata (nothing for an unlimited call).
pub fn quota_metadata(metadata: &mut MetadataMap, quotas: &Quotas) {
    let write = |metadata: &mut MetadataMap, names: [&'static str; 3], quota: Quota| {
        insert(metadata, names[0], &quota.limit.to_string());
        insert(metadata, names[1], &quota.remaining.to_string());
        insert(metadata, names[2], &millis(quota.reset));
    };
    if let Some(quota) = quotas.requests {
        let names = [
            header::RATELIMIT_LIMIT_REQUESTS,
            header::RATELIMIT_REMAINING_REQUESTS,
            header::RATELIMIT_RESET_REQUESTS_MS,
        ];
        write(metadata, names, quota);
    }
    if let Some(quota) = quotas.tokens {
        let names = [
            header::RATELIMIT_LIMIT_TOKENS,
            header::RATELIMIT_REMAINING_TOKENS,
            header::RATELIMIT_RESET_TOKENS_MS,
        ];
        write(metadata, names, quota);
    }
}

/// Writes a refusal's wait as metadata: whole seconds (rounded up) and milliseconds.
pub fn retry_metadata(metadata: &mut MetadataMap, retry_after: Duration) {
    let millis = retry_after.as_millis().max(1);
    insert(metadata, header::RETRY_AFTER_MS, &millis.to_string());
    insert(
        metadata,
        header::RETRY_AFTER,
        &millis.div_ceil(1000).to_string(),
    );
}

/// An admitted call's token count, settled once the call is charged: kept by the meter and
/// handed back to the limiter when it drops, on the runtime in the background.
#[derive(Debug)]
pub struct Settlement {
    limiter: Limiter,
    admission: Admission,
}

impl Settlement {
    /// `None` when settling cannot change anything (no token limit applied).
    pub fn of(limiter: &Limiter, admission: Admission) -> Option<Self> {
        admission.needs_settling().then(|| Self {
            limiter: limiter.clone(),
            admission,
        })
    }

    /// Corrects the estimate to `actual_tokens` without waiting for the store.
    pub fn settle(self, actual_tokens: u64) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime (a meter dropped at exit): the estimate stands.
            return;
        };
        runtime.spawn(async move {
            self.limiter.settle(self.admission, actual_tokens).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(scope: RateLimitScope, target: &str, rpm: u64, tpm: u64) -> RateLimit {
        RateLimit {
            scope: scope as i32,
            target_id: target.into(),
            requests_per_minute: rpm,
            tokens_per_minute: tpm,
            ..RateLimit::default()
        }
    }

    #[test]
    fn a_table_finds_each_limit_by_scope_and_target() {
        let table = LimitTable::new(vec![
            limit(RateLimitScope::Principal, "usr_1", 600, 0),
            limit(RateLimitScope::Org, "usr_1", 0, 9_000),
            limit(RateLimitScope::Unspecified, "usr_1", 1, 1),
        ]);
        let principal = table
            .get(RateLimitScope::Principal, "usr_1")
            .expect("principal limit");
        assert_eq!(&*principal.scope, "principal:usr_1");
        assert_eq!(principal.requests_per_minute, Some(600));
        assert_eq!(principal.tokens_per_minute, None);
        let org = table.get(RateLimitScope::Org, "usr_1").expect("org limit");
        assert_eq!(&*org.scope, "org:usr_1");
        assert_eq!(org.tokens_per_minute, Some(9_000));
        assert!(table.get(RateLimitScope::Credential, "usr_1").is_none());
        assert!(LimitTable::default().is_empty());
    }

    #[test]
    fn a_refusal_says_what_refused_and_when_to_come_back() {
        let refusal = Refusal {
            kind: RefusalKind::Exhausted,
            scope: "principal:usr_1".into(),
            dimension: keyroute_ratelimit::Dimension::Requests,
            limit: 2,
            requested: 1,
            retry_after: Some(Duration::from_millis(1_250)),
            quotas: Quotas::default(),
        };
        let RouterError::RateLimited(limited) = refused("gpt-4o", &refusal) else {
            panic!("not a rate-limit error");
        };
        let RateLimited {
            message,
            retry_after,
            refused_by,
            ..
        } = *limited;
        assert!(message.contains("principal:usr_1"), "{message}");
        assert!(
            message.contains("1.2s") || message.contains("1.3s"),
            "{message}"
        );
        assert_eq!(retry_after, Some(Duration::from_millis(1_250)));
        assert_eq!(refused_by, "principal/requests");

        let mut metadata = MetadataMap::new();
        retry_metadata(&mut metadata, Duration::from_millis(1_250));
        assert_eq!(
            metadata.get(header::RETRY_AFTER).map(|v| v.to_str().ok()),
            Some(Some("2"))
        );
        assert_eq!(
            metadata
                .get(header::RETRY_AFTER_MS)
                .map(|v| v.to_str().ok()),
            Some(Some("1250"))
        );
    }

    #[test]
    fn the_estimate_counts_max_tokens() {
        assert_eq!(token_estimate(100, Some(50)), 150);
        assert_eq!(token_estimate(100, None), 100);
    }
}
