//! KEK rotation with rows it cannot open: every other row is rewrapped and still leases;
//! the ones it cannot open are skipped, audited one by one (never with a secret) and
//! reported in the answer; once they are dealt with, a second rotation finishes the job.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keyroute_proto::vault::v1::*;
use keyroute_test_support::{TestVault, with_token};
use keyroute_vault::crypto::Keyring;
use keyroute_vault::storage::{SqlValue, Store};

const CANARY: &str = "sk-CANARY-r0tate";
const INTEGRITY: &str =
    "integrity check failed: the sealed secret, its routing config or its row was altered";

fn text(value: &str) -> SqlValue {
    SqlValue::Text(value.to_owned())
}

/// The one value a query for one row and one column reads, straight from the database.
async fn single(store: &Store, sql: &str, values: Vec<SqlValue>) -> SqlValue {
    let mut rows = store.query_sql(sql, values, 1).await.unwrap();
    assert_eq!(rows.len(), 1, "{sql}: {rows:?}");
    rows.remove(0).remove(0)
}

/// Flips one bit of `column` in the row `id`, straight in the database.
async fn flip(store: &Store, id: &str, column: &str) {
    let select = format!("SELECT {column} FROM credentials WHERE id = ?1");
    let SqlValue::Blob(mut bytes) = single(store, &select, vec![text(id)]).await else {
        panic!("{column} is not a blob");
    };
    bytes[5] ^= 0x01;
    let changed = store
        .execute_sql(
            &format!("UPDATE credentials SET {column} = ?1 WHERE id = ?2"),
            vec![SqlValue::Blob(bytes), text(id)],
        )
        .await
        .unwrap();
    assert_eq!(changed, 1);
}

async fn set_config(store: &Store, id: &str, config: &str) {
    let changed = store
        .execute_sql(
            "UPDATE credentials SET config = ?1 WHERE id = ?2",
            vec![text(config), text(id)],
        )
        .await
        .unwrap();
    assert_eq!(changed, 1);
}

async fn kek_version_of(store: &Store, id: &str) -> i64 {
    let select = "SELECT kek_version FROM credentials WHERE id = ?1";
    match single(store, select, vec![text(id)]).await {
        SqlValue::Int(version) => version,
        other => panic!("kek_version read back as {other:?}"),
    }
}

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

