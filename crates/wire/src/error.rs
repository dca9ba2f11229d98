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

/// The most of a provider's error text passed on to a client, in characters.
pub const MAX_MESSAGE_CHARS: usize = 512;

/// Prefixes of API keys and tokens that providers and keyroute issue.
const SECRET_PREFIXES: &[&str] = &[
    "sk-", "sk_", "kr_", "rk-", "pk-", "gsk_", "xai-", "ghp_", "AKIA", "ASIA", "AIza", "ya29.",
];

/// Whether a word has the shape of a credential: a known key prefix, or a long run of
/// key-like characters mixing letters and digits.
fn credential_shaped(word: &str) -> bool {
    let keyish = |c: char| c.is_ascii_alphanumeric() || "-_+/=.".contains(c);
    if !word.chars().all(keyish) {
        return false;
    }
    if word.len() >= 12 && SECRET_PREFIXES.iter().any(|p| word.starts_with(p)) {
        return true;
    }
    word.len() >= 32
        && word.chars().any(|c| c.is_ascii_digit())
        && word.chars().any(|c| c.is_ascii_alphabetic())
}

/// A provider's error text as a client may see it: anything shaped like a credential
/// replaced, and cut to [`MAX_MESSAGE_CHARS`].
pub fn scrub(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MAX_MESSAGE_CHARS + 16));
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if credential_shaped(word) {
            out.push_str("[redacted]");
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in message.chars() {
        if c.is_whitespace() || "\"'`,;()[]{}<>".contains(c) {
            flush(&mut word, &mut out);
            out.push(c);
        } else {
            word.push(c);
        }
    }
    flush(&mut word, &mut out);
    match out.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => {
            out.truncate(cut);
            out.push('…');
            out
        }
        None => out,
    }
}

#[cfg(test)]
mod tests {
    use super::scrub;

    #[test]
    fn credentials_are_scrubbed_and_long_text_cut() {
        let message = "Incorrect API key provided: sk-proj-abcdef123456. Bearer \
                       eyJhbGciOiJIUzI1NiJ9abcdef0123456789abcdef, key AKIAIOSFODNN7EXAMPLE; \
                       model claude-sonnet-4-5-20250929 not found";
        let clean = scrub(message);
        assert!(!clean.contains("sk-proj"), "{clean}");
        assert!(!clean.contains("eyJhbGci"), "{clean}");
        assert!(!clean.contains("AKIAIOSFODNN7EXAMPLE"), "{clean}");
        assert!(
            clean.contains("claude-sonnet-4-5-20250929 not found"),
            "{clean}"
        );
        assert!(
            clean.starts_with("Incorrect API key provided: [redacted]"),
            "{clean}"
        );
        let long = "é".repeat(2000);
        assert_eq!(scrub(&long).chars().count(), super::MAX_MESSAGE_CHARS + 1);
    }
}
