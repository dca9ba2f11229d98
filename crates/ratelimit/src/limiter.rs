//! The [`Limiter`]: admits calls against their checks in Redis, or locally when there is no
//! Redis or it is down, and settles token estimates once the real usage is known.

use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use tokio::sync::watch;

use crate::check::Check;
use crate::circuit::{self, Cause, Circuit};
use crate::decide::{decide, never_fits};
use crate::decision::{Admission, Refusal, Store};
use crate::error::{Error, StoreError};
use crate::local::LocalStore;
use crate::redis_store::RedisStore;
use crate::settings::Settings;
use crate::stats::{Counters, Stats, bump};

/// Rate limits shared by every router through Redis. Cheap to clone (one `Arc`); build one per
/// process and share it.
#[derive(Debug, Clone)]
pub struct Limiter {
    inner: Arc<Inner>,
}

/// What the limiter's clones and its probe task share.
#[derive(Debug)]
pub(crate) struct Inner {
    pub call_timeout: Duration,
    pub retry_backoff: Duration,
    pub max_retry_backoff: Duration,
    fallback_share: f64,
    local: LocalStore,
    pub remote: Option<Remote>,
    pub stats: Counters,
    store: watch::Sender<Store>,
}

/// Redis and the circuit in front of it.
#[derive(Debug)]
pub(crate) struct Remote {
    pub store: RedisStore,
    pub circuit: Circuit,
}

impl Limiter {
    /// A limiter with `settings`. With a Redis URL it starts connecting in the background
    /// (when called inside a tokio runtime; otherwise on its first call) and decides locally
    /// until connected: watch [`Limiter::store_changes`] to wait for Redis at start-up.
    pub fn new(settings: Settings) -> Result<Self, Error> {
        settings.validate()?;
        let window_ms = settings.window_ms();
        let remote = match &settings.redis_url {
            Some(url) => Some(RedisStore::new(
                url.expose_secret(),
                &settings.key_prefix,
                window_ms,
                settings.connect_timeout,
            )?),
            None => None,
        };
        let initial = if remote.is_some() {
            Store::Fallback
        } else {
            Store::Local
        };
        let (store, _) = watch::channel(initial);
        let inner = Arc::new(Inner {
            call_timeout: settings.call_timeout,
            retry_backoff: settings.retry_backoff,
            max_retry_backoff: settings.max_retry_backoff,
            fallback_share: settings.fallback_share,
            local: LocalStore::new(settings.window),
            remote: remote.map(|redis| Remote {
                store: redis,
                circuit: Circuit::new(store.clone()),
            }),
            stats: Counters::default(),
            store,
        });
        circuit::start_probe(&inner, Duration::ZERO, Cause::Start);
        Ok(Self { inner })
    }

    /// Admits a call against all of `checks` at once, charging one request and
    /// `estimated_tokens` to each limit, or refuses it having charged nothing. With Redis up
    /// this is one round trip; with no limited check it touches nothing.
    pub async fn admit(
        &self,
        checks: &[Check],
        estimated_tokens: u64,
    ) -> Result<Admission, Refusal> {
        if !checks.iter().any(Check::is_limited) {
            return Ok(Admission::unlimited());
        }
        if let Some(refusal) = never_fits(checks, estimated_tokens) {
            bump(&self.inner.stats.refusals);
            return Err(refusal);
        }
        let decision = match self.admit_in_redis(checks, estimated_tokens).await {
            Some(decision) => decision,
            None => self.admit_locally(checks, estimated_tokens),
        };
        if decision.is_err() {
            bump(&self.inner.stats.refusals);
        }
        decision
    }

    /// `None` when Redis is not configured, or unavailable: decide locally.
    async fn admit_in_redis(
        &self,
        checks: &[Check],
        cost: u64,
    ) -> Option<Result<Admission, Refusal>> {
        let inner = &self.inner;
        let remote = inner.remote.as_ref()?;
        let Some(conn) = remote.circuit.connection() else {
            circuit::ensure_probe(inner);
            return None;
        };
        let mut session = (*conn).clone();
        let call = remote.store.admit(&mut session, checks, cost);
        match tokio::time::timeout(inner.call_timeout, call).await {
            Ok(Ok((seen, counts))) => {
                bump(&inner.stats.redis_decisions);
                Some(decide(Store::Redis, checks, &counts, seen, cost, 1.0))
            }
            Ok(Err(err)) => {
                circuit::fail(inner, &conn, &err);
                None
            }
            Err(_) => {
                circuit::fail(inner, &conn, &StoreError::Timeout(inner.call_timeout));
                None
            }
        }
    }

