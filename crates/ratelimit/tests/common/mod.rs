//! What the integration tests share: limiters pointed at a test Redis, connected before use.

#![allow(dead_code)]

use std::time::Duration;

use keyroute_ratelimit::{Limiter, Settings, Store};
use keyroute_test_servers::redis::TestRedis;

/// A window long enough that no test crosses a boundary (windows are cut from the epoch), so
/// counts can be asserted exactly.
pub const HOUR: Duration = Duration::from_secs(3600);

/// Settings for `redis`, with a call timeout generous enough for a loaded CI machine: tests
/// that want the fallback stop Redis rather than count on a timeout.
pub fn settings(redis: &TestRedis, window: Duration) -> Settings {
    Settings {
        window,
        call_timeout: Duration::from_millis(500),
        ..Settings::with_redis(redis.url())
    }
}

/// A limiter with `settings`, once it has connected to Redis.
pub async fn connected(settings: Settings) -> Limiter {
    let limiter = Limiter::new(settings).expect("valid settings");
    wait_for(&limiter, Store::Redis).await;
    limiter
}

/// Waits (up to 10 s) until `limiter` counts in `store`.
pub async fn wait_for(limiter: &Limiter, store: Store) {
    let mut changes = limiter.store_changes();
    let reached = tokio::time::timeout(
        Duration::from_secs(10),
        changes.wait_for(|now| *now == store),
    )
    .await;
    assert!(
        matches!(reached, Ok(Ok(_))),
        "the limiter did not reach {store:?}: {:?}",
        limiter.stats()
    );
}

/// A plain connection to `redis`, to look at it from outside the limiter.
pub async fn inspect(redis: &TestRedis) -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis.url())
        .expect("a valid url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis is up")
}

/// How many times Redis ran `command` (from INFO commandstats).
pub async fn calls_of(redis: &TestRedis, command: &str) -> u64 {
    let mut conn = inspect(redis).await;
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .expect("INFO answers");
    let prefix = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |calls| calls.parse().expect("a count"))
}
