//! The ledger's running totals: budgets and usage reports read totals kept with each record,
//! equal to what the raw rows sum to, and unchanged when raw rows are pruned.

#![allow(clippy::unwrap_used, clippy::panic)]

use keyroute_test_support::test_database;
use keyroute_vault::storage::{
    AuditRecord, PrincipalKind, PrincipalRecord, SqlValue, Store, TokenCounts, UsageRow,
    UsageSource,
};

/// 2026-11-30T12:00:00Z and the next day at the same hour.
const NOV_30: i64 = 1_796_040_000_000;
const DEC_01: i64 = NOV_30 + 86_400_000;

fn audit(target: &str) -> AuditRecord {
    AuditRecord {
        time: 0,
        actor: String::new(),
        peer: "admin".into(),
        action: "create_principal".into(),
        target: target.into(),
        owner_id: target.into(),
        request_id: "req".into(),
        detail: "{}".into(),
    }
}

async fn principal(store: &Store, id: &str, kind: PrincipalKind) {
    let record = PrincipalRecord {
        id: id.into(),
        kind,
        name: id.into(),
        email: String::new(),
        created_at: 0,
        disabled_at: None,
    };
    store
        .create_principal(record, None, audit(id))
        .await
        .unwrap();
}

fn row(
    id: &str,
    time: i64,
    principal: &str,
    key_owner: &str,
    source: UsageSource,
    cost: i64,
) -> UsageRow {
    UsageRow {
        usage_id: id.into(),
        request_id: format!("req-{id}"),
        hold_id: String::new(),
        time,
        principal_id: principal.into(),
        credential_id: format!("cred-{key_owner}"),
        credential_owner: key_owner.into(),
        source,
        provider: "openai".into(),
        model: "gpt-4o-mini".into(),
        tokens: TokenCounts {
            input: 10,
            output: 4,
            cache_read: 2,
            ..TokenCounts::default()
        },
        cost_micros: cost,
    }
}

/// A store on the database the tests run against (`KEYROUTE_TEST_VAULT_DB`): SQLite in
/// `dir`, or a fresh PostgreSQL database.
async fn open_store(dir: &tempfile::TempDir) -> Store {
    Store::open(&test_database(dir.path()), 0).await.unwrap()
}

/// The raw usage rows, counted under the ledger's totals.
async fn raw_rows(store: &Store) -> i64 {
    let rows = store
        .query_sql("SELECT COUNT(*) FROM usage_records", Vec::new(), 1)
        .await
        .unwrap();
    match rows.as_slice() {
        [row] => match row.as_slice() {
            [SqlValue::Int(count)] => *count,
            other => panic!("COUNT(*) read back as {other:?}"),
        },
        other => panic!("COUNT(*) gave {} rows", other.len()),
    }
}

#[tokio::test]
async fn totals_match_the_rows_and_survive_pruning() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir).await;
    principal(&store, "usr_a", PrincipalKind::User).await;
    principal(&store, "org_x", PrincipalKind::Org).await;
    store
        .grant_credits("usr_a", 1_000_000, audit("usr_a"))
        .await
        .unwrap();

    let rows = vec![
        row("u1", NOV_30, "usr_a", "usr_a", UsageSource::Byok, 30),
        row("u2", NOV_30 + 1, "usr_a", "org_x", UsageSource::Byok, 50),
        row("u3", DEC_01, "usr_a", "platform", UsageSource::Managed, 70),
        row(
            "u4",
            DEC_01 + 1,
            "usr_a",
            "platform",
            UsageSource::Managed,
            11,
        ),
    ];
    assert_eq!(
        store.record_usage(rows.clone(), DEC_01).await.unwrap(),
        (4, 0)
    );
    // A retried batch changes no total.
    assert_eq!(store.record_usage(rows, DEC_01).await.unwrap(), (0, 4));

    let check = |store: Store| async move {
        let budgets = store
            .budgets(vec!["usr_a".to_owned(), "org_x".to_owned()], "2026-11")
            .await
            .unwrap();
        // usr_a made both November calls; org_x owns the key of one of them.
        assert_eq!(budgets[0].month_spend_micros, 80);
        assert_eq!(budgets[1].month_spend_micros, 50);
        let december = store
            .budgets(vec!["usr_a".to_owned()], "2026-12")
            .await
            .unwrap();
        assert_eq!(december[0].month_spend_micros, 81);

        let lines = store.usage("usr_a", "2026-12").await.unwrap();
        assert_eq!(lines.len(), 1);
        assert_eq!((lines[0].requests, lines[0].cost_micros), (2, 81));
        assert_eq!((lines[0].tokens.input, lines[0].tokens.cache_read), (20, 4));
        let org = store.usage("org_x", "2026-11").await.unwrap();
        assert_eq!((org[0].requests, org[0].cost_micros), (1, 50));

        let days = store.daily_usage("usr_a", "2026-11").await.unwrap();
        assert_eq!(days.len(), 1);
        assert_eq!(
            (days[0].date.as_str(), days[0].byok_requests),
            ("2026-11-30", 2)
        );
        assert_eq!(days[0].byok_cost_micros, 80);
    };
    check(store.clone()).await;
    assert_eq!(raw_rows(&store).await, 4);

    // Pruning November's raw rows keeps every total.
    assert_eq!(store.prune_usage(DEC_01 - 1).await.unwrap(), 2);
    assert_eq!(raw_rows(&store).await, 2);
    check(store.clone()).await;
    assert_eq!(store.prune_usage(DEC_01 - 1).await.unwrap(), 0);
}

#[tokio::test]
async fn a_batch_adds_its_new_calls_once_whatever_it_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir).await;
    principal(&store, "usr_b", PrincipalKind::User).await;
    let call = |id: &str, cost| row(id, NOV_30, "usr_b", "usr_b", UsageSource::Byok, cost);
    assert_eq!(
        store
            .record_usage(vec![call("b1", 5), call("b2", 7)], NOV_30)
            .await
            .unwrap(),
        (2, 0)
    );
    // One batch: a repeat of b2, two new calls on the same day line, and b3 twice.
    let batch = vec![
        call("b2", 7),
        call("b3", 11),
        call("b4", 13),
        call("b3", 11),
    ];
    assert_eq!(store.record_usage(batch, NOV_30).await.unwrap(), (2, 2));
    let lines = store.usage("usr_b", "2026-11").await.unwrap();
    assert_eq!(lines.len(), 1);
    assert_eq!((lines[0].requests, lines[0].cost_micros), (4, 36));
    assert_eq!(lines[0].tokens.input, 40);
    let budgets = store
        .budgets(vec!["usr_b".to_owned()], "2026-11")
        .await
        .unwrap();
    assert_eq!(budgets[0].month_spend_micros, 36);

    // An unknown caller anywhere in a batch keeps nothing of it.
    let mut stranger = call("b5", 17);
    stranger.principal_id = "usr_nobody".into();
    assert!(
        store
            .record_usage(vec![call("b6", 19), stranger], NOV_30)
            .await
            .is_err()
    );
    let lines = store.usage("usr_b", "2026-11").await.unwrap();
    assert_eq!((lines[0].requests, lines[0].cost_micros), (4, 36));
}
