//! A credential's routing config (base URL, endpoint, deployment, region...) is
//! authenticated together with its secret: a config edited in the database without the KEK
//! fails to open and is not leased, the other keys still are; rows sealed before the config
//! was bound still open and are re-sealed with it when the vault starts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use keyroute_proto::vault::v1::*;
use keyroute_test_support::{TestVault, capture_logs, credential_request, with_token};
use keyroute_vault::storage::{SqlValue, Store};
use tonic::Code;

const CANARY: &str = "sk-CANARY-c0nf1g-9d8e7f6a5b4c";
const ATTACKER: &str = "https://attacker.example.net/v1";

async fn create(vault: &TestVault, token: &str, request: CreateCredentialRequest) -> String {
    vault
        .client("edge")
        .create_credential(with_token(request, token))
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap()
        .id
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

fn leased_ids(lease: &LeaseCredentialsResponse) -> Vec<String> {
    lease
        .credentials
        .iter()
        .map(|c| c.credential.as_ref().unwrap().id.clone())
        .collect()
}

fn unreadable_ids(lease: &LeaseCredentialsResponse) -> Vec<String> {
    let mut ids: Vec<String> = lease
        .unreadable
        .iter()
        .map(|u| u.credential_id.clone())
        .collect();
    ids.sort();
    ids
}

fn text(value: &str) -> SqlValue {
    SqlValue::Text(value.to_owned())
}

/// The one value a query for one row and one column reads, straight from the database.
async fn single(store: &Store, sql: &str, values: Vec<SqlValue>) -> SqlValue {
    let mut rows = store.query_sql(sql, values, 1).await.unwrap();
    assert_eq!(rows.len(), 1, "{sql}: {rows:?}");
    rows.remove(0).remove(0)
}

/// Writes `config` into the row behind the vault's back. The value is bound as bytes and
/// made text in SQL: PostgreSQL's client logs a statement's text parameters at debug level,
/// and the logs this test searches must show what the vault wrote, not the test's own
/// tampering.
async fn set_config(store: &Store, id: &str, config: &str) {
    let sql = if store.is_shared() {
        "UPDATE credentials SET config = convert_from(?1, 'UTF8') WHERE id = ?2"
    } else {
        "UPDATE credentials SET config = CAST(?1 AS TEXT) WHERE id = ?2"
    };
    let config = SqlValue::Blob(config.as_bytes().to_vec());
    let changed = store
        .execute_sql(sql, vec![config, text(id)])
        .await
        .unwrap();
    assert_eq!(changed, 1);
}

async fn config_of(store: &Store, id: &str) -> String {
    match single(
        store,
        "SELECT config FROM credentials WHERE id = ?1",
        vec![text(id)],
    )
    .await
    {
        SqlValue::Text(config) => config,
        other => panic!("config read back as {other:?}"),
    }
}

async fn ciphertext_of(store: &Store, id: &str) -> Vec<u8> {
    match single(
        store,
        "SELECT ciphertext FROM credentials WHERE id = ?1",
        vec![text(id)],
    )
    .await
    {
        SqlValue::Blob(bytes) => bytes,
        other => panic!("ciphertext read back as {other:?}"),
    }
}

#[tokio::test]
async fn a_routing_config_edited_in_the_database_fails_to_open_and_the_rest_still_lease() {
    let logs = capture_logs();
    let vault = TestVault::start().await;
    let (user, token) = vault.user_with_token("integrity").await;
    let custom_secret = format!("{CANARY}-custom");
    let custom = create(
        &vault,
        &token,
        credential_request(
            &user,
            "custom",
            "my-llm",
            &custom_secret,
            &[("base_url", "https://llm.example.com/v1")],
        ),
    )
    .await;
    let azure = create(
        &vault,
        &token,
        credential_request(
            &user,
            "azure",
            "",
            &format!("{CANARY}-azure"),
            &[
                ("endpoint", "https://myres.openai.azure.com"),
                ("deployment", "gpt-4o"),
            ],
        ),
    )
    .await;
    let bedrock = create(
        &vault,
        &token,
        credential_request(
            &user,
            "bedrock",
            "",
            &format!("{CANARY}-bedrock"),
            &[("region", "eu-west-3")],
        ),
    )
    .await;
    let openai = create(
        &vault,
        &token,
        credential_request(&user, "openai", "", &format!("{CANARY}-openai"), &[]),
    )
    .await;
    let all = [&custom, &azure, &bedrock, &openai];
    assert_eq!(lease(&vault, &user).await.credentials.len(), 4);
    let store = vault.store().await;

    // Without the KEK, someone points the custom key at their own host, moves the Bedrock
    // key to another region, gives the OpenAI key a base URL it never had, and lists the
    // Azure key's config in another order (the same config: that one still opens).
    let original_custom = config_of(&store, &custom).await;
    let original_bedrock = config_of(&store, &bedrock).await;
    assert!(
        original_custom.contains("llm.example.com"),
        "{original_custom}"
    );
    set_config(&store, &custom, &format!(r#"{{"base_url":"{ATTACKER}"}}"#)).await;
    set_config(
        &store,
        &bedrock,
        r#"{"auth":"api_key","region":"us-east-1"}"#,
    )
    .await;
    set_config(&store, &openai, &format!(r#"{{"base_url":"{ATTACKER}"}}"#)).await;
    set_config(
        &store,
        &azure,
        r#"{"endpoint":"https://myres.openai.azure.com","deployment":"gpt-4o"}"#,
    )
    .await;

    let leased = lease(&vault, &user).await;
    assert_eq!(
        leased_ids(&leased),
        [azure.as_str()],
        "only the untouched key"
    );
    assert_eq!(leased.credentials[0].secret, format!("{CANARY}-azure"));
    let mut tampered = vec![custom.clone(), bedrock.clone(), openai.clone()];
    tampered.sort();
    assert_eq!(unreadable_ids(&leased), tampered);
    for unreadable in &leased.unreadable {
        assert_eq!(unreadable.owner_id, user);
        assert_eq!(
            unreadable.reason,
            "integrity check failed: the sealed secret, its routing config or its row was altered"
        );
    }
    let seen = format!("{leased:?}");
    assert!(!seen.contains(ATTACKER), "no tampered config is leased");
    assert!(!seen.contains(CANARY));

    // A new secret over a tampered row would authenticate the tampered config: refused,
    // with the stored config (what the edge resends when only the secret changes) or another.
    let mut edge = vault.client("edge");
    for base_url in [ATTACKER, "https://llm.example.com/v1"] {
        let config = HashMap::from([("base_url".to_owned(), base_url.to_owned())]);
        let update = UpdateCredentialSecretRequest {
            credential_id: custom.clone(),
            secret: format!("{CANARY}-replaced"),
            config,
        };
        let error = edge
            .update_credential_secret(with_token(update, &token))
            .await
            .unwrap_err();
        assert_eq!(error.code(), Code::FailedPrecondition, "{error:?}");
        assert!(
            error.message().contains("integrity check failed"),
            "{error:?}"
        );
        assert!(error.message().contains("delete it and add it again"));
        assert!(!error.message().contains(CANARY));
        assert!(!error.message().contains(ATTACKER));
    }
    assert!(
        config_of(&store, &custom).await.contains(ATTACKER),
        "unchanged"
    );

    // Put back, the configs open again: it is the config that was checked, not the row's age.
    set_config(&store, &custom, &original_custom).await;
    set_config(&store, &bedrock, &original_bedrock).await;
    let leased = lease(&vault, &user).await;
    assert_eq!(leased.credentials.len(), 3);
    assert_eq!(unreadable_ids(&leased), [openai.as_str()]);
    let custom_leased = leased
        .credentials
        .iter()
        .find(|c| c.credential.as_ref().unwrap().id == custom)
        .unwrap();
    assert!(custom_leased.secret.contains(&custom_secret));
    assert_eq!(
        custom_leased.credential.as_ref().unwrap().config["base_url"],
        "https://llm.example.com/v1"
    );

    // A config changed through the vault is re-sealed with it, and that one is bound now.
    let update = UpdateCredentialSecretRequest {
        credential_id: custom.clone(),
        secret: format!("{CANARY}-moved"),
        config: HashMap::from([(
            "base_url".to_owned(),
            "https://llm2.example.com/v1".to_owned(),
        )]),
    };
    edge.update_credential_secret(with_token(update, &token))
        .await
        .unwrap();
    let leased = lease(&vault, &user).await;
    assert_eq!(leased.credentials.len(), 3);
    set_config(&store, &custom, &original_custom).await;
    assert_eq!(
        unreadable_ids(&lease(&vault, &user).await),
        {
            let mut ids = vec![custom.clone(), openai.clone()];
            ids.sort();
            ids
        },
        "the old config no longer opens the re-sealed secret"
    );

    // A config the vault cannot even parse costs that key, not the whole lease.
    set_config(&store, &bedrock, "{not json").await;
    let leased = lease(&vault, &user).await;
    assert_eq!(leased_ids(&leased), [azure.as_str()]);
    assert_eq!(leased.unreadable.len(), 3);
    let reason = &leased
        .unreadable
        .iter()
        .find(|u| u.credential_id == bedrock)
        .unwrap()
        .reason;
    assert!(reason.contains("unreadable config"), "{reason}");

    // The refusals named the keys in the log, never the secrets or the tampered values.
    let text = logs.text();
    assert!(
        text.contains("credential cannot be opened"),
        "logs are captured"
    );
    assert!(!text.contains(CANARY), "canary in the logs");
    assert!(
        !text.contains("attacker.example"),
        "tampered config in the logs"
    );
    for id in all {
        assert!(
            text.contains(id.as_str()) || id == &azure,
            "{id} not logged"
        );
    }
}

/// The v1 format, as vaults wrote it before the config was bound: the secret's AAD is the
/// label, credential id, owner and provider, each length-prefixed; the data key's adds the
/// KEK version.
fn seal_v1(kek: &[u8; 32], kek_version: u32, row: [&str; 3], secret: &str) -> [Vec<u8>; 4] {
    fn aad(label: &str, row: [&str; 3]) -> Vec<u8> {
        let mut aad = Vec::new();
        for part in [label, row[0], row[1], row[2]] {
            aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
            aad.extend_from_slice(part.as_bytes());
        }
        aad
    }
    let data_key = [0x5au8; 32];
    let (nonce, key_nonce) = ([1u8; 12], [2u8; 12]);
    let ciphertext = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&data_key))
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: secret.as_bytes(),
                aad: &aad("keyroute/secret/v1", row),
            },
        )
        .unwrap();
    let mut key_aad = aad("keyroute/data-key/v1", row);
    key_aad.extend_from_slice(&kek_version.to_be_bytes());
    let wrapped = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(kek))
        .encrypt(
            Nonce::from_slice(&key_nonce),
            Payload {
                msg: &data_key,
                aad: &key_aad,
            },
        )
        .unwrap();
    [ciphertext, nonce.to_vec(), wrapped, key_nonce.to_vec()]
}

