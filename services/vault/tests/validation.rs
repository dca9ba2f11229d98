//! Bad input for every credential shape gets INVALID_ARGUMENT naming the field, and leaves
//! nothing behind: no row, no audit event, no partial key.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keyroute_proto::vault::v1::*;
use keyroute_test_support::{TestVault, credential_request, with_token};
use keyroute_vault::storage::SqlValue;
use tonic::Code;

const TEST_RSA_KEY: &str = include_str!("../testdata/vertex-test-key.pem");

fn service_account(private_key: &str) -> String {
    serde_json::json!({
        "type": "service_account",
        "project_id": "keyroute-test",
        "private_key_id": "abcdef0123456789abcdef",
        "private_key": private_key,
        "client_email": "gw@keyroute-test.iam.gserviceaccount.com",
        "token_uri": "https://oauth2.googleapis.com/token",
    })
    .to_string()
}

/// How many rows `table` holds, read straight from the vault's database.
async fn row_count(vault: &TestVault, table: &str) -> i64 {
    let rows = vault
        .store()
        .await
        .query_sql(&format!("SELECT COUNT(*) FROM {table}"), Vec::new(), 1)
        .await
        .unwrap();
    match rows.concat().as_slice() {
        [SqlValue::Int(count)] => *count,
        other => panic!("COUNT(*) read back as {other:?}"),
    }
}

/// Makes every insert into `audit_events` fail, as a full disk or a broken audit table
/// would: the vault cannot record a change, so the change must not happen either.
async fn break_audit_log(vault: &TestVault) {
    let sql = if vault.is_postgres() {
        "CREATE FUNCTION audit_fails() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'audit log unavailable'; END $$;
         CREATE TRIGGER audit_fails BEFORE INSERT ON audit_events
         FOR EACH ROW EXECUTE FUNCTION audit_fails();"
    } else {
        "CREATE TRIGGER audit_fails BEFORE INSERT ON audit_events
         BEGIN SELECT RAISE(ABORT, 'audit log unavailable'); END;"
    };
    vault.store().await.execute_sql_batch(sql).await.unwrap();
}

#[tokio::test]
async fn bad_credentials_are_refused_and_leave_no_row() {
    let vault = TestVault::start().await;
    let (user, token) = vault.user_with_token("val").await;
    let mut edge = vault.client("edge");
    let audit_before = row_count(&vault, "audit_events").await;
    let oversized = "k".repeat(5000);
    let broken_pem = TEST_RSA_KEY.replacen("MII", "QQQ", 1);
    let cases = [
        (
            credential_request(
                &user,
                "bedrock",
                "",
                r#"{"accessKeyId":"AKIAIOSFODNN7EXAMPLE","secretAccessKey":"abc123abc123"}"#,
                &[],
            ),
            "secret.region is required",
        ),
        (
            credential_request(&user, "vertex", "", &service_account(&broken_pem), &[]),
            "secret.private_key is not a parseable PEM RSA private key",
        ),
        (
            credential_request(&user, "openai", "", "sk-abc\ndef0123456789", &[]),
            "whitespace or a control character",
        ),
        (
            credential_request(&user, "openai", "", &oversized, &[]),
            "longer than 4096 bytes",
        ),
        (
            credential_request(&user, "anthropic", "", "", &[]),
            "secret is empty",
        ),
        (
            credential_request(
                &user,
                "azure",
                "",
                "azurekey0123456789",
                &[("deployment", "gpt")],
            ),
            "config.endpoint is required",
        ),
        (
            credential_request(
                &user,
                "custom",
                "",
                "",
                &[("base_url", "http://localhost:11434")],
            ),
            "label is required",
        ),
        (
            credential_request(&user, "nonsense", "", "key", &[]),
            "unknown provider",
        ),
        (
            credential_request("", "openai", "", "sk-0123456789abcdef", &[]),
            "owner_id is required",
        ),
    ];
    for (case, expected) in cases {
        let error = edge
            .create_credential(with_token(case, &token))
            .await
            .unwrap_err();
        assert_eq!(error.code(), Code::InvalidArgument, "{expected}: {error:?}");
        assert!(
            error.message().contains(expected),
            "wanted {expected:?}, got {:?}",
            error.message()
        );
    }
    assert_eq!(row_count(&vault, "credentials").await, 0);
    assert_eq!(row_count(&vault, "audit_events").await, audit_before);

    // The good versions of the same shapes are accepted.
    let good = [
        credential_request(
            &user,
            "bedrock",
            "",
            r#"{"accessKeyId":"AKIAIOSFODNN7EXAMPLE","secretAccessKey":"abc123abc123","region":"us-west-2"}"#,
            &[],
        ),
        credential_request(
            &user,
            "vertex",
            "",
            &service_account(TEST_RSA_KEY),
            &[("location", "europe-west4")],
        ),
        credential_request(
            &user,
            "azure",
            "",
            "azurekey0123456789",
            &[
                ("endpoint", "https://x.openai.azure.com"),
                ("deployment", "gpt"),
            ],
        ),
        credential_request(
            &user,
            "custom",
            "ollama",
            "",
            &[("base_url", "http://localhost:11434/v1")],
        ),
    ];
    for case in good {
        edge.create_credential(with_token(case, &token))
            .await
            .unwrap();
    }
    assert_eq!(row_count(&vault, "credentials").await, 4);
}

