//! The limiter's errors: configuration refused at construction, and the store failures that
//! send calls to the local fallback (logged, never returned from a call).

/// Why a [`Limiter`](crate::Limiter) could not be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Redis URL does not parse, or asks for something not compiled in (TLS).
    #[error("invalid redis url")]
    RedisUrl(#[source] redis::RedisError),
    /// A setting is out of range.
    #[error("invalid rate limit setting: {0}")]
    Setting(&'static str),
}

/// Why a Redis call failed; the call is decided locally instead.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    #[error("redis did not answer within {0:?}")]
    Timeout(std::time::Duration),
    #[error("redis call failed: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("unexpected reply from the rate limit script")]
    Reply,
}
