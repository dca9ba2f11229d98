//! The canonical error: what went wrong upstream, as an HTTP status, whether another key
//! may help, and the provider's own words.

use thiserror::Error;

/// Where a failure sits, which decides status and retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request itself is wrong (400, 404, 413, 422): retrying elsewhere will not help.
    InvalidRequest,
    /// The key is wrong or lacks access (401, 403): try another key, cool this one down.
    Authentication,
    /// The provider's account is out of credit.
    Billing,
    /// Rate limited (429): another key may help.
    RateLimited,
    /// The provider is overloaded or failing (5xx, 529): another key may help.
    Unavailable,
    /// The provider sent bytes that do not parse as its format.
    Malformed,
}

/// A failure from, or about, an upstream provider.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{provider} error ({status} {error_type}): {message}")]
pub struct WireError {
    pub kind: ErrorKind,
    /// The HTTP status this maps to for callers.
    pub status: u16,
    /// The provider's error type (`overloaded_error`, `ThrottlingException`...).
    pub error_type: String,
    pub message: String,
    pub provider: &'static str,
    /// Whether trying another key or provider may succeed.
    pub retryable: bool,
    /// How long the provider asked callers to wait (`retry-after`, Google's `RetryInfo`).
    pub retry_after: Option<std::time::Duration>,
}

impl WireError {
    /// The provider sent something its own format does not allow.
    pub fn malformed(provider: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Malformed,
            status: 502,
            error_type: "malformed_response".into(),
            message: message.into(),
            provider,
            retryable: true,
            retry_after: None,
        }
    }

    /// The stream stopped before the provider's end marker.
    pub fn truncated(provider: &'static str, what: &str) -> Self {
        Self {
            error_type: "truncated_stream".into(),
            ..Self::malformed(provider, format!("stream ended before {what}"))
        }
    }

    /// Classifies an HTTP status the way every provider's docs do.
    pub fn from_status(
        provider: &'static str,
        status: u16,
        error_type: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let kind = match status {
            401 | 403 => ErrorKind::Authentication,
            402 => ErrorKind::Billing,
            408 | 429 => ErrorKind::RateLimited,
            500..=599 => ErrorKind::Unavailable,
            _ => ErrorKind::InvalidRequest,
        };
        Self {
            kind,
            status,
            error_type: error_type.into(),
            message: message.into(),
            provider,
            retryable: matches!(
                kind,
                ErrorKind::Authentication | ErrorKind::RateLimited | ErrorKind::Unavailable
            ),
            retry_after: None,
        }
    }
}

/// Parses a `retry-after` header value in seconds (`"30"`, `"1.5"`); HTTP dates are left to
/// the caller, who knows the clock.
pub fn parse_retry_after(value: &str) -> Option<std::time::Duration> {
    let seconds: f64 = value.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0)
        .then(|| std::time::Duration::from_secs_f64(seconds.min(86_400.0)))
}
