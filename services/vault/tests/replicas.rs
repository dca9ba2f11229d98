//! Two vault replicas on one PostgreSQL database (always PostgreSQL, whichever backend the
//! other vault tests run on): a change through one reaches the other's routers within a
//! second, credit holds and usage debits stay exact when both take them at once, and KEK
//! rotation run by both at once rewraps each key once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use keyroute_proto::vault::v1::*;
use keyroute_test_support::{TestVault, with_token};
use keyroute_vault::crypto::Keyring;

fn key(owner: &str, label: &str, secret: &str) -> CreateCredentialRequest {
    CreateCredentialRequest {
        owner_id: owner.into(),
        provider: "custom".into(),
        label: label.into(),
        secret: secret.into(),
        config: [(
            "base_url".to_owned(),
            "https://llm.example.com/v1".to_owned(),
        )]
        .into(),
        disabled: false,
    }
}

/// What a router attached to `vault` is leased for `principal`.
async fn lease(vault: &TestVault, principal: &str) -> LeaseCredentialsResponse {
    vault
        .client("router")
        .lease_credentials(LeaseCredentialsRequest {
            principal_id: principal.into(),
        })
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn a_key_disabled_through_one_replica_reaches_the_other_replicas_routers_within_a_second() {
    let a = TestVault::start_on_postgres().await;
    let b = a.replica().await;
    let (user, token) = a.user_with_token("rep").await;
    let id = a
        .client("edge")
        .create_credential(with_token(key(&user, "k", "sk-replica-0123456789"), &token))
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap()
        .id;
    // The key is leasable through the other replica at once: one database.
    let lease = lease(&b, &user).await;
    assert_eq!(lease.credentials.len(), 1);

    let mut stream = b
        .client("router")
        .watch_revocations(WatchRevocationsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        stream.message().await.unwrap().unwrap().kind(),
        RevocationKind::Resync
    );
    let disabled_at = Instant::now();
    a.client("edge")
        .set_credential_enabled(with_token(
            SetCredentialEnabledRequest {
                credential_id: id.clone(),
                enabled: false,
            },
            &token,
        ))
        .await
        .unwrap();
    let event = loop {
        let event = tokio::time::timeout(Duration::from_secs(1), stream.message())
            .await
            .expect("no event from the other replica within one second")
            .unwrap()
            .unwrap();
        // The listener's own (re)connection resyncs; the change follows.
        if event.kind() != RevocationKind::Resync {
            break event;
        }
    };
    assert!(disabled_at.elapsed() < Duration::from_secs(1));
    assert_eq!(event.kind(), RevocationKind::CredentialDisabled);
    assert_eq!(
        (event.credential_id.as_str(), event.owner_id.as_str()),
        (id.as_str(), user.as_str())
    );
}

async fn hold(vault: &TestVault, hold_id: String, principal: String, micros: i64) -> bool {
    vault
        .client("router")
        .hold_credits(HoldCreditsRequest {
            hold_id,
            principal_id: principal,
            micros,
            ttl_seconds: 60,
        })
        .await
        .unwrap()
        .into_inner()
        .granted
}

#[tokio::test]
async fn holds_asked_of_both_replicas_at_once_never_exceed_the_balance() {
    let a = TestVault::start_on_postgres().await;
    let b = a.replica().await;
    let (ada, _) = a.user_with_token("ada").await;
    a.client("admin")
        .grant_credits(GrantCreditsRequest {
            principal_id: ada.clone(),
            micros: 1_000,
            reason: "holds".into(),
        })
        .await
        .unwrap();
    // 40 routers each ask for 100 at once, half through each replica: ten fit.
    let asks = (0..40).map(|i| {
        let vault = if i % 2 == 0 { &a } else { &b };
        hold(vault, format!("hold-{i}"), ada.clone(), 100)
    });
    let granted = futures::future::join_all(asks).await;
    assert_eq!(granted.iter().filter(|granted| **granted).count(), 10);
}

fn managed(usage_id: String, principal: &str, cost: i64) -> UsageRecord {
    UsageRecord {
        request_id: usage_id.clone(),
        usage_id,
        principal_id: principal.into(),
        credential_id: "cred_platform".into(),
        credential_owner_id: "platform".into(),
        source: UsageSource::Managed as i32,
        provider: "openai".into(),
        model: "gpt-4o-mini".into(),
        input_tokens: 10,
        output_tokens: 2,
        cost_micros: cost,
        ..UsageRecord::default()
    }
}

#[tokio::test]
async fn usage_sent_to_both_replicas_at_once_is_recorded_and_debited_once() {
    let a = TestVault::start_on_postgres().await;
    let b = a.replica().await;
    let (ada, _) = a.user_with_token("ada").await;
    a.client("admin")
        .grant_credits(GrantCreditsRequest {
            principal_id: ada.clone(),
            micros: 1_000_000,
            reason: "usage".into(),
        })
        .await
        .unwrap();
    // 20 batches of 10 calls; each batch goes to both replicas at once, as a router that
    // timed out on one replica retries on the other.
    let mut sends = Vec::new();
    for batch in 0..20 {
        let records: Vec<UsageRecord> = (0..10)
            .map(|call| managed(format!("use-{batch}-{call}"), &ada, 7))
            .collect();
        for vault in [&a, &b] {
            let records = records.clone();
            let mut client = vault.client("router");
            sends.push(async move {
                client
                    .record_usage(RecordUsageRequest { records })
                    .await
                    .unwrap()
                    .into_inner()
            });
        }
    }
    let answers = futures::future::join_all(sends).await;
    let recorded: u32 = answers.iter().map(|answer| answer.recorded).sum();
    let duplicates: u32 = answers.iter().map(|answer| answer.duplicates).sum();
    assert_eq!((recorded, duplicates), (200, 200));
    let balance = b
        .client("router")
        .get_balance(GetBalanceRequest {
            principal_id: ada.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(balance.balance_micros, 1_000_000 - 200 * 7);
}

#[tokio::test]
async fn kek_rotation_run_by_both_replicas_at_once_rewraps_each_key_once() {
    let a = TestVault::start_on_postgres().await;
    let b = a.replica().await;
    let (user, token) = a.user_with_token("rot").await;
    let mut edge = a.client("edge");
    for i in 0..70 {
        let secret = format!("sk-rotate-{i:04}-0123456789");
        edge.create_credential(with_token(key(&user, &format!("k{i}"), &secret), &token))
            .await
            .unwrap();
    }
    let mut keyring = Keyring::load(&a.kek_path()).unwrap();
    keyring.add_version();
    keyring.save(&a.kek_path()).unwrap();

    let (mut admin_a, mut admin_b) = (a.client("admin"), b.client("admin"));
    let (from_a, from_b) = tokio::join!(
        admin_a.rotate_kek(RotateKekRequest {}),
        admin_b.rotate_kek(RotateKekRequest {})
    );
    let (from_a, from_b) = (from_a.unwrap().into_inner(), from_b.unwrap().into_inner());
    assert_eq!((from_a.active_version, from_b.active_version), (2, 2));
    assert_eq!(from_a.rewrapped + from_b.rewrapped, 70);
    for vault in [&a, &b] {
        let lease = lease(vault, &user).await;
        assert_eq!(lease.credentials.len(), 70);
    }
}

#[tokio::test]
async fn a_replica_that_did_not_rotate_still_leases_keys_another_rewrapped() {
    let a = TestVault::start_on_postgres().await;
    let b = a.replica().await;
    let (user, token) = a.user_with_token("lag").await;
    for i in 0..3 {
        let secret = format!("sk-lagging-{i:04}-0123456789");
        a.client("edge")
            .create_credential(with_token(key(&user, &format!("k{i}"), &secret), &token))
            .await
            .unwrap();
    }
    let mut keyring = Keyring::load(&a.kek_path()).unwrap();
    keyring.add_version();
    keyring.save(&a.kek_path()).unwrap();
    let rotated = a
        .client("admin")
        .rotate_kek(RotateKekRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!((rotated.active_version, rotated.rewrapped), (2, 3));

    // B still holds version 1 only; the keys are under version 2 now.
    let lease = lease(&b, &user).await;
    assert_eq!(lease.credentials.len(), 3, "{:?}", lease.unreadable);
    assert!(lease.unreadable.is_empty());
    let secrets: Vec<&str> = lease
        .credentials
        .iter()
        .map(|c| c.secret.as_str())
        .collect();
    assert!(
        secrets.iter().all(|s| s.contains("sk-lagging-")),
        "{secrets:?}"
    );
}
