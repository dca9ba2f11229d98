//! Limits shared through a real Redis on loopback: several routers, all-or-nothing checks,
//! token settlement, and calls that must not touch Redis at all.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{HOUR, calls_of, connected, inspect, settings};
use keyroute_ratelimit::{Check, Dimension, Limiter, RefusalKind, Store};
use keyroute_test_servers::redis;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_routers_share_one_limit_within_five_percent_over_any_window() {
    // 600 per minute, with the minute shortened to a second: the same sliding-window
    // arithmetic, sixty times faster.
    const LIMIT: usize = 600;
    const WINDOW: Duration = Duration::from_secs(1);
    const RUN: Duration = Duration::from_secs(3);
    let redis = redis::start();
    let routers = [
        connected(settings(&redis, WINDOW)).await,
        connected(settings(&redis, WINDOW)).await,
    ];
    let check = Check::new("principal:usr_1").requests_per_minute(LIMIT as u64);

    // Windows are cut from the epoch on Redis's clock, this machine's: start on a boundary, so
    // that the first window's burst (nothing was counted before it) opens a window.
    let into_window = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis()
        % WINDOW.as_millis();
    tokio::time::sleep(WINDOW - Duration::from_millis(into_window as u64)).await;

    let start = Instant::now();
    let mut workers = Vec::new();
    for router in &routers {
        for _ in 0..4 {
            let (router, check) = (router.clone(), check.clone());
            workers.push(tokio::spawn(async move {
                let (mut admitted, mut refused) = (Vec::new(), Vec::new());
                while start.elapsed() < RUN {
                    match router.admit(std::slice::from_ref(&check), 0).await {
                        Ok(admission) => {
                            assert_eq!(admission.store, Some(Store::Redis));
                            admitted.push(start.elapsed());
                        }
                        Err(refusal) => {
                            assert_eq!(refusal.kind, RefusalKind::Exhausted);
                            refused.push(start.elapsed());
                        }
                    }
                }
                (admitted, refused)
            }));
        }
    }
    let mut admitted = Vec::new();
    let mut asked = Vec::new();
    for worker in workers {
        let (times, refusals) = worker.await.expect("worker finished");
        asked.extend(&times);
        asked.extend(refusals);
        admitted.extend(times);
    }
    admitted.sort();
    asked.sort();
    let refused = (asked.len() - admitted.len()) as u64;
    // Where nobody asked for 10 ms (eight workers ask every ~40 µs), the machine stopped
    // them: nothing can be admitted in such a gap, so a span holding gaps is owed, on top of
    // what it admitted, the limit's rate over their length.
    let gaps: Vec<(Duration, Duration)> = asked
        .windows(2)
        .filter(|pair| pair[1] - pair[0] > Duration::from_millis(10))
        .map(|pair| (pair[0], pair[1]))
        .collect();
    let stalled = |from: Duration, to: Duration| -> Duration {
        gaps.iter()
            .map(|(a, b)| (*b).min(to).saturating_sub((*a).max(from)))
            .sum()
    };
    // Twice the limit is enough to test both bounds: the spans below check that every window
    // stayed full. More is not asked: a slow or busy host gives three to eight times, not ten.
    assert!(
        refused > admitted.len() as u64,
        "the load must be at least twice the limit to test it: {refused} refused, {} admitted",
        admitted.len()
    );

    // Every window-long span, slid by 10 ms: never more than the limit (plus 5%) and, once the
    // first window has passed (steady state), never less than the limit (minus 5%), counting
    // what the span's stalls cost. Spans stalled for more than a tenth are not judged.
    let in_span = |from: Duration| {
        let to = from + WINDOW;
        admitted.partition_point(|t| *t < to) - admitted.partition_point(|t| *t < from)
    };
    let (mut most, mut least, mut judged) = (0, usize::MAX, 0);
    let mut from = Duration::ZERO;
    while from + WINDOW <= RUN {
        let count = in_span(from);
        most = most.max(count);
        let stall = stalled(from, from + WINDOW);
        if from >= WINDOW && stall <= WINDOW / 10 {
            let owed = (stall.as_secs_f64() / WINDOW.as_secs_f64() * LIMIT as f64).ceil();
            least = least.min(count + owed as usize);
            judged += 1;
        }
        from += Duration::from_millis(10);
    }
    eprintln!(
        "limit {LIMIT} per {WINDOW:?}: window-long spans admitted {least} (stalls owed) to {most} \
         ({judged} judged for the least; gaps in asking {gaps:?}); \
         {} admitted, {refused} refused in {RUN:?}",
        admitted.len()
    );
    assert!(
        judged >= 20,
        "too few spans without a long stall to judge: {judged}"
    );
    assert!(most <= LIMIT * 105 / 100, "a span admitted {most}");
    assert!(least >= LIMIT * 95 / 100, "a span admitted only {least}");
    for router in &routers {
        assert_eq!(router.stats().fallback_decisions, 0);
    }
}

