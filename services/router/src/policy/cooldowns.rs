//! Keys that just failed in a way that is the key's own sit out for a while, so the next
//! requests skip them without a wasted call. Only the key's failures count: a refused key
//! (401), an account out of credit (402), the provider's rate limit (429, its `retry-after`
//! capped at [`MAX_RATE_LIMIT_COOLDOWN`]). A refusal for one model (403: no access to it)
//! benches the key for that model alone. A caller's bad request (400, 404, 408, 413, 422)
//! benches nothing: on a shared key (an org's, a managed one) one caller cannot take the
//! key away from the others.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use keyroute_wire::error::{ErrorKind, WireError};

/// How long a key sits out when the provider did not say.
pub const DEFAULT_RATE_LIMIT_COOLDOWN: Duration = Duration::from_secs(10);
/// How long a key that failed authentication sits out: until someone fixes it, mostly.
pub const AUTH_FAILURE_COOLDOWN: Duration = Duration::from_secs(60);
/// The longest a provider's `retry-after` benches a key: a larger value (a day, say) counts
/// as this much, so one answer cannot take a shared key away for long.
pub const MAX_RATE_LIMIT_COOLDOWN: Duration = Duration::from_secs(300);

/// What a failure benches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bench {
    /// The whole key.
    Key(Duration),
    /// The key for the model it failed on.
    Model(Duration),
}

/// How a failure benches its key, if it is the key's at all.
pub fn bench_for(error: &WireError) -> Option<Bench> {
    match (error.kind, error.status) {
        (ErrorKind::Authentication, 403) => Some(Bench::Model(AUTH_FAILURE_COOLDOWN)),
        (ErrorKind::Authentication | ErrorKind::Billing, _) => {
            Some(Bench::Key(AUTH_FAILURE_COOLDOWN))
        }
        (ErrorKind::RateLimited, 429) => Some(Bench::Key(
            error
                .retry_after
                .unwrap_or(DEFAULT_RATE_LIMIT_COOLDOWN)
                .min(MAX_RATE_LIMIT_COOLDOWN),
        )),
        _ => None,
    }
}

type Until = HashMap<String, Instant>;

/// Credential id -> when it may be tried again; and credential id -> model -> when.
#[derive(Debug, Default)]
pub struct Cooldowns {
    until: Mutex<Until>,
    by_model: Mutex<HashMap<String, Until>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// When `id` may be used again per `map`, forgetting an expired entry.
fn still_cooling(map: &mut Until, id: &str) -> Option<Instant> {
    match map.get(id) {
        Some(until) if *until > Instant::now() => Some(*until),
        Some(_) => {
            map.remove(id);
            None
        }
        None => None,
    }
}

fn extend(map: &mut Until, id: &str, duration: Duration) {
    let until = Instant::now() + duration;
    let entry = map.entry(id.to_owned()).or_insert(until);
    *entry = (*entry).max(until);
}

impl Cooldowns {
    pub fn new() -> Self {
        Self::default()
    }

    /// Benches `credential_id` for `duration` (a longer existing cooldown stands).
    pub fn cool(&self, credential_id: &str, duration: Duration) {
        extend(&mut lock(&self.until), credential_id, duration);
    }

    /// Benches `credential_id` for `model` alone.
    pub fn cool_model(&self, credential_id: &str, model: &str, duration: Duration) {
        let mut by_model = lock(&self.by_model);
        let models = by_model.entry(credential_id.to_owned()).or_default();
        extend(models, model, duration);
    }

    /// Applies what a failure benches, for the key and model it failed on.
    pub fn bench(&self, credential_id: &str, model: &str, bench: Bench) {
        match bench {
            Bench::Key(duration) => self.cool(credential_id, duration),
            Bench::Model(duration) => self.cool_model(credential_id, model, duration),
        }
    }

    /// When the key may be used again, if it is cooling down now.
    pub fn cooling(&self, credential_id: &str) -> Option<Instant> {
        still_cooling(&mut lock(&self.until), credential_id)
    }

    /// When the key may serve `model` again, if it is cooling down for it (or for all).
    pub fn cooling_for(&self, credential_id: &str, model: &str) -> Option<Instant> {
        if let Some(until) = self.cooling(credential_id) {
            return Some(until);
        }
        let mut by_model = lock(&self.by_model);
        let models = by_model.get_mut(credential_id)?;
        let until = still_cooling(models, model);
        if models.is_empty() {
            by_model.remove(credential_id);
        }
        until
    }

    /// A key that was fixed (updated, re-enabled) gets a fresh chance.
    pub fn forgive(&self, credential_id: &str) {
        lock(&self.until).remove(credential_id);
        lock(&self.by_model).remove(credential_id);
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

    #[test]
    fn only_the_keys_own_failures_bench_it_and_model_refusals_only_that_model() {
        let failure = |status: u16, retry_after: Option<u64>| {
            let mut error = WireError::from_status("openai", status, "t", "m");
            error.retry_after = retry_after.map(Duration::from_secs);
            bench_for(&error)
        };
        assert_eq!(failure(401, None), Some(Bench::Key(AUTH_FAILURE_COOLDOWN)));
        assert_eq!(failure(402, None), Some(Bench::Key(AUTH_FAILURE_COOLDOWN)));
        assert_eq!(
            failure(403, None),
            Some(Bench::Model(AUTH_FAILURE_COOLDOWN))
        );
        assert_eq!(
            failure(429, Some(86_400)),
            Some(Bench::Key(MAX_RATE_LIMIT_COOLDOWN))
        );
        assert_eq!(
            failure(429, None),
            Some(Bench::Key(DEFAULT_RATE_LIMIT_COOLDOWN))
        );
        for callers_own in [400, 404, 408, 413, 422, 500, 503, 529] {
            assert_eq!(failure(callers_own, None), None, "{callers_own}");
        }

        let cooldowns = Cooldowns::new();
        cooldowns.bench("k", "gpt-4o", Bench::Model(Duration::from_secs(60)));
        assert!(cooldowns.cooling_for("k", "gpt-4o").is_some());
        assert!(cooldowns.cooling_for("k", "gpt-4o-mini").is_none());
        assert!(cooldowns.cooling("k").is_none());
        cooldowns.bench("k", "gpt-4o", Bench::Key(Duration::from_secs(60)));
        assert!(cooldowns.cooling_for("k", "gpt-4o-mini").is_some());
        cooldowns.forgive("k");
        assert!(cooldowns.cooling_for("k", "gpt-4o").is_none());
    }
}