    fn admit_locally(&self, checks: &[Check], cost: u64) -> Result<Admission, Refusal> {
        let inner = &self.inner;
        let (store, share) = if inner.remote.is_some() {
            bump(&inner.stats.fallback_decisions);
            (Store::Fallback, inner.fallback_share)
        } else {
            bump(&inner.stats.local_decisions);
            (Store::Local, 1.0)
        };
        let (seen, counts) = inner.local.admit(checks, cost, share);
        decide(store, checks, &counts, seen, cost, share)
    }

    /// Corrects an admission's token estimate to `actual_tokens` in the window it was counted
    /// in (the difference may be negative; counters never go below zero). A no-op when the
    /// call had no token limit or the estimate was right. An admission counted in Redis while
    /// Redis is now down is dropped (counted in [`Stats::settlements_lost`]): its estimate
    /// stands.
    pub async fn settle(&self, admission: Admission, actual_tokens: u64) {
        let settlement = &admission.settlement;
        let delta = i128::from(actual_tokens) - i128::from(settlement.estimated);
        let delta = i64::try_from(delta).unwrap_or(if delta < 0 { i64::MIN } else { i64::MAX });
        if settlement.scopes.is_empty() || delta == 0 {
            return;
        }
        let inner = &self.inner;
        match admission.store {
            Some(Store::Local | Store::Fallback) => {
                inner
                    .local
                    .settle(settlement.window, &settlement.scopes, delta);
            }
            Some(Store::Redis) => {
                let remote = inner.remote.as_ref();
                let Some((remote, conn)) =
                    remote.and_then(|r| r.circuit.connection().map(|conn| (r, conn)))
                else {
                    bump(&inner.stats.settlements_lost);
                    return;
                };
                let mut session = (*conn).clone();
                let call =
                    remote
                        .store
                        .settle(&mut session, settlement.window, &settlement.scopes, delta);
                let failure = match tokio::time::timeout(inner.call_timeout, call).await {
                    Ok(Ok(())) => return,
                    Ok(Err(err)) => err,
                    Err(_) => StoreError::Timeout(inner.call_timeout),
                };
                bump(&inner.stats.settlements_lost);
                circuit::fail(inner, &conn, &failure);
            }
            None => {}
        }
    }

    /// Where calls are being counted now.
    pub fn store(&self) -> Store {
        *self.inner.store.borrow()
    }

    /// Follows where calls are counted: [`Store::Redis`] once connected, [`Store::Fallback`]
    /// while Redis is unavailable. For start-up (wait for Redis before serving) and tests.
    pub fn store_changes(&self) -> watch::Receiver<Store> {
        self.inner.store.subscribe()
    }

    /// What the limiter has done so far, for metrics.
    pub fn stats(&self) -> Stats {
        self.inner.stats.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::RefusalKind;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    }

    #[test]
    fn calls_can_move_between_worker_threads() {
        fn send<T: Send>(_: &T) {}
        let limiter = Limiter::new(Settings::default()).expect("valid settings");
        let checks = [Check::new("s").requests_per_minute(1)];
        send(&limiter.admit(&checks, 0));
        send(&limiter.settle(Admission::unlimited(), 0));
    }

    #[test]
    fn without_redis_calls_are_counted_locally() {
        let limiter = Limiter::new(Settings::default()).expect("valid settings");
        let checks = [Check::new("principal:usr_1").requests_per_minute(1)];
        let (first, second) = runtime().block_on(async {
            (
                limiter.admit(&checks, 0).await,
                limiter.admit(&checks, 0).await,
            )
        });
        assert_eq!(first.expect("room").store, Some(Store::Local));
        assert_eq!(second.expect_err("full").kind, RefusalKind::Exhausted);
        let stats = limiter.stats();
        assert_eq!((stats.local_decisions, stats.refusals), (2, 1));
        assert_eq!(limiter.store(), Store::Local);
    }

    #[test]
    fn a_limiter_built_outside_a_runtime_falls_back_inside_one() {
        let limiter = Limiter::new(Settings {
            call_timeout: Duration::from_millis(5),
            connect_timeout: Duration::from_millis(50),
            ..Settings::with_redis("redis://127.0.0.1:1/")
        })
        .expect("valid settings");
        let checks = [Check::new("principal:usr_1").requests_per_minute(5)];
        let admission = runtime()
            .block_on(limiter.admit(&checks, 0))
            .expect("room locally");
        assert_eq!(admission.store, Some(Store::Fallback));
        assert_eq!(limiter.stats().fallback_decisions, 1);
    }
}
