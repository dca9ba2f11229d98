//! Redis going away, or going slow: calls are decided locally without waiting on it, and go
//! back to Redis once a probe finds it again.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{HOUR, connected, settings, wait_for};
use keyroute_ratelimit::{Check, Limiter, Settings, Store};
use keyroute_test_servers::redis::{self, TestRedis};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const CALL_TIMEOUT: Duration = Duration::from_millis(50);

fn fallback_settings(redis: &TestRedis) -> Settings {
    Settings {
        call_timeout: CALL_TIMEOUT,
        retry_backoff: Duration::from_millis(50),
        max_retry_backoff: Duration::from_millis(200),
        connect_timeout: Duration::from_millis(200),
        ..settings(redis, HOUR)
    }
}

#[tokio::test]
async fn a_stopped_redis_sends_calls_to_the_fallback_until_it_is_back() {
    let mut redis = redis::start();
    let limiter = connected(fallback_settings(&redis)).await;
    let check = [Check::new("principal:usr_1")
        .requests_per_minute(1000)
        .tokens_per_minute(100_000)];
    let counted_in_redis = limiter.admit(&check, 100).await.expect("room");
    assert_eq!(counted_in_redis.store, Some(Store::Redis));

    redis.stop();
    for _ in 0..20 {
        let start = Instant::now();
        let admission = limiter.admit(&check, 100).await.expect("room locally");
        assert!(start.elapsed() <= CALL_TIMEOUT + Duration::from_millis(50));
        assert_eq!(admission.store, Some(Store::Fallback));
    }
    assert_eq!(limiter.store(), Store::Fallback);
    let stats = limiter.stats();
    assert_eq!(stats.fallback_decisions, 20);
    assert_eq!(
        stats.fallback_entries, 1,
        "one transition, whatever the calls"
    );
    assert_eq!(
        stats.redis_errors, 1,
        "calls skip Redis once the circuit is open"
    );

    // Settling what Redis counted is lost while it is down; what the fallback counted is kept.
    limiter.settle(counted_in_redis, 50).await;
    assert_eq!(limiter.stats().settlements_lost, 1);
    let admission = limiter.admit(&check, 100).await.expect("room locally");
    assert_eq!(admission.quotas.tokens.expect("limited").remaining, 97_900);
    limiter.settle(admission, 1100).await;
    let admission = limiter.admit(&check, 0).await.expect("room locally");
    assert_eq!(admission.quotas.tokens.expect("limited").remaining, 96_900);

    redis.restart();
    wait_for(&limiter, Store::Redis).await;
    let admission = limiter.admit(&check, 0).await.expect("room");
    assert_eq!(admission.store, Some(Store::Redis));
    // The restarted Redis is empty: this is its first call.
    assert_eq!(admission.quotas.requests.expect("limited").remaining, 999);
    let stats = limiter.stats();
    assert_eq!(stats.fallback_decisions, 22);
    assert_eq!(stats.redis_decisions, 2);
    assert_eq!(stats.fallback_entries, 1);
}

#[tokio::test]
async fn a_limiter_started_without_redis_counts_locally_then_joins_it() {
    let mut redis = redis::start();
    redis.stop();
    let limiter = Limiter::new(fallback_settings(&redis)).expect("valid settings");
    let check = [Check::new("principal:usr_1").requests_per_minute(2)];
    let admission = limiter.admit(&check, 0).await.expect("room locally");
    assert_eq!(admission.store, Some(Store::Fallback));

    redis.restart();
    wait_for(&limiter, Store::Redis).await;
    let admission = limiter.admit(&check, 0).await.expect("room");
    assert_eq!(admission.store, Some(Store::Redis));
    assert_eq!(limiter.stats().fallback_decisions, 1);
}

#[tokio::test]
async fn a_probe_lost_with_its_runtime_is_started_again() {
    let mut redis = redis::start();
    redis.stop();
    let settings = fallback_settings(&redis);
    // Built, and probing, on a runtime that then shuts down with the probe in it.
    let limiter = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let limiter = Limiter::new(settings).expect("valid settings");
            let mut changes = limiter.store_changes();
            changes
                .changed()
                .await
                .expect("the probe reports its failure");
            limiter
        })
    })
    .join()
    .expect("the thread finished");
    assert_eq!(limiter.stats().fallback_entries, 1);

    redis.restart();
    let check = [Check::new("principal:usr_1").requests_per_minute(2)];
    let admission = limiter.admit(&check, 0).await.expect("room locally");
    assert_eq!(admission.store, Some(Store::Fallback));
    wait_for(&limiter, Store::Redis).await;
}

#[tokio::test]
async fn a_fallback_share_enforces_part_of_each_limit() {
    let mut redis = redis::start();
    redis.stop();
    let limiter = Limiter::new(Settings {
        fallback_share: 0.25,
        ..fallback_settings(&redis)
    })
    .expect("valid settings");
    let check = [Check::new("principal:usr_1").requests_per_minute(8)];
    let mut admitted = 0;
    while limiter.admit(&check, 0).await.is_ok() {
        admitted += 1;
    }
    assert_eq!(admitted, 2, "a quarter of 8");
}

#[tokio::test]
async fn a_redis_that_stops_answering_costs_one_call_timeout_then_none() {
    let redis = redis::start();
    let proxy = FreezableProxy::start(&redis).await;
    let limiter = connected(Settings {
        redis_url: Some(proxy.url().into()),
        ..fallback_settings(&redis)
    })
    .await;
    let check = [Check::new("principal:usr_1").requests_per_minute(1000)];
    limiter.admit(&check, 0).await.expect("room");

    proxy.freeze(true);
    let start = Instant::now();
    let admission = limiter.admit(&check, 0).await.expect("room locally");
    let first = start.elapsed();
    assert_eq!(admission.store, Some(Store::Fallback));
    assert!(first >= CALL_TIMEOUT, "waited {first:?} for Redis");
    assert!(
        first <= CALL_TIMEOUT + Duration::from_millis(50),
        "{first:?}"
    );
    let start = Instant::now();
    for _ in 0..100 {
        limiter.admit(&check, 0).await.expect("room locally");
    }
    assert!(
        start.elapsed() < CALL_TIMEOUT,
        "open circuit: no call waits, {:?} for 100",
        start.elapsed()
    );
    assert_eq!(limiter.stats().redis_errors, 1);

    proxy.freeze(false);
    wait_for(&limiter, Store::Redis).await;
    let admission = limiter.admit(&check, 0).await.expect("room");
    assert_eq!(admission.store, Some(Store::Redis));
}

/// A TCP relay to Redis that can stop relaying (a Redis that hangs, or a network that drops
/// packets) without closing connections.
struct FreezableProxy {
    port: u16,
    frozen: Arc<watch::Sender<bool>>,
}

impl FreezableProxy {
    async fn start(redis: &TestRedis) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let port = listener.local_addr().expect("bound").port();
        let frozen = Arc::new(watch::Sender::new(false));
        let upstream = redis.addr();
        let relay_frozen = Arc::clone(&frozen);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(pump(client_read, server_write, relay_frozen.subscribe()));
                tokio::spawn(pump(server_read, client_write, relay_frozen.subscribe()));
            }
        });
        Self { port, frozen }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn freeze(&self, frozen: bool) {
        self.frozen.send_replace(frozen);
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut frozen: watch::Receiver<bool>,
) {
    let mut buffer = vec![0; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        if frozen.wait_for(|frozen| !*frozen).await.is_err() {
            return;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}
