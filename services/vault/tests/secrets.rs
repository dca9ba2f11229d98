//! Secrets stay secret: a canary never reaches the database file, its WAL, a log line at
//! trace level, an error or a list response; tampered ciphertexts fail to open, clearly.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use keyroute_proto::vault::v1::*;
use keyroute_test_support::{TestVault, capture_logs, with_token};
use keyroute_vault::storage::{SqlValue, Store};
use prost::Message;
use tonic::Code;

const CANARY: &str = "sk-CANARY-7f3a9c1e5b2d4f6a8c0e";

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// Every row of every table in the current schema of a PostgreSQL database, one per line as
/// `table: (values...)`.
async fn postgres_rows(store: &Store) -> String {
    let tables = store
        .query_sql(
            "SELECT table_name FROM information_schema.tables
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
             ORDER BY table_name",
            Vec::new(),
            1,
        )
        .await
        .unwrap();
    let mut dump = String::new();
    for table in &tables {
        let [SqlValue::Text(table)] = table.as_slice() else {
            panic!("table name read back as {table:?}");
        };
        let rows = store
            .query_sql(
                &format!(r#"SELECT CAST(t AS TEXT) FROM "{table}" t"#),
                Vec::new(),
                1,
            )
            .await
            .unwrap();
        for row in rows {
            let [SqlValue::Text(row)] = row.as_slice() else {
                panic!("a row of {table} read back as {row:?}");
            };
            dump.push_str(&format!("{table}: {row}\n"));
        }
    }
    assert!(dump.contains("credentials: "), "tables: {tables:?}");
    dump
}

#[tokio::test]
async fn a_canary_secret_never_leaks() {
    let logs = capture_logs();
    let vault = TestVault::start().await;
    let (user, token) = vault.user_with_token("canary").await;
    let mut edge = vault.client("edge");
    let create = CreateCredentialRequest {
        owner_id: user.clone(),
        provider: "anthropic".into(),
        secret: CANARY.into(),
        ..Default::default()
    };
    let created = edge
        .create_credential(with_token(create.clone(), &token))
        .await
        .unwrap()
        .into_inner();
    let id = created.credential.as_ref().unwrap().id.clone();

    let mut seen: Vec<Vec<u8>> = vec![created.encode_to_vec(), format!("{created:?}").into_bytes()];
    // Errors that involve the canary: a duplicate, a bad config, a bad shape, a wrong owner.
    let duplicate = edge
        .create_credential(with_token(create.clone(), &token))
        .await
        .unwrap_err();
    assert_eq!(duplicate.code(), Code::AlreadyExists);
    assert!(duplicate.message().contains(&id), "{}", duplicate.message());
    let mut bad_config = create.clone();
    bad_config.config = HashMap::from([("region".to_owned(), CANARY.to_owned())]);
    let mut bad_shape = create.clone();
    bad_shape.secret = format!("{CANARY}\n{CANARY}");
    let mut bad_owner = create.clone();
    bad_owner.owner_id = "usr_nobody".into();
    for request in [bad_config, bad_shape, bad_owner] {
        let error = edge
            .create_credential(with_token(request, &token))
            .await
            .unwrap_err();
        seen.push(format!("{error:?} {}", error.message()).into_bytes());
    }
    let update = UpdateCredentialSecretRequest {
        credential_id: id.clone(),
        secret: format!("{CANARY}-2"),
        ..Default::default()
    };
    seen.push(
        edge.update_credential_secret(with_token(update, &token))
            .await
            .unwrap()
            .into_inner()
            .encode_to_vec(),
    );
    let listed = edge
        .list_credentials(with_token(
            ListCredentialsRequest {
                owner_id: user.clone(),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.credentials[0].fingerprint, "anthropic:…0e-2");
    seen.push(listed.encode_to_vec());
    seen.push(format!("{listed:?}").into_bytes());
    let got = edge
        .get_credential(with_token(
            GetCredentialRequest {
                credential_id: id.clone(),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    seen.push(got.encode_to_vec());
    let audit = edge
        .list_audit_events(with_token(
            ListAuditEventsRequest {
                owner_id: user.clone(),
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    seen.push(audit.encode_to_vec());

    // The router's lease is the one place the secret comes out, and its Debug redacts it.
    let lease = vault
        .client("router")
        .lease_credentials(LeaseCredentialsRequest { principal_id: user })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(lease.credentials[0].secret, format!("{CANARY}-2"));
    seen.push(format!("{lease:?}").into_bytes());

    for bytes in &seen {
        assert!(
            !contains(bytes, CANARY),
            "canary in a response or error: {}",
            String::from_utf8_lossy(bytes)
        );
    }
    if vault.is_postgres() {
        // The server's files are its own: every row of every table, as PostgreSQL prints
        // it (bytea in hex), holds neither the canary nor its bytes.
        let rows = postgres_rows(&vault.store().await).await;
        assert!(rows.contains(&id), "the dump has the credential's row");
        let hex: String = CANARY.bytes().map(|b| format!("{b:02x}")).collect();
        assert!(!rows.contains(CANARY), "canary in a row");
        assert!(!rows.contains(&hex), "canary's bytes in a row");
    } else {
        let mut read = 0;
        for suffix in ["", "-wal", "-shm"] {
            let path = format!("{}{suffix}", vault.db_path().display());
            if let Ok(bytes) = std::fs::read(&path) {
                assert!(!contains(&bytes, CANARY), "canary in {path}");
                read += 1;
            }
        }
        assert!(
            read > 0,
            "no database file at {}",
            vault.db_path().display()
        );
    }
    let text = logs.text();
    assert!(
        text.contains("leased credentials"),
        "trace logging is not being captured"
    );
    assert!(!text.contains(CANARY), "canary in the logs");
}

#[tokio::test]
async fn tampered_ciphertexts_fail_to_open_with_a_clear_reason() {
    let vault = TestVault::start().await;
    let (user, token) = vault.user_with_token("tamper").await;
    let mut edge = vault.client("edge");
    let mut ids = Vec::new();
    for (provider, secret) in [
        ("openai", "sk-first-0123456789abcdef"),
        ("mistral", "second-0123456789abcdef"),
        ("xai", "xai-third-0123456789abcdef"),
    ] {
        let request = CreateCredentialRequest {
            owner_id: user.clone(),
            provider: provider.into(),
            secret: secret.into(),
            ..Default::default()
        };
        ids.push(
            edge.create_credential(with_token(request, &token))
                .await
                .unwrap()
                .into_inner()
                .credential
                .unwrap()
                .id,
        );
    }
    {
        let store = vault.store().await;
        let text = |id: &String| SqlValue::Text(id.clone());
        // Row 2 gets row 1's complete sealed value; row 3 gets one flipped bit.
        let changed = store
            .execute_sql(
                "UPDATE credentials SET (ciphertext, nonce, wrapped_key, key_nonce) =
                   (SELECT ciphertext, nonce, wrapped_key, key_nonce FROM credentials WHERE id = ?1) WHERE id = ?2",
                vec![text(&ids[0]), text(&ids[1])],
            )
            .await
            .unwrap();
        assert_eq!(changed, 1);
        let rows = store
            .query_sql(
                "SELECT ciphertext FROM credentials WHERE id = ?1",
                vec![text(&ids[2])],
                1,
            )
            .await
            .unwrap();
        let mut ciphertext = match rows.concat().as_slice() {
            [SqlValue::Blob(bytes)] => bytes.clone(),
            other => panic!("ciphertext read back as {other:?}"),
        };
        ciphertext[3] ^= 0x10;
        let changed = store
            .execute_sql(
                "UPDATE credentials SET ciphertext = ?1 WHERE id = ?2",
                vec![SqlValue::Blob(ciphertext), text(&ids[2])],
            )
            .await
            .unwrap();
        assert_eq!(changed, 1);
    }
    let lease = vault
        .client("router")
        .lease_credentials(LeaseCredentialsRequest { principal_id: user })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(lease.credentials.len(), 1);
    assert_eq!(lease.credentials[0].secret, "sk-first-0123456789abcdef");
    let unreadable: Vec<(&str, &str)> = lease
        .unreadable
        .iter()
        .map(|u| (u.credential_id.as_str(), u.reason.as_str()))
        .collect();
    assert_eq!(unreadable.len(), 2);
    for (credential, reason) in unreadable {
        assert!(credential == ids[1] || credential == ids[2]);
        assert!(reason.contains("integrity check failed"), "{reason}");
    }
}
