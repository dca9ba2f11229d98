//! The rate-limit headers OpenAI and Anthropic send, rendered from a decision's figures, so
//! that clients (their SDKs' retry logic, agents reading remaining quota) treat keyroute as
//! they treat the provider. Pure: the edge passes [`Quotas`] and `retry_after` as the router
//! reported them and adds the pairs to its response.
//!
//! - OpenAI (platform.openai.com/docs/guides/rate-limits, "rate limits in headers"):
//!   `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, the reset a duration written the
//!   way Go prints one (`1s`, `6m0s`, `20ms`, `8.64s`).
//! - Anthropic (docs.anthropic.com/en/api/rate-limits, "response headers"):
//!   `anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}`, the reset an RFC 3339
//!   instant (`2025-01-15T14:24:00Z`).
//! - Both: `retry-after` in whole seconds on a 429, and `retry-after-ms`, which both
//!   providers' SDKs read first when present.
//!
//! Durations are rounded up (to the millisecond, the second for instants and `retry-after`):
//! a client that waits what it is told never comes back early.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::check::Dimension;
use crate::decision::Quotas;

/// A header name and its value.
pub type Header = (&'static str, String);

/// OpenAI's rate-limit headers for `quotas`, and `retry-after`(`-ms`) when given (a refusal).
pub fn openai(quotas: &Quotas, retry_after: Option<Duration>) -> Vec<Header> {
    let mut headers = Vec::with_capacity(8);
    for dimension in [Dimension::Requests, Dimension::Tokens] {
        let Some(quota) = quotas.get(dimension) else {
            continue;
        };
        let (limit, remaining, reset) = match dimension {
            Dimension::Requests => (
                "x-ratelimit-limit-requests",
                "x-ratelimit-remaining-requests",
                "x-ratelimit-reset-requests",
            ),
            Dimension::Tokens => (
                "x-ratelimit-limit-tokens",
                "x-ratelimit-remaining-tokens",
                "x-ratelimit-reset-tokens",
            ),
        };
        headers.push((limit, quota.limit.to_string()));
        headers.push((remaining, quota.remaining.to_string()));
        headers.push((reset, go_duration(quota.reset)));
    }
    push_retry_after(&mut headers, retry_after);
    headers
}

/// Anthropic's rate-limit headers for `quotas`, resets as instants from `now`, and
/// `retry-after`(`-ms`) when given (a refusal).
pub fn anthropic(quotas: &Quotas, retry_after: Option<Duration>, now: SystemTime) -> Vec<Header> {
    let mut headers = Vec::with_capacity(8);
    for dimension in [Dimension::Requests, Dimension::Tokens] {
        let Some(quota) = quotas.get(dimension) else {
            continue;
        };
        let (limit, remaining, reset) = match dimension {
            Dimension::Requests => (
                "anthropic-ratelimit-requests-limit",
                "anthropic-ratelimit-requests-remaining",
                "anthropic-ratelimit-requests-reset",
            ),
            Dimension::Tokens => (
                "anthropic-ratelimit-tokens-limit",
                "anthropic-ratelimit-tokens-remaining",
                "anthropic-ratelimit-tokens-reset",
            ),
        };
        headers.push((limit, quota.limit.to_string()));
        headers.push((remaining, quota.remaining.to_string()));
        if let Some(instant) = rfc3339(now, quota.reset) {
            headers.push((reset, instant));
        }
    }
    push_retry_after(&mut headers, retry_after);
    headers
}

fn push_retry_after(headers: &mut Vec<Header>, retry_after: Option<Duration>) {
    let Some(wait) = retry_after else { return };
    let ms = ceil_millis(wait);
    headers.push(("retry-after", ms.div_ceil(1000).to_string()));
    headers.push(("retry-after-ms", ms.to_string()));
}

fn ceil_millis(duration: Duration) -> u64 {
    let ms = duration.as_nanos().div_ceil(1_000_000);
    u64::try_from(ms).unwrap_or(u64::MAX)
}

/// A duration as Go's `time.Duration` prints it, to the millisecond: `0s`, `20ms`, `1s`,
/// `8.64s`, `6m0s`, `1h2m3.5s`.
pub fn go_duration(duration: Duration) -> String {
    let ms = ceil_millis(duration);
    if ms == 0 {
        return "0s".to_owned();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (hours, minutes) = (ms / 3_600_000, ms / 60_000 % 60);
    let (seconds, fraction) = (ms / 1000 % 60, ms % 1000);
    let seconds = if fraction == 0 {
        seconds.to_string()
    } else {
        let digits = format!("{fraction:03}");
        format!("{seconds}.{}", digits.trim_end_matches('0'))
    };
    match (hours, minutes) {
        (0, 0) => format!("{seconds}s"),
        (0, _) => format!("{minutes}m{seconds}s"),
        _ => format!("{hours}h{minutes}m{seconds}s"),
    }
}

/// `now + after` as an RFC 3339 UTC instant, rounded up to the second.
fn rfc3339(now: SystemTime, after: Duration) -> Option<String> {
    let since_epoch = now.checked_add(after)?.duration_since(UNIX_EPOCH).ok()?;
    let seconds = since_epoch.as_secs() + u64::from(since_epoch.subsec_nanos() > 0);
    let instant = OffsetDateTime::from_unix_timestamp(i64::try_from(seconds).ok()?).ok()?;
    instant.format(&Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::Quota;

    fn quotas() -> Quotas {
        Quotas {
            requests: Some(Quota {
                limit: 600,
                remaining: 599,
                reset: Duration::from_millis(60_020),
            }),
            tokens: Some(Quota {
                limit: 150_000,
                remaining: 0,
                reset: Duration::from_millis(8_640),
            }),
        }
    }

    // 2025-01-15T14:24:00Z
    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_736_951_040)
    }

    #[test]
    fn durations_print_as_go_does() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_micros(1), "1ms"),
            (Duration::from_millis(20), "20ms"),
            (Duration::from_millis(999), "999ms"),
            (Duration::from_secs(1), "1s"),
            (Duration::from_millis(8_640), "8.64s"),
            (Duration::from_millis(1_005), "1.005s"),
            (Duration::from_secs(360), "6m0s"),
            (Duration::from_millis(90_500), "1m30.5s"),
            (Duration::from_secs(3_600), "1h0m0s"),
            (Duration::from_millis(3_723_500), "1h2m3.5s"),
        ];
        for (duration, printed) in cases {
            assert_eq!(go_duration(duration), printed, "{duration:?}");
        }
    }

    #[test]
    fn openai_headers_for_a_refusal() {
        let headers = openai(&quotas(), Some(Duration::from_millis(1_250)));
        let expected = [
            ("x-ratelimit-limit-requests", "600"),
            ("x-ratelimit-remaining-requests", "599"),
            ("x-ratelimit-reset-requests", "1m0.02s"),
            ("x-ratelimit-limit-tokens", "150000"),
            ("x-ratelimit-remaining-tokens", "0"),
            ("x-ratelimit-reset-tokens", "8.64s"),
            ("retry-after", "2"),
            ("retry-after-ms", "1250"),
        ];
        assert_eq!(headers, expected.map(|(n, v)| (n, v.to_owned())));
    }

    #[test]
    fn anthropic_headers_for_a_refusal() {
        let headers = anthropic(&quotas(), Some(Duration::from_millis(1_250)), now());
        let expected = [
            ("anthropic-ratelimit-requests-limit", "600"),
            ("anthropic-ratelimit-requests-remaining", "599"),
            ("anthropic-ratelimit-requests-reset", "2025-01-15T14:25:01Z"),
            ("anthropic-ratelimit-tokens-limit", "150000"),
            ("anthropic-ratelimit-tokens-remaining", "0"),
            ("anthropic-ratelimit-tokens-reset", "2025-01-15T14:24:09Z"),
            ("retry-after", "2"),
            ("retry-after-ms", "1250"),
        ];
        assert_eq!(headers, expected.map(|(n, v)| (n, v.to_owned())));
    }

    #[test]
    fn an_admission_has_no_retry_after_and_missing_dimensions_no_headers() {
        let only_requests = Quotas {
            tokens: None,
            ..quotas()
        };
        let headers = openai(&only_requests, None);
        let names: Vec<_> = headers.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            [
                "x-ratelimit-limit-requests",
                "x-ratelimit-remaining-requests",
                "x-ratelimit-reset-requests"
            ]
        );
        assert!(anthropic(&Quotas::default(), None, now()).is_empty());
    }

    #[test]
    fn a_whole_second_reset_is_not_rounded_further() {
        let quotas = Quotas {
            requests: Some(Quota {
                limit: 1,
                remaining: 1,
                reset: Duration::ZERO,
            }),
            tokens: None,
        };
        let headers = anthropic(&quotas, None, now());
        assert_eq!(headers[2].1, "2025-01-15T14:24:00Z");
    }
}