#[tokio::test]
async fn duplicates_name_the_existing_credential_and_labels_tell_apart() {
    let vault = TestVault::start().await;
    let (user, token) = vault.user_with_token("dup").await;
    let mut edge = vault.client("edge");
    let first = edge
        .create_credential(with_token(
            credential_request(&user, "openai", "", "sk-one-0123456789abcdef", &[]),
            &token,
        ))
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap();
    let error = edge
        .create_credential(with_token(
            credential_request(&user, "openai", "", "sk-two-0123456789abcdef", &[]),
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::AlreadyExists);
    assert!(error.message().contains(&first.id), "{}", error.message());
    // Azure deployments differ by label (the deployment name by default).
    for deployment in ["gpt-4o", "gpt-4o-mini"] {
        let azure = credential_request(
            &user,
            "azure",
            "",
            "azurekey0123456789",
            &[
                ("endpoint", "https://x.openai.azure.com"),
                ("deployment", deployment),
            ],
        );
        edge.create_credential(with_token(azure, &token))
            .await
            .unwrap();
    }
    let azure = credential_request(
        &user,
        "azure",
        "",
        "azurekey0123456789",
        &[
            ("endpoint", "https://x.openai.azure.com"),
            ("deployment", "gpt-4o"),
        ],
    );
    assert_eq!(
        edge.create_credential(with_token(azure, &token))
            .await
            .unwrap_err()
            .code(),
        Code::AlreadyExists
    );
    assert_eq!(row_count(&vault, "credentials").await, 3);
}

#[tokio::test]
async fn a_bad_update_keeps_the_old_secret() {
    let vault = TestVault::start().await;
    let (user, token) = vault.user_with_token("upd").await;
    let mut edge = vault.client("edge");
    let id = edge
        .create_credential(with_token(
            credential_request(&user, "deepseek", "", "sk-old-0123456789abcdef", &[]),
            &token,
        ))
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap()
        .id;
    let bad = UpdateCredentialSecretRequest {
        credential_id: id.clone(),
        secret: "sk new with spaces".into(),
        ..Default::default()
    };
    assert_eq!(
        edge.update_credential_secret(with_token(bad, &token))
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );
    let missing = UpdateCredentialSecretRequest {
        credential_id: "cred_missing".into(),
        secret: "sk-0123456789abcdef".into(),
        ..Default::default()
    };
    assert_eq!(
        edge.update_credential_secret(with_token(missing, &token))
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    let lease = vault
        .client("router")
        .lease_credentials(LeaseCredentialsRequest { principal_id: user })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(lease.credentials[0].secret, "sk-old-0123456789abcdef");
    assert_eq!(vault.store_audit_count(&id).await, 1);
}

#[tokio::test]
async fn bad_identity_and_setting_requests_are_refused() {
    let vault = TestVault::start().await;
    let mut admin = vault.client("admin");
    let error = admin
        .create_user(CreateUserRequest {
            name: " ".into(),
            email: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument);
    let error = admin
        .create_user(CreateUserRequest {
            name: "x".into(),
            email: "not-an-email".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument);
    let error = admin
        .create_org(CreateOrgRequest {
            name: "o".into(),
            owner_user_id: "usr_missing".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::NotFound);
    assert_eq!(
        row_count(&vault, "principals").await,
        1,
        "only the built-in platform principal"
    );
    let (user, _) = vault.user_with_token("u").await;
    let error = admin
        .add_member(AddMemberRequest {
            org_id: user.clone(),
            user_id: user.clone(),
            role: Role::Member as i32,
        })
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition, "{error:?}");
    let setting = SetProviderSettingRequest {
        owner_id: user.clone(),
        provider: "openai".into(),
        mode: 0,
        fallback_policy: FallbackPolicy::Never as i32,
    };
    assert_eq!(
        admin
            .set_provider_setting(setting)
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );
    let setting = SetProviderSettingRequest {
        owner_id: user.clone(),
        provider: "openai".into(),
        mode: ProviderMode::Disabled as i32,
        fallback_policy: FallbackPolicy::Never as i32,
    };
    admin.set_provider_setting(setting).await.unwrap();
    let org = vault.org("solo", &user, &[]).await;
    let error = admin
        .remove_member(RemoveMemberRequest {
            org_id: org,
            user_id: user,
        })
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition);
    assert!(error.message().contains("last owner"));
}

#[tokio::test]
async fn a_failed_audit_write_fails_the_change_it_records() {
    let vault = TestVault::start().await;
    let (user, token) = vault.user_with_token("audited").await;
    let mut edge = vault.client("edge");
    let kept = edge
        .create_credential(with_token(
            credential_request(&user, "openai", "", "sk-kept-0123456789abcdef", &[]),
            &token,
        ))
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap()
        .id;
    break_audit_log(&vault).await;
    let error = edge
        .create_credential(with_token(
            credential_request(&user, "mistral", "", "mistral-0123456789abcdef", &[]),
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::Internal, "{error:?}");
    let disable = SetCredentialEnabledRequest {
        credential_id: kept.clone(),
        enabled: false,
    };
    assert_eq!(
        edge.set_credential_enabled(with_token(disable, &token))
            .await
            .unwrap_err()
            .code(),
        Code::Internal
    );
    let delete = DeleteCredentialRequest {
        credential_id: kept.clone(),
    };
    assert_eq!(
        edge.delete_credential(with_token(delete, &token))
            .await
            .unwrap_err()
            .code(),
        Code::Internal
    );
    // Nothing changed: one credential, still enabled.
    let listed = edge
        .list_credentials(with_token(
            ListCredentialsRequest { owner_id: user },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.credentials.len(), 1);
    assert!(listed.credentials[0].enabled);
    assert_eq!(row_count(&vault, "credentials").await, 1);
}

#[tokio::test]
async fn credential_test_records_are_checked() {
    let vault = TestVault::start().await;
    let (user, _) = vault.user_with_token("tester").await;
    let record = |credential: &str, outcome: &str| RecordCredentialTestRequest {
        credential_id: credential.into(),
        principal_id: user.clone(),
        outcome: outcome.into(),
        model: "gpt-4o-mini".into(),
        latency_ms: 12,
    };
    let mut router = vault.client("router");
    let error = router
        .record_credential_test(record("cred_nope", "great"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument);
    assert!(error.message().contains("outcome must be one of"));
    let error = router
        .record_credential_test(record("cred_nope", "ok"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::NotFound);
    assert_eq!(vault.store_audit_count("cred_nope").await, 0);
    let error = vault
        .client("edge")
        .record_credential_test(record("cred_nope", "ok"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::PermissionDenied);
}