#[tokio::test]
async fn a_call_refused_by_one_limit_takes_nothing_from_the_others() {
    let redis = redis::start();
    let limiter = connected(settings(&redis, HOUR)).await;
    let principal = Check::new("principal:usr_1").requests_per_minute(3);
    let org = Check::new("org:org_1")
        .requests_per_minute(100)
        .tokens_per_minute(10_000);
    let model = Check::new("model:gpt-4o").tokens_per_minute(100);
    let both = [principal.clone(), org.clone()];

    for _ in 0..3 {
        limiter.admit(&both, 10).await.expect("under both limits");
    }
    let refusal = limiter
        .admit(&both, 10)
        .await
        .expect_err("principal is full");
    assert_eq!(refusal.kind, RefusalKind::Exhausted);
    assert_eq!(&*refusal.scope, "principal:usr_1");
    assert_eq!(refusal.dimension, Dimension::Requests);
    assert_eq!(refusal.limit, 3);
    let quota = refusal.quota().expect("counters were read");
    assert_eq!(quota.remaining, 0);
    let wait = refusal.retry_after.expect("waiting helps");
    assert!(wait > Duration::ZERO && wait <= 2 * HOUR, "{wait:?}");

    // A token limit refusing: the org's counters do not move either.
    limiter
        .admit(&[org.clone(), model.clone()], 60)
        .await
        .expect("under both");
    let refusal = limiter
        .admit(&[org.clone(), model], 60)
        .await
        .expect_err("model tokens are full");
    assert_eq!(
        (&*refusal.scope, refusal.dimension),
        ("model:gpt-4o", Dimension::Tokens)
    );

    // The org saw 3 + 1 calls and 30 + 60 tokens; this call makes it 5 and 90.
    let admission = limiter.admit(&[org], 0).await.expect("org has room");
    let requests = admission.quotas.requests.expect("org limits requests");
    let tokens = admission.quotas.tokens.expect("org limits tokens");
    assert_eq!((requests.limit, requests.remaining), (100, 95));
    assert_eq!((tokens.limit, tokens.remaining), (10_000, 9_910));
}

#[tokio::test]
async fn settling_moves_the_token_count_up_and_down() {
    let redis = redis::start();
    let limiter = connected(settings(&redis, HOUR)).await;
    let model = [Check::new("model:gpt-4o").tokens_per_minute(1000)];
    let remaining = |admission: &keyroute_ratelimit::Admission| {
        admission.quotas.tokens.expect("tokens limited").remaining
    };

    let admission = limiter.admit(&model, 300).await.expect("room");
    assert_eq!(remaining(&admission), 700);
    limiter.settle(admission, 100).await;
    let admission = limiter.admit(&model, 0).await.expect("room");
    assert_eq!(remaining(&admission), 900, "settled down to 100");

    let admission = limiter.admit(&model, 200).await.expect("room");
    assert_eq!(remaining(&admission), 700);
    limiter.settle(admission, 500).await;
    let admission = limiter.admit(&model, 0).await.expect("room");
    assert_eq!(remaining(&admission), 400, "settled up to 600 in all");

    let refusal = limiter.admit(&model, 401).await.expect_err("400 left");
    assert_eq!(refusal.kind, RefusalKind::Exhausted);
    assert!(refusal.retry_after.is_some());

    let decided = limiter.stats().redis_decisions;
    let refusal = limiter.admit(&model, 1001).await.expect_err("never fits");
    assert_eq!(refusal.kind, RefusalKind::TooLarge);
    assert_eq!((refusal.limit, refusal.requested), (1000, 1001));
    assert_eq!(refusal.retry_after, None);
    assert_eq!(
        limiter.stats().redis_decisions,
        decided,
        "decided without Redis"
    );
    assert_eq!(limiter.stats().settlements_lost, 0);
}