/// The vault's KEK version 1, read from its keyring file.
fn kek_v1(vault: &TestVault) -> [u8; 32] {
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(vault.kek_path()).unwrap()).unwrap();
    let key = file["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["version"] == 1)
        .unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    base64::engine::general_purpose::STANDARD
        .decode(key)
        .unwrap()
        .try_into()
        .unwrap()
}

#[tokio::test]
async fn rows_sealed_before_the_config_was_bound_still_open_and_are_resealed_at_start() {
    let mut vault = TestVault::start().await;
    let (user, token) = vault.user_with_token("legacy").await;
    let keys = [
        (
            "custom",
            "old-llm",
            "sk-legacy-custom-0123456789",
            vec![("base_url", "https://llm.example.com/v1")],
        ),
        (
            "azure",
            "",
            "legacy-azure-0123456789abcdef",
            vec![
                ("endpoint", "https://old.openai.azure.com"),
                ("deployment", "gpt-4o"),
            ],
        ),
        ("openai", "", "sk-legacy-openai-0123456789", vec![]),
        ("mistral", "", "legacy-mistral-0123456789abcd", vec![]),
    ];
    let mut ids = Vec::new();
    for (provider, label, secret, config) in &keys {
        ids.push(
            create(
                &vault,
                &token,
                credential_request(&user, provider, label, secret, config),
            )
            .await,
        );
    }
    vault.stop().await;

    // Turn the database into what the previous release left: every secret sealed the v1
    // way, and on SQLite schema 3 as well (PostgreSQL's schema starts at 12, where rows may
    // still say aad version 1). One of them (the Mistral key) was already corrupt before the
    // upgrade.
    let kek = kek_v1(&vault);
    let v1_ciphertext = {
        let store = vault.store().await;
        for (id, (provider, _, secret, _)) in ids.iter().zip(&keys) {
            // The custom key's secret is stored as the JSON the validator makes of it.
            let stored = if *provider == "custom" {
                serde_json::json!({ "apiKey": secret }).to_string()
            } else {
                (*secret).to_owned()
            };
            let [mut ciphertext, nonce, wrapped, key_nonce] =
                seal_v1(&kek, 1, [id, &user, provider], &stored);
            if *provider == "mistral" {
                ciphertext[2] ^= 0x40;
            }
            let changed = store
                .execute_sql(
                    "UPDATE credentials SET ciphertext = ?1, nonce = ?2, wrapped_key = ?3,
                     key_nonce = ?4, kek_version = 1, aad_version = 1 WHERE id = ?5",
                    vec![
                        SqlValue::Blob(ciphertext),
                        SqlValue::Blob(nonce),
                        SqlValue::Blob(wrapped),
                        SqlValue::Blob(key_nonce),
                        text(id),
                    ],
                )
                .await
                .unwrap();
            assert_eq!(changed, 1);
        }
        if !vault.is_postgres() {
            // Back to schema 3: migration 4's column goes, and so do the later migrations'.
            store
                .execute_sql_batch(
                    "ALTER TABLE credentials DROP COLUMN aad_version;
                     ALTER TABLE tokens DROP COLUMN expires_at;
                     ALTER TABLE principals DROP COLUMN disabled_at;
                     DROP TABLE credit_holds;
                     ALTER TABLE usage_records DROP COLUMN cache_write_1h_tokens;
                     ALTER TABLE usage_records DROP COLUMN cache_write_tokens;
                     ALTER TABLE usage_records DROP COLUMN cache_read_tokens;
                     ALTER TABLE usage_records DROP COLUMN reasoning_tokens;
                     ALTER TABLE tokens DROP COLUMN kind;
                     DROP INDEX tokens_by_parent;
                     ALTER TABLE tokens DROP COLUMN parent_id;
                     ALTER TABLE credentials DROP COLUMN last_test_outcome;
                     ALTER TABLE credentials DROP COLUMN last_tested_at;
                     DROP TABLE spend_by_month;
                     DROP TABLE usage_daily;
                     DROP INDEX usage_by_time;
                     DROP TABLE rate_limits;
                     DELETE FROM schema_migrations WHERE version >= 4;",
                )
                .await
                .unwrap();
        }
        ciphertext_of(&store, &ids[0]).await
    };

    // The upgraded vault migrates, re-seals what opens, and still starts with a bad row.
    vault.start_again().await;
    let store = vault.store().await;
    let versions = store
        .query_sql(
            "SELECT id, aad_version FROM credentials ORDER BY id",
            Vec::new(),
            2,
        )
        .await
        .unwrap();
    assert_eq!(versions.len(), ids.len());
    for row in &versions {
        let [SqlValue::Text(id), SqlValue::Int(version)] = row.as_slice() else {
            panic!("(id, aad_version) read back as {row:?}");
        };
        let expected = if *id == ids[3] { 1 } else { 2 };
        assert_eq!(*version, expected, "{id}");
    }
    let resealed_ciphertext = ciphertext_of(&store, &ids[0]).await;
    assert_ne!(
        resealed_ciphertext, v1_ciphertext,
        "re-sealed, not only relabelled"
    );

    let leased = lease(&vault, &user).await;
    assert_eq!(leased_ids(&leased), ids[..3]);
    for (credential, (_, _, secret, _)) in leased.credentials.iter().zip(&keys) {
        assert!(credential.secret.contains(secret), "{}", credential.secret);
    }
    assert_eq!(unreadable_ids(&leased), [ids[3].as_str()]);

    // From now on their configs are bound too.
    set_config(
        &store,
        &ids[1],
        r#"{"endpoint":"https://attacker.example.net","deployment":"gpt-4o"}"#,
    )
    .await;
    let leased = lease(&vault, &user).await;
    assert_eq!(leased_ids(&leased), [ids[0].as_str(), ids[2].as_str()]);

    // A restart changes nothing more: the pass only looks at v1 rows.
    let vault = vault.restart().await;
    let leased = lease(&vault, &user).await;
    assert_eq!(leased_ids(&leased), [ids[0].as_str(), ids[2].as_str()]);
}
