//! The ledger keeps the parts of each call's counts that are priced apart (cache reads, cache
//! writes and their 1-hour share, reasoning), sums them per line and in the total, and refuses
//! records whose parts do not fit their wholes, keeping nothing of their batch.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keyroute_proto::vault::v1::*;
use keyroute_test_support::TestVault;
use tonic::Code;

/// A managed call on `model` with these counts.
fn call(usage_id: &str, principal: &str, model: &str, counts: [u64; 6], cost: i64) -> UsageRecord {
    let [
        input,
        cache_read,
        cache_write,
        cache_write_1h,
        output,
        reasoning,
    ] = counts;
    UsageRecord {
        usage_id: usage_id.into(),
        request_id: usage_id.into(),
        principal_id: principal.into(),
        credential_id: "cred_platform".into(),
        credential_owner_id: "platform".into(),
        source: UsageSource::Managed as i32,
        provider: "anthropic".into(),
        model: model.into(),
        input_tokens: input,
        output_tokens: output,
        cache_read_tokens: cache_read,
        cache_write_tokens: cache_write,
        cache_write_1h_tokens: cache_write_1h,
        reasoning_tokens: reasoning,
        cost_micros: cost,
        ..UsageRecord::default()
    }
}

async fn record(vault: &TestVault, records: Vec<UsageRecord>) -> Result<u32, tonic::Status> {
    vault
        .client("router")
        .record_usage(RecordUsageRequest { records })
        .await
        .map(|reply| reply.into_inner().recorded)
}

async fn usage(vault: &TestVault, owner: &str) -> GetUsageResponse {
    vault
        .client("admin")
        .get_usage(GetUsageRequest {
            owner_id: owner.into(),
            month: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
}

/// A line's counts in `call`'s order, with its requests and cost.
fn counts(line: &UsageLine) -> ([u64; 6], u64, i64) {
    (
        [
            line.input_tokens,
            line.cache_read_tokens,
            line.cache_write_tokens,
            line.cache_write_1h_tokens,
            line.output_tokens,
            line.reasoning_tokens,
        ],
        line.requests,
        line.cost_micros,
    )
}

#[tokio::test]
async fn usage_lines_and_totals_show_the_split() {
    let vault = TestVault::start().await;
    let (ada, _) = vault.user_with_token("ada").await;
    let recorded = record(
        &vault,
        vec![
            call("u-1", &ada, "claude-a", [100, 60, 30, 10, 50, 20], 700),
            call("u-2", &ada, "claude-a", [10, 4, 2, 1, 7, 3], 90),
            call("u-3", &ada, "claude-b", [5, 0, 0, 0, 5, 0], 10),
        ],
    )
    .await
    .unwrap();
    assert_eq!(recorded, 3);
    let report = usage(&vault, &ada).await;
    assert_eq!(report.lines.len(), 2);
    assert_eq!(
        counts(&report.lines[0]),
        ([110, 64, 32, 11, 57, 23], 2, 790)
    );
    assert_eq!(counts(&report.lines[1]), ([5, 0, 0, 0, 5, 0], 1, 10));
    let total = report.total.unwrap();
    assert_eq!(counts(&total), ([115, 64, 32, 11, 62, 23], 3, 800));
    assert!(total.provider.is_empty() && total.model.is_empty());
    assert_eq!(report.total_cost_micros, 800);

    // Durable, and a record without the parts (a router from before them) reads as 0.
    let vault = vault.restart().await;
    record(
        &vault,
        vec![call("u-4", &ada, "claude-b", [1, 0, 0, 0, 1, 0], 1)],
    )
    .await
    .unwrap();
    let report = usage(&vault, &ada).await;
    assert_eq!(counts(&report.lines[1]), ([6, 0, 0, 0, 6, 0], 2, 11));
}

#[tokio::test]
async fn parts_larger_than_their_wholes_are_refused_and_the_batch_keeps_nothing() {
    let vault = TestVault::start().await;
    let (ada, _) = vault.user_with_token("ada").await;
    let good = call("good", &ada, "claude-a", [10, 4, 2, 1, 7, 3], 5);
    let cases: [([u64; 6], &str); 5] = [
        ([10, 8, 3, 0, 1, 0], "cannot exceed it"),
        (
            [10, 0, 2, 3, 1, 0],
            "cache_write_1h_tokens cannot exceed cache_write_tokens",
        ),
        (
            [10, 0, 0, 0, 1, 2],
            "reasoning_tokens is part of output_tokens",
        ),
        ([u64::MAX, 0, 0, 0, 1, 0], "input_tokens is too large"),
        ([1, 0, 0, 0, 1 << 63, 0], "output_tokens is too large"),
    ];
    for (bad, why) in cases {
        let error = record(
            &vault,
            vec![good.clone(), call("bad", &ada, "claude-a", bad, 5)],
        )
        .await
        .unwrap_err();
        assert_eq!(error.code(), Code::InvalidArgument, "{bad:?}: {error:?}");
        assert!(
            error.message().starts_with("records[1]: ") && error.message().contains(why),
            "{bad:?}: {}",
            error.message()
        );
    }
    // Nothing of any refused batch was kept, nor debited.
    assert!(usage(&vault, &ada).await.lines.is_empty());
    let balance = vault
        .client("admin")
        .get_balance(GetBalanceRequest {
            principal_id: ada.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .balance_micros;
    assert_eq!(balance, 0);
    assert_eq!(record(&vault, vec![good]).await.unwrap(), 1);
}
