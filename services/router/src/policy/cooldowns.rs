//! Keys that just failed with an authentication error or a rate limit sit out for a while, so
//! the next requests skip them without a wasted call.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a key sits out when the provider did not say.
pub const DEFAULT_RATE_LIMIT_COOLDOWN: Duration = Duration::from_secs(10);
/// How long a key that failed authentication sits out: until someone fixes it, mostly.
pub const AUTH_FAILURE_COOLDOWN: Duration = Duration::from_secs(60);

/// Credential id -> when it may be tried again.
#[derive(Debug, Default)]
pub struct Cooldowns {
    until: Mutex<HashMap<String, Instant>>,
}

impl Cooldowns {
    pub fn new() -> Self {
        Self::default()
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.until
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Benches `credential_id` for `duration` (a longer existing cooldown stands).
    pub fn cool(&self, credential_id: &str, duration: Duration) {
        let until = Instant::now() + duration;
        let mut map = self.map();
        let entry = map.entry(credential_id.to_owned()).or_insert(until);
        *entry = (*entry).max(until);
    }

    /// When the key may be used again, if it is cooling down now.
    pub fn cooling(&self, credential_id: &str) -> Option<Instant> {
        let mut map = self.map();
        match map.get(credential_id) {
            Some(until) if *until > Instant::now() => Some(*until),
            Some(_) => {
                map.remove(credential_id);
                None
            }
            None => None,
        }
    }

    /// A key that was fixed (updated, re-enabled) gets a fresh chance.
    pub fn forgive(&self, credential_id: &str) {
        self.map().remove(credential_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cooldowns_expire_and_keep_the_longest() {
        let cooldowns = Cooldowns::new();
        assert!(cooldowns.cooling("k").is_none());
        cooldowns.cool("k", Duration::from_secs(60));
        cooldowns.cool("k", Duration::from_millis(1));
        let until = cooldowns.cooling("k").unwrap();
        assert!(
            until > Instant::now() + Duration::from_secs(30),
            "the longer cooldown stands"
        );
        cooldowns.forgive("k");
        assert!(cooldowns.cooling("k").is_none());
        cooldowns.cool("gone", Duration::ZERO);
        assert!(cooldowns.cooling("gone").is_none());
    }
}