async fn audit(vault: &TestVault, owner: &str) -> Vec<AuditEvent> {
    vault
        .client("admin")
        .list_audit_events(ListAuditEventsRequest {
            owner_id: owner.into(),
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events
}

async fn rotate(vault: &TestVault) -> RotateKekResponse {
    vault
        .client("admin")
        .rotate_kek(RotateKekRequest {})
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn rotation_skips_rows_it_cannot_open_reports_them_and_rewraps_the_rest() {
    let vault = TestVault::start().await;
    let (user, token) = vault.user_with_token("rotating").await;
    let org = vault.org("rotating-org", &user, &[]).await;
    let mut edge = vault.client("edge");
    // 70 keys: more than one rewrap batch (64), half personal, half the org's.
    let mut ids = Vec::new();
    for i in 0..70 {
        let owner = if i % 2 == 0 { &user } else { &org };
        let request = CreateCredentialRequest {
            owner_id: owner.clone(),
            provider: "custom".into(),
            label: format!("endpoint-{i:02}"),
            secret: format!("{CANARY}-{i:02}-0123456789"),
            config: [(
                "base_url".to_owned(),
                format!("https://llm{i}.example.com/v1"),
            )]
            .into(),
            disabled: false,
        };
        let created = edge
            .create_credential(with_token(request, &token))
            .await
            .unwrap()
            .into_inner()
            .credential
            .unwrap();
        ids.push(created.id);
    }
    // Rows are visited in id order; ids are time-ordered. Broken rows land in both batches:
    // a flipped ciphertext byte, a flipped wrapped data key, a config edited without the
    // KEK, and a config that is not even JSON.
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(sorted, ids);
    let store = vault.store().await;
    flip(&store, &ids[0], "ciphertext").await;
    flip(&store, &ids[9], "wrapped_key").await;
    set_config(
        &store,
        &ids[64],
        r#"{"base_url":"https://attacker.example.net/v1"}"#,
    )
    .await;
    set_config(&store, &ids[69], "{not json").await;
    let broken = [&ids[0], &ids[9], &ids[64], &ids[69]];

    let mut keyring = Keyring::load(&vault.kek_path()).unwrap();
    keyring.add_version();
    keyring.save(&vault.kek_path()).unwrap();
    let rotated = rotate(&vault).await;
    assert_eq!(rotated.active_version, 2);
    assert_eq!(rotated.rewrapped, 66, "every row that opens");
    assert_eq!(
        rotated.versions_in_use,
        [1, 2],
        "skipped rows keep version 1"
    );
    let skipped: Vec<(&str, &str, &str)> = rotated
        .skipped
        .iter()
        .map(|s| {
            (
                s.credential_id.as_str(),
                s.owner_id.as_str(),
                s.reason.as_str(),
            )
        })
        .collect();
    assert_eq!(
        skipped,
        [
            (ids[0].as_str(), user.as_str(), INTEGRITY),
            (ids[9].as_str(), org.as_str(), INTEGRITY),
            (ids[64].as_str(), user.as_str(), INTEGRITY),
            (
                ids[69].as_str(),
                org.as_str(),
                format!(
                    "stored data is corrupt: credential {} has unreadable config",
                    ids[69]
                )
                .as_str()
            ),
        ]
    );
    for (i, id) in ids.iter().enumerate() {
        let expected = if broken.contains(&id) { 1 } else { 2 };
        assert_eq!(kek_version_of(&store, id).await, expected, "row {i}");
    }

    // Every other key still leases, with its own secret, under the new version.
    let leased = lease(&vault, &user).await;
    assert_eq!(leased.credentials.len(), 66);
    for credential in &leased.credentials {
        let id = &credential.credential.as_ref().unwrap().id;
        let i = ids.iter().position(|x| x == id).unwrap();
        assert!(credential.secret.contains(&format!("{CANARY}-{i:02}-")));
    }
    let mut unreadable: Vec<&str> = leased
        .unreadable
        .iter()
        .map(|u| u.credential_id.as_str())
        .collect();
    unreadable.sort();
    assert_eq!(unreadable, broken.map(String::as_str));

    // One audit event per skipped row, in its owner's log, without a secret; the rotation's
    // own event lists them.
    for owner in [&user, &org] {
        let events = audit(&vault, owner).await;
        let skips: Vec<&AuditEvent> = events
            .iter()
            .filter(|e| e.action == "kek.rotate.skip")
            .collect();
        assert_eq!(skips.len(), 2, "{owner}");
        for event in skips {
            assert!(broken.contains(&&event.target), "{event:?}");
            assert_eq!(event.peer, "spiffe://keyroute/admin");
            let detail: serde_json::Value = serde_json::from_str(&event.detail).unwrap();
            assert_eq!(detail["kek_version"], 1);
            assert_eq!(detail["active_version"], 2);
            assert!(!event.detail.contains(CANARY), "{}", event.detail);
            assert!(!event.detail.contains("attacker"), "{}", event.detail);
        }
    }
    let platform = audit(&vault, "platform").await;
    let summary = platform.iter().find(|e| e.action == "kek.rotate").unwrap();
    let detail: serde_json::Value = serde_json::from_str(&summary.detail).unwrap();
    assert_eq!(detail["rewrapped"], 66);
    assert_eq!(detail["skipped"], serde_json::json!(broken));

    // Retiring version 1 now would strand the skipped rows: the vault refuses the keyring.
    let mut retired = Keyring::load(&vault.kek_path()).unwrap();
    retired.retire(1).unwrap();
    let with_v1 = std::fs::read(vault.kek_path()).unwrap();
    retired.save(&vault.kek_path()).unwrap();
    let refused = vault
        .client("admin")
        .rotate_kek(RotateKekRequest {})
        .await
        .unwrap_err();
    assert!(refused.message().contains("[1]"), "{refused:?}");
    std::fs::write(vault.kek_path(), with_v1).unwrap();

    // Their owners delete three of them; the operator repairs the fourth's config. A second
    // rotation then rewraps it and skips nothing.
    for id in &broken[..3] {
        edge.delete_credential(with_token(
            DeleteCredentialRequest {
                credential_id: (*id).clone(),
            },
            &token,
        ))
        .await
        .unwrap();
    }
    set_config(
        &store,
        &ids[69],
        r#"{"base_url":"https://llm69.example.com/v1"}"#,
    )
    .await;
    let again = rotate(&vault).await;
    assert_eq!((again.rewrapped, again.skipped.len()), (1, 0));
    assert_eq!(again.versions_in_use, [2]);
    retired.save(&vault.kek_path()).unwrap();
    let last = rotate(&vault).await;
    assert_eq!((last.rewrapped, last.versions_in_use), (0, vec![2]));
    let leased = lease(&vault, &user).await;
    assert_eq!(leased.credentials.len(), 67);
    assert!(leased.unreadable.is_empty());
}
