//! How a [`Limiter`](crate::Limiter) is configured, with the defaults a router starts from.

use std::time::Duration;

use secrecy::SecretString;

use crate::Error;

/// The limiter's configuration. `Settings::default()` is a local-only limiter with one-minute
/// windows; set `redis_url` to share limits across routers.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `redis://[user:password@]host:port[/db]`; `None` counts in this process only. Kept
    /// secret: it may hold a password. `rediss://` is refused (no TLS stack is compiled in).
    pub redis_url: Option<SecretString>,
    /// Prefix of every Redis key, so that several deployments can share one Redis.
    pub key_prefix: String,
    /// The window limits are counted over: a minute, so that `requests_per_minute` means what
    /// it says; tests shorten it to run a minute's behaviour in a second.
    pub window: Duration,
    /// How long one call waits for Redis before deciding locally (and opening the circuit).
    /// Redis answers in well under a millisecond on a healthy network.
    pub call_timeout: Duration,
    /// How long a background probe waits to connect to Redis.
    pub connect_timeout: Duration,
    /// How long after a Redis failure the first probe runs; doubled after each failed probe up
    /// to `max_retry_backoff`. Calls skip Redis meanwhile.
    pub retry_backoff: Duration,
    /// The longest wait between two probes.
    pub max_retry_backoff: Duration,
    /// The share of each limit one router enforces alone while Redis is unreachable, in
    /// (0, 1]: 1 keeps every router at the full limit (see the crate docs for why that is the
    /// default), `1 / routers` keeps the total near the limit when the router count is known.
    pub fallback_share: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            redis_url: None,
            key_prefix: "keyroute:ratelimit".to_owned(),
            window: Duration::from_secs(60),
            call_timeout: Duration::from_millis(20),
            connect_timeout: Duration::from_secs(1),
            retry_backoff: Duration::from_millis(500),
            max_retry_backoff: Duration::from_secs(10),
            fallback_share: 1.0,
        }
    }
}

impl Settings {
    /// Local-only settings with Redis at `url`.
    pub fn with_redis(url: impl Into<String>) -> Self {
        Self {
            redis_url: Some(SecretString::from(url.into())),
            ..Self::default()
        }
    }

    /// Refuses settings the limiter cannot honour.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.window < Duration::from_millis(1) {
            return Err(Error::Setting("window must be at least a millisecond"));
        }
        if !(self.fallback_share > 0.0 && self.fallback_share <= 1.0) {
            return Err(Error::Setting("fallback_share must be in (0, 1]"));
        }
        if self.call_timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(Error::Setting("timeouts must be above zero"));
        }
        if self.retry_backoff.is_zero() || self.max_retry_backoff < self.retry_backoff {
            return Err(Error::Setting(
                "retry_backoff must be above zero and at most max_retry_backoff",
            ));
        }
        Ok(())
    }

    /// The window in whole milliseconds, as the counters use it.
    pub(crate) fn window_ms(&self) -> u64 {
        u64::try_from(self.window.as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_the_url_stays_secret() {
        let settings = Settings::with_redis("redis://:hunter2@127.0.0.1:6379");
        assert!(settings.validate().is_ok());
        assert!(!format!("{settings:?}").contains("hunter2"));
    }

    #[test]
    fn out_of_range_settings_are_refused() {
        for settings in [
            Settings {
                fallback_share: 0.0,
                ..Settings::default()
            },
            Settings {
                fallback_share: 1.5,
                ..Settings::default()
            },
            Settings {
                window: Duration::ZERO,
                ..Settings::default()
            },
            Settings {
                retry_backoff: Duration::from_secs(60),
                ..Settings::default()
            },
        ] {
            assert!(settings.validate().is_err(), "{settings:?}");
        }
    }
}
