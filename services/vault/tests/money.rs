//! Credits, the usage ledger and budgets, over mTLS against a vault on real SQLite.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keyroute_proto::vault::v1::*;
use keyroute_test_support::{TestVault, with_token};
use tonic::Code;

/// A record whose usage id is `usage_id` and whose correlation id is the same word.
fn usage(
    usage_id: &str,
    principal: &str,
    owner: &str,
    source: UsageSource,
    cost: i64,
) -> UsageRecord {
    UsageRecord {
        usage_id: usage_id.into(),
        hold_id: String::new(),
        request_id: usage_id.into(),
        principal_id: principal.into(),
        credential_id: "cred_test".into(),
        credential_owner_id: owner.into(),
        source: source as i32,
        provider: "openai".into(),
        model: "gpt-4o-mini".into(),
        input_tokens: 100,
        output_tokens: 20,
        cost_micros: cost,
        ..UsageRecord::default()
    }
}

async fn balance(vault: &TestVault, principal: &str) -> GetBalanceResponse {
    vault
        .client("router")
        .get_balance(GetBalanceRequest {
            principal_id: principal.into(),
        })
        .await
        .unwrap()
        .into_inner()
}

async fn record(
    vault: &TestVault,
    records: Vec<UsageRecord>,
) -> Result<RecordUsageResponse, tonic::Status> {
    vault
        .client("router")
        .record_usage(RecordUsageRequest { records })
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn managed_usage_debits_credits_once() {
    let vault = TestVault::start().await;
    let (ada, _) = vault.user_with_token("ada").await;
    let audited = vault.store_audit_count(&ada).await;
    let granted = vault
        .client("admin")
        .grant_credits(GrantCreditsRequest {
            principal_id: ada.clone(),
            micros: 5_000_000,
            reason: "welcome".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(granted.balance_micros, 5_000_000);
    assert_eq!(
        vault.store_audit_count(&ada).await,
        audited + 1,
        "one audit event per grant"
    );

    let batch = vec![
        usage("req-1", &ada, "platform", UsageSource::Managed, 1_250),
        usage("req-2", &ada, &ada, UsageSource::Byok, 900),
    ];
    let first = record(&vault, batch.clone()).await.unwrap();
    assert_eq!((first.recorded, first.duplicates), (2, 0));
    // A router retrying the same batch after a lost reply changes nothing.
    let retry = record(&vault, batch).await.unwrap();
    assert_eq!((retry.recorded, retry.duplicates), (0, 2));
    // The caller's request id is no key: two attempts under one request id are two charges,
    // and a record without a usage id (an older router) is always kept.
    let mut same_request = usage("use-3", &ada, "platform", UsageSource::Managed, 100);
    same_request.request_id = "req-1".into();
    let mut no_usage_id = usage("", &ada, "platform", UsageSource::Managed, 100);
    no_usage_id.request_id = "req-1".into();
    let reused = record(&vault, vec![same_request, no_usage_id.clone(), no_usage_id])
        .await
        .unwrap();
    assert_eq!((reused.recorded, reused.duplicates), (3, 0));

    let after = balance(&vault, &ada).await;
    assert_eq!(
        after.balance_micros,
        5_000_000 - 1_250 - 300,
        "only managed calls debit"
    );
    let budget = after.budget.unwrap();
    assert_eq!(budget.monthly_cap_micros, 0);
    assert_eq!(
        budget.month_spend_micros, 2_450,
        "the budget counts byok spend too"
    );

    // Durable: a restarted vault on the same database sees the same ledger.
    let vault = vault.restart().await;
    assert_eq!(balance(&vault, &ada).await.balance_micros, 4_998_450);
}

#[tokio::test]
async fn bad_batches_keep_nothing() {
    let vault = TestVault::start().await;
    let (ada, _) = vault.user_with_token("ada").await;

    // One unknown principal fails the whole batch: the good record is not kept either.
    let error = record(
        &vault,
        vec![
            usage("req-a", &ada, "platform", UsageSource::Managed, 10),
            usage("req-b", "usr_nobody", "platform", UsageSource::Managed, 10),
        ],
    )
    .await
    .unwrap_err();
    assert_eq!(error.code(), Code::NotFound, "{error:?}");
    assert_eq!(balance(&vault, &ada).await.balance_micros, 0);

    let mut negative = usage("req-c", &ada, "platform", UsageSource::Managed, -5);
    let error = record(&vault, vec![negative.clone()]).await.unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument);
    assert!(
        error.message().contains("records[0]: cost_micros"),
        "{error:?}"
    );
    negative.cost_micros = 5;
    negative.source = UsageSource::Unspecified as i32;
    let error = record(&vault, vec![negative.clone()]).await.unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument);
    negative.source = UsageSource::Managed as i32;
    negative.request_id = " ".into();
    let error = record(&vault, vec![negative]).await.unwrap_err();
    assert!(
        error.message().contains("request_id is required"),
        "{error:?}"
    );

    let too_many = (0..1001)
        .map(|i| usage(&format!("r{i}"), &ada, &ada, UsageSource::Byok, 1))
        .collect();
    let error = record(&vault, too_many).await.unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument);

    // The retry with the good record alone goes through: the failed batch left no trace.
    let ok = record(
        &vault,
        vec![usage("req-a", &ada, "platform", UsageSource::Managed, 10)],
    )
    .await
    .unwrap();
    assert_eq!(ok.recorded, 1);
    assert_eq!(balance(&vault, &ada).await.balance_micros, -10);

    // Credits cannot be taken back below zero, and the platform has no balance.
    let mut admin = vault.client("admin");
    let error = admin
        .grant_credits(GrantCreditsRequest {
            principal_id: ada.clone(),
            micros: -1,
            reason: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition, "{error:?}");
    let error = admin
        .grant_credits(GrantCreditsRequest {
            principal_id: "platform".into(),
            micros: 1,
            reason: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition, "{error:?}");
    assert_eq!(balance(&vault, &ada).await.balance_micros, -10);
}

#[tokio::test]
async fn budgets_and_usage_follow_owner_roles() {
    let vault = TestVault::start().await;
    let (ada, ada_token) = vault.user_with_token("ada").await;
    let (bob, bob_token) = vault.user_with_token("bob").await;
    let org = vault.org("acme", &ada, &[(&bob, Role::Member)]).await;
    let mut edge = vault.client("edge");
    let audited = vault.store_audit_count(&org).await;

    // Members read; only owners and billing managers set budgets.
    let set = |token: &str, cap: i64| {
        with_token(
            SetBudgetRequest {
                owner_id: org.clone(),
                monthly_cap_micros: cap,
            },
            token,
        )
    };
    let error = edge.set_budget(set(&bob_token, 1_000)).await.unwrap_err();
    assert_eq!(error.code(), Code::PermissionDenied, "{error:?}");
    let error = edge.set_budget(set(&ada_token, -1)).await.unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument);
    let budget = edge
        .set_budget(set(&ada_token, 1_000))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(budget.budget.unwrap().monthly_cap_micros, 1_000);
    assert_eq!(vault.store_audit_count(&org).await, audited + 1);

    // Bob's calls with the org's key count against the org's budget.
    record(
        &vault,
        vec![
            usage("b-1", &bob, &org, UsageSource::Byok, 300),
            usage("b-2", &bob, &org, UsageSource::Byok, 400),
            usage("b-3", &bob, "platform", UsageSource::Managed, 50),
        ],
    )
    .await
    .unwrap();
    let seen = balance(&vault, &bob).await;
    assert_eq!(seen.org_budgets.len(), 1);
    assert_eq!(seen.org_budgets[0].owner_id, org);
    assert_eq!(seen.org_budgets[0].monthly_cap_micros, 1_000);
    assert_eq!(seen.org_budgets[0].month_spend_micros, 700);
    assert_eq!(seen.budget.unwrap().month_spend_micros, 750);

    let report = edge
        .get_usage(with_token(
            GetUsageRequest {
                owner_id: org.clone(),
                month: String::new(),
            },
            &bob_token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(report.total_cost_micros, 700);
    assert_eq!(report.lines.len(), 1);
    assert_eq!(report.lines[0].requests, 2);
    assert_eq!(report.lines[0].input_tokens, 200);

    // Another user's balance and usage are not the edge caller's to read: for them that user
    // does not exist.
    let error = edge
        .get_balance(with_token(
            GetBalanceRequest {
                principal_id: ada.clone(),
            },
            &bob_token,
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::NotFound);
    let error = edge
        .get_usage(with_token(
            GetUsageRequest {
                owner_id: org.clone(),
                month: "2026-13".into(),
            },
            &ada_token,
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument);

    // Removing the cap.
    let removed = edge
        .set_budget(set(&ada_token, 0))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(removed.budget.unwrap().monthly_cap_micros, 0);

    // Routers record usage; they never grant credits or set budgets.
    let error = vault
        .client("router")
        .grant_credits(GrantCreditsRequest {
            principal_id: bob.clone(),
            micros: 1,
            reason: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::PermissionDenied);
    let error = edge
        .record_usage(RecordUsageRequest { records: vec![] })
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::PermissionDenied);
}

async fn hold(
    vault: &TestVault,
    hold_id: &str,
    principal: &str,
    micros: i64,
    ttl_seconds: u32,
) -> HoldCreditsResponse {
    vault
        .client("router")
        .hold_credits(HoldCreditsRequest {
            hold_id: hold_id.into(),
            principal_id: principal.into(),
            micros,
            ttl_seconds,
        })
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn credit_holds_of_all_routers_fit_in_the_balance() {
    let vault = TestVault::start().await;
    let (ada, _) = vault.user_with_token("ada").await;
    vault
        .client("admin")
        .grant_credits(GrantCreditsRequest {
            principal_id: ada.clone(),
            micros: 1_000,
            reason: "holds".into(),
        })
        .await
        .unwrap();

    // Two routers' holds: together at most the balance.
    assert!(hold(&vault, "hold-a", &ada, 700, 60).await.granted);
    let refused = hold(&vault, "hold-b", &ada, 400, 60).await;
    assert!(!refused.granted);
    assert_eq!(
        (refused.held_by_others_micros, refused.held_micros),
        (700, 0)
    );
    assert!(hold(&vault, "hold-b", &ada, 300, 60).await.granted);

    // A managed call served under hold-a: its cost leaves the balance and the hold alike.
    let mut served = usage("use-h1", &ada, "platform", UsageSource::Managed, 200);
    served.hold_id = "hold-a".into();
    record(&vault, vec![served]).await.unwrap();
    let after = hold(&vault, "hold-b", &ada, 300, 60).await;
    assert_eq!(after.balance_micros, 800);
    assert_eq!(after.held_by_others_micros, 500);

    // Released holds and lapsed ones free the balance for the others.
    assert!(hold(&vault, "hold-a", &ada, 0, 60).await.granted);
    assert!(hold(&vault, "hold-b", &ada, 800, 1).await.granted);
    let waiting = hold(&vault, "hold-c", &ada, 500, 60).await;
    assert!(!waiting.granted);
    let lapsed_at = std::time::Instant::now() + std::time::Duration::from_millis(1100);
    tokio::time::sleep_until(lapsed_at.into()).await;
    assert!(hold(&vault, "hold-c", &ada, 500, 60).await.granted);

    // Only routers hold credit, and holds are checked.
    let error = vault
        .client("edge")
        .hold_credits(HoldCreditsRequest {
            hold_id: "h".into(),
            principal_id: ada.clone(),
            micros: 1,
            ttl_seconds: 60,
        })
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::PermissionDenied);
    let error = vault
        .client("router")
        .hold_credits(HoldCreditsRequest {
            hold_id: "hold-c".into(),
            principal_id: ada,
            micros: -1,
            ttl_seconds: 60,
        })
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument);
}
