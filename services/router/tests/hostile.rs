//! A hostile upstream cannot hold the router: an endless SSE line, a dripping error body, a
//! redirect to loopback, a 1 GiB body (announced or not), a stream that never ends and one
//! that drips bytes without events. Every call ends with a clear error within its limits,
//! no redirect is followed, and the process's resident memory ends within 20 MB of where it
//! started. The upstream is the raw TCP server of `support::hostile`, reached through custom keys.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use support::hostile::{TIMEOUTS, setup};

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_upstream_cannot_hold_the_router_or_its_memory() {
    let mut setup = setup().await;
    // Warm up the stack (connections, caches) before the baseline.
    let _ = setup.complete("redirect").await;
    let baseline = resident_bytes();

    let started = Instant::now();
    let error = setup.complete("redirect").await.unwrap_err();
    assert!(error.message().contains("redirect (303)"), "{error:?}");
    assert_eq!(
        setup.hostile.requests.load(Ordering::SeqCst),
        2,
        "the redirect was not followed"
    );

    let error = setup.complete("drip-error").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5), "{error:?}");

    for behaviour in ["gigabyte", "gigabyte-unannounced"] {
        let error = setup.complete(behaviour).await.unwrap_err();
        assert!(
            error.message().contains("exceeded 32 MiB"),
            "{behaviour}: {error:?}"
        );
    }

    let message = setup.stream_failure("endless-line").await;
    assert!(message.contains("exceeded 8 MiB"), "{message}");

    let dripping = Instant::now();
    let message = setup.stream_failure("drip-stream").await;
    assert!(message.contains("stalled"), "{message}");
    assert!(
        dripping.elapsed() < Duration::from_secs(3),
        "idle limit, not bytes"
    );

    let endless = Instant::now();
    let message = setup.stream_failure("never-ends").await;
    assert!(message.contains("longer than allowed"), "{message}");
    assert!(endless.elapsed() < TIMEOUTS.total + Duration::from_secs(2));

    let grown = resident_bytes().saturating_sub(baseline);
    eprintln!("resident memory grew by {} KiB", grown / 1024);
    assert!(
        grown < 20 * 1024 * 1024,
        "resident memory grew by {} MiB",
        grown / (1024 * 1024)
    );
}
