//! What one admission costs when decided in this process (no Redis configured, or the
//! fallback): three checks, limits high enough that every call is admitted.

use criterion::{Criterion, criterion_group, criterion_main};
use keyroute_ratelimit::{Check, Limiter, Settings};

fn admit(c: &mut Criterion) {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().build() else {
        return;
    };
    let Ok(limiter) = Limiter::new(Settings::default()) else {
        return;
    };
    let checks = [
        Check::new("principal:usr_1").requests_per_minute(u64::MAX / 4),
        Check::new("org:org_1")
            .requests_per_minute(u64::MAX / 4)
            .tokens_per_minute(u64::MAX / 4),
        Check::new("model:gpt-4o").tokens_per_minute(u64::MAX / 4),
    ];
    c.bench_function("admit/local/3_checks", |b| {
        b.to_async(&runtime).iter(|| async {
            if let Ok(admission) = limiter.admit(&checks, 1_000).await {
                limiter.settle(admission, 800).await;
            }
        });
    });
    c.bench_function("admit/no_checks", |b| {
        b.to_async(&runtime)
            .iter(|| async { limiter.admit(&[], 1_000).await.is_ok() });
    });
}

criterion_group!(benches, admit);
criterion_main!(benches);
