//! Vault latency and throughput over real mTLS gRPC on loopback, with a real SQLite file
//! (WAL, synchronous=FULL):
//! - the lease round trip the router makes when a lease expires (three credentials opened);
//! - the token check the edge and router make on a cache miss;
//! - the sustained write rate of credential creation (each an fsynced, audited transaction),
//!   with one writer and with sixteen concurrent writers.
//!
//! `cargo bench -p keyroute-vault --bench vault`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use keyroute_proto::vault::v1::*;
use keyroute_test_support::{TestVault, with_token};

static NEXT_LABEL: AtomicU64 = AtomicU64::new(0);

fn custom_key(owner: &str) -> CreateCredentialRequest {
    let n = NEXT_LABEL.fetch_add(1, Ordering::Relaxed);
    CreateCredentialRequest {
        owner_id: owner.into(),
        provider: "custom".into(),
        label: format!("bench-{n}"),
        secret: format!("sk-bench-{n:08}-0123456789abcdef"),
        config: [("base_url".to_owned(), "http://127.0.0.1:9/v1".to_owned())].into(),
        disabled: false,
    }
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    // Lazy channels spawn their connection tasks on the current runtime.
    let _entered = runtime.enter();
    let (vault, user, token) = runtime.block_on(async {
        let vault = TestVault::start().await;
        let (user, token) = vault.user_with_token("bench").await;
        let org = vault.org("bench-org", &user, &[]).await;
        let mut edge = vault.client("edge");
        for owner in [&user, &org, &org] {
            edge.create_credential(with_token(custom_key(owner), &token))
                .await
                .unwrap();
        }
        (vault, user, token)
    });

    let mut group = c.benchmark_group("round_trip");
    group.measurement_time(Duration::from_secs(5));
    let router = vault.client("router");
    group.bench_function("lease_credentials_3_keys", |b| {
        b.to_async(&runtime).iter(|| {
            let mut router = router.clone();
            let user = user.clone();
            async move {
                let lease = router
                    .lease_credentials(LeaseCredentialsRequest { principal_id: user })
                    .await
                    .unwrap();
                assert_eq!(lease.into_inner().credentials.len(), 3);
            }
        });
    });
    group.bench_function("authenticate_token", |b| {
        b.to_async(&runtime).iter(|| {
            let mut router = router.clone();
            let token = token.clone();
            async move {
                router
                    .authenticate(AuthenticateRequest { token })
                    .await
                    .unwrap();
            }
        });
    });
    group.finish();

    let mut group = c.benchmark_group("write_rate");
    group.measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Elements(1));
    for writers in [1usize, 16] {
        let admin = vault.client("admin");
        let user = user.clone();
        group.bench_function(format!("create_credential_{writers}_writers"), |b| {
            b.to_async(&runtime).iter_custom(|iterations| {
                let admin = admin.clone();
                let user = user.clone();
                async move {
                    let started = Instant::now();
                    let per_writer = iterations.div_ceil(writers as u64);
                    let tasks: Vec<_> = (0..writers)
                        .map(|_| {
                            let mut admin = admin.clone();
                            let user = user.clone();
                            tokio::spawn(async move {
                                for _ in 0..per_writer {
                                    admin.create_credential(custom_key(&user)).await.unwrap();
                                }
                            })
                        })
                        .collect();
                    for task in tasks {
                        task.await.unwrap();
                    }
                    // Report time per write actually made.
                    started
                        .elapsed()
                        .mul_f64(iterations as f64 / (per_writer * writers as u64) as f64)
                }
            });
        });
    }
    group.finish();
    drop(vault);
}

criterion_group!(vault, benches);
criterion_main!(vault);
