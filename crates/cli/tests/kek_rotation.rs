//! `keyroute admin kek rotate` against a real vault: rotation, and the keys it skips.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{admin, admin_json, keyroute};
use keyroute_test_support::TestVault;
use serde_json::Value;

#[tokio::test]
async fn admin_rotates_the_kek() {
    let vault = TestVault::start().await;
    let (user, _) = vault.user_with_token("rot").await;
    admin_json(
        &vault,
        &[
            "keys",
            "add",
            "--owner",
            &user,
            "--provider",
            "xai",
            "--secret-file",
            "-",
        ],
        Some("xai-0123456789abcdef"),
    )
    .await;
    let kek = vault.kek_path();
    assert_eq!(
        keyroute(&["kek", "add", "--keyring", kek.to_str().unwrap()], None)
            .await
            .code,
        0
    );
    let rotated = admin_json(&vault, &["kek", "rotate"], None).await;
    assert_eq!(rotated["active_version"], 2);
    assert_eq!(rotated["rewrapped"], 1);
}

#[tokio::test]
async fn admin_kek_rotate_lists_the_keys_it_skipped_and_exits_1() {
    const CANARY: &str = "xai-CANARY-5k1pped-0123456789";
    let vault = TestVault::start().await;
    let (user, _) = vault.user_with_token("skipper").await;
    let mut ids = Vec::new();
    for provider in ["xai", "mistral"] {
        let args = [
            "keys",
            "add",
            "--owner",
            &user,
            "--provider",
            provider,
            "--secret-file",
            "-",
        ];
        let secret = format!("{CANARY}-{provider}");
        let key = admin_json(&vault, &args, Some(&secret)).await;
        ids.push(key["id"].as_str().unwrap().to_owned());
    }
    // One key's ciphertext gets a flipped bit in the database, behind the vault's back.
    {
        use keyroute_vault::storage::{AuditRecord, SecretUpdate};
        let store = vault.store().await;
        let mut record = store.get_credential(&ids[0]).await.unwrap().unwrap();
        record.sealed.ciphertext[2] ^= 1;
        let update = SecretUpdate {
            sealed: record.sealed,
            config: record.config,
            fingerprint: record.fingerprint,
            updated_at: record.updated_at,
        };
        let audit = AuditRecord {
            time: 0,
            actor: String::new(),
            peer: "test".into(),
            action: "test.corrupt".into(),
            target: ids[0].clone(),
            owner_id: user.clone(),
            request_id: "test".into(),
            detail: "{}".into(),
        };
        store
            .update_credential_secret(&ids[0], update, audit)
            .await
            .unwrap();
    }
    let kek = vault.kek_path();
    let added = keyroute(&["kek", "add", "--keyring", kek.to_str().unwrap()], None).await;
    assert_eq!(added.code, 0);

    let table = admin(&vault, &["kek", "rotate"], None).await;
    assert_eq!(table.code, 1, "{}", table.stderr);
    let lines: Vec<Vec<&str>> = table
        .stdout
        .lines()
        .map(|line| {
            line.split("   ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    assert_eq!(
        lines[0],
        ["ACTIVE VERSION", "REWRAPPED", "SKIPPED", "VERSIONS IN USE"],
        "{}",
        table.stdout
    );
    assert_eq!(lines[1], ["2", "1", "1", "1,2"], "{}", table.stdout);
    assert!(lines[2].is_empty());
    assert_eq!(lines[3], ["SKIPPED CREDENTIAL", "OWNER", "REASON"]);
    assert_eq!(
        lines[4],
        [
            ids[0].as_str(),
            user.as_str(),
            "integrity check failed: the sealed secret, its routing config or its row was altered"
        ]
    );
    assert_eq!(
        table.stderr,
        "error: rotation_incomplete: 1 credential(s) could not be opened and still use kek \
         version(s) 1; do not retire those versions: delete these keys (their owners add them \
         again), then rotate again\n"
    );

    // Again, for scripts: the one key left is skipped again, nothing else to rewrap.
    let json = admin(&vault, &["kek", "rotate", "-o", "json"], None).await;
    assert_eq!(json.code, 1, "{}", json.stderr);
    let reply: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(reply["rewrapped"], 0);
    assert_eq!(reply["versions_in_use"], serde_json::json!([1, 2]));
    assert_eq!(reply["skipped"][0]["credential_id"], ids[0].as_str());
    assert_eq!(reply["skipped"][0]["owner_id"], user.as_str());
    for output in [&table.stdout, &table.stderr, &json.stdout, &json.stderr] {
        assert!(!output.contains("CANARY"), "{output}");
    }

    // With the broken key deleted, rotation completes and exits 0.
    let deleted = admin(&vault, &["keys", "delete", &ids[0]], None).await;
    assert_eq!(deleted.code, 0, "{}", deleted.stderr);
    let done = admin_json(&vault, &["kek", "rotate"], None).await;
    assert_eq!(done["skipped"], serde_json::json!([]));
    assert_eq!(done["versions_in_use"], serde_json::json!([2]));
}