#[tokio::test]
async fn calls_without_limits_never_reach_redis() {
    let redis = redis::start();
    let limiter = connected(settings(&redis, HOUR)).await;
    let unlimited = [Check::new("principal:usr_1"), Check::new("org:org_1")];
    for _ in 0..1000 {
        let admission = limiter.admit(&unlimited, 500).await.expect("no limits");
        assert_eq!(admission.store, None);
        limiter.settle(admission, 900).await;
        limiter.admit(&[], 500).await.expect("no checks");
    }
    assert_eq!(calls_of(&redis, "evalsha").await, 0);
    assert_eq!(limiter.stats(), Default::default());

    // Nor does a limiter whose Redis is gone wait for it.
    let mut gone = redis::start();
    gone.stop();
    let limiter = Limiter::new(settings(&gone, HOUR)).expect("valid settings");
    let start = Instant::now();
    for _ in 0..1000 {
        limiter.admit(&unlimited, 500).await.expect("no limits");
    }
    assert!(
        start.elapsed() < Duration::from_millis(100),
        "{:?}",
        start.elapsed()
    );
    let stats = limiter.stats();
    assert_eq!((stats.redis_errors, stats.fallback_decisions), (0, 0));
}

#[tokio::test]
async fn scripts_lost_by_redis_are_loaded_again() {
    let redis = redis::start();
    let limiter = connected(settings(&redis, HOUR)).await;
    let check = [Check::new("principal:usr_1").requests_per_minute(10)];
    limiter.admit(&check, 0).await.expect("room");
    let mut conn = inspect(&redis).await;
    let _: () = ::redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut conn)
        .await
        .expect("flushed");
    let admission = limiter.admit(&check, 0).await.expect("room");
    assert_eq!(admission.store, Some(Store::Redis));
    assert_eq!(admission.quotas.requests.expect("limited").remaining, 8);
    assert_eq!(limiter.stats().redis_errors, 0);
}

#[tokio::test]
async fn a_password_protected_redis_is_used_and_the_password_never_printed() {
    let redis = redis::start_with_password("canary-9f3b");
    let settings = settings(&redis, HOUR);
    let limiter = connected(settings.clone()).await;
    let admission = limiter
        .admit(&[Check::new("principal:usr_1").requests_per_minute(1)], 0)
        .await
        .expect("room");
    assert_eq!(admission.store, Some(Store::Redis));
    assert!(!format!("{settings:?} {limiter:?}").contains("canary-9f3b"));
}

#[tokio::test]
async fn admission_latency_over_loopback() {
    let redis = redis::start();
    let shared = connected(settings(&redis, HOUR)).await;
    let local = Limiter::new(keyroute_ratelimit::Settings {
        window: HOUR,
        ..Default::default()
    })
    .expect("valid settings");
    let checks = [
        Check::new("principal:usr_1").requests_per_minute(u64::MAX / 4),
        Check::new("org:org_1").tokens_per_minute(u64::MAX / 4),
        Check::new("model:gpt-4o")
            .requests_per_minute(u64::MAX / 4)
            .tokens_per_minute(u64::MAX / 4),
    ];
    for (name, limiter) in [("redis", &shared), ("local", &local)] {
        let mut took = Vec::with_capacity(2000);
        for _ in 0..2000 {
            let start = Instant::now();
            limiter.admit(&checks, 1000).await.expect("room");
            took.push(start.elapsed());
        }
        took.sort();
        eprintln!(
            "{name}: admission with 3 checks p50 {:?}, p99 {:?} (this build's profile)",
            took[1000], took[1980]
        );
    }
    assert_eq!(shared.stats().redis_decisions, 2000);
}
