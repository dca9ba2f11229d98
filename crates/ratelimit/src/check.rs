//! What a call is subject to: one [`Check`] per configured limit scope.

use std::fmt;
use std::sync::Arc;

/// One limit a call must pass: a scope (whose counters it shares with every other call in that
/// scope) and its optional request and token rates. The router builds one per configured limit
/// (principal, organization, provider key, managed model) and asks for all of them at once.
///
/// Rates are per window, a minute unless [`Settings::window`](crate::Settings::window) says
/// otherwise (tests shorten it). A check with neither rate is ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The counters' name, unique per limited thing: `principal:usr_1`, `org:org_1`,
    /// `key:cred_1`, `model:gpt-4o`. Shared by reference so that building a check per call and
    /// keeping it in the admission cost no copy.
    pub scope: Arc<str>,
    /// Calls admitted per window, if limited.
    pub requests_per_minute: Option<u64>,
    /// Tokens (estimated at admission, settled to the real count after) per window, if limited.
    pub tokens_per_minute: Option<u64>,
}

impl Check {
    /// A check on `scope` with no rate yet; add them with the builder methods.
    pub fn new(scope: impl Into<Arc<str>>) -> Self {
        Self {
            scope: scope.into(),
            requests_per_minute: None,
            tokens_per_minute: None,
        }
    }

    /// Limits the calls admitted per window.
    #[must_use]
    pub fn requests_per_minute(mut self, limit: u64) -> Self {
        self.requests_per_minute = Some(limit);
        self
    }

    /// Limits the tokens admitted per window.
    #[must_use]
    pub fn tokens_per_minute(mut self, limit: u64) -> Self {
        self.tokens_per_minute = Some(limit);
        self
    }

    /// Whether the check limits anything (checks that do not are skipped, never sent to Redis).
    pub(crate) fn is_limited(&self) -> bool {
        self.requests_per_minute.is_some() || self.tokens_per_minute.is_some()
    }
}

/// What a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dimension {
    /// Calls.
    Requests,
    /// Tokens (input and output together).
    Tokens,
}

impl Dimension {
    /// The word both providers' headers use for it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Requests => "requests",
            Self::Tokens => "tokens",
        }
    }
}

impl fmt::Display for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
