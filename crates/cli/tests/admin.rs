//! `keyroute admin` against a real vault over mTLS: users, orgs, tokens, keys, audit,
//! credits, budgets and rate limits, and clear errors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{admin, admin_json, keyroute};
use keyroute_test_support::TestVault;
use serde_json::json;

#[tokio::test]
async fn admin_manages_users_orgs_tokens_keys_and_audit() {
    let vault = TestVault::start().await;
    let user = admin_json(
        &vault,
        &[
            "users",
            "create",
            "--name",
            "Ada",
            "--email",
            "ada@example.com",
        ],
        None,
    )
    .await;
    let user_id = user["id"].as_str().unwrap().to_owned();
    assert!(user_id.starts_with("usr_"));
    let org = admin_json(
        &vault,
        &["orgs", "create", "--name", "Acme", "--owner", &user_id],
        None,
    )
    .await;
    let org_id = org["id"].as_str().unwrap().to_owned();
    let (member, _) = vault.user_with_token("member").await;
    let membership = admin_json(
        &vault,
        &[
            "members",
            "add",
            "--org",
            &org_id,
            "--user",
            &member,
            "--role",
            "billing-manager",
        ],
        None,
    )
    .await;
    assert_eq!(membership["role"], "billing_manager");
    let detail = admin_json(&vault, &["users", "get", &user_id], None).await;
    assert_eq!(detail["memberships"][0]["role"], "owner");

    let token = admin_json(
        &vault,
        &[
            "tokens",
            "issue",
            "--principal",
            &user_id,
            "--name",
            "laptop",
        ],
        None,
    )
    .await;
    let secret_token = token["token"].as_str().unwrap().to_owned();
    assert!(secret_token.starts_with("kr_"));
    let listed = admin(&vault, &["tokens", "list", "--principal", &user_id], None).await;
    assert!(
        !listed.stdout.contains(&secret_token),
        "a token is shown once"
    );
    assert!(
        listed
            .stdout
            .contains(&secret_token[secret_token.len() - 4..])
    );

    let secret = "sk-cli-canary-0123456789abcdef";
    let key = admin_json(
        &vault,
        &[
            "keys",
            "add",
            "--owner",
            &org_id,
            "--provider",
            "openai",
            "--secret-file",
            "-",
        ],
        Some(&format!("{secret}\n")),
    )
    .await;
    let key_id = key["id"].as_str().unwrap().to_owned();
    assert_eq!(key["fingerprint"], "openai:…cdef");
    let table = admin(&vault, &["keys", "list", "--owner", &org_id], None).await;
    assert!(table.stdout.starts_with("ID "), "{}", table.stdout);
    assert!(table.stdout.contains(&key_id) && !table.stdout.contains(secret));
    // A list is an array even of one (`keys add` above printed the one key's object).
    let listed = admin_json(&vault, &["keys", "list", "--owner", &org_id], None).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["id"], key_id.as_str());
    let azure = admin_json(
        &vault,
        &[
            "keys",
            "add",
            "--owner",
            &org_id,
            "--provider",
            "azure",
            "--config",
            "endpoint=https://a.openai.azure.com",
            "--config",
            "deployment=gpt4o",
            "--secret-file",
            "-",
        ],
        Some("azure-key-0123456789"),
    )
    .await;
    assert_eq!(azure["label"], "gpt4o");
    let disabled = admin_json(&vault, &["keys", "disable", &key_id], None).await;
    assert_eq!(disabled["enabled"], false);
    let enabled = admin_json(&vault, &["keys", "enable", &key_id], None).await;
    assert_eq!(enabled["enabled"], true);
    let updated = admin_json(
        &vault,
        &["keys", "update", &key_id, "--secret-file", "-"],
        Some("sk-cli-second-0123456789wxyz"),
    )
    .await;
    assert_eq!(updated["fingerprint"], "openai:…wxyz");
    admin_json(
        &vault,
        &[
            "settings",
            "set",
            "--owner",
            &org_id,
            "--provider",
            "anthropic",
            "--mode",
            "managed",
            "--fallback",
            "never",
        ],
        None,
    )
    .await;
    let settings = admin_json(&vault, &["settings", "list", "--owner", &org_id], None).await;
    assert_eq!(settings[0]["mode"], "managed");
    admin_json(&vault, &["keys", "delete", &key_id], None).await;

    let audit = admin_json(
        &vault,
        &["audit", "list", "--owner", &org_id, "--limit", "3"],
        None,
    )
    .await;
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "credential.delete",
            "provider_setting.set",
            "credential.update"
        ]
    );
    assert!(!audit["next_page_token"].as_str().unwrap().is_empty());
    let audit_text = admin(&vault, &["audit", "list", "--owner", &org_id], None)
        .await
        .stdout;
    assert!(!audit_text.contains(secret));

    let revoked = admin_json(
        &vault,
        &["tokens", "revoke", token["id"].as_str().unwrap()],
        None,
    )
    .await;
    assert!(revoked["revoked_at"].is_string());
}

#[tokio::test]
async fn admin_issues_expiring_tokens_disables_principals_and_revokes_all_tokens() {
    let vault = TestVault::start().await;
    let (user, token) = vault.user_with_token("cli-tokens").await;
    let org = vault.org("cli-org", &user, &[]).await;
    let authenticates = async |token: &str| {
        vault
            .client("router")
            .authenticate(keyroute_proto::vault::v1::AuthenticateRequest {
                token: token.into(),
            })
            .await
            .is_ok()
    };

    let issued = admin_json(
        &vault,
        &[
            "tokens",
            "issue",
            "--principal",
            &user,
            "--expires-in",
            "30d",
        ],
        None,
    )
    .await;
    let expiring = issued["token"].as_str().unwrap().to_owned();
    assert!(
        issued["expires_at"].as_str().unwrap().ends_with('Z'),
        "{issued}"
    );
    assert!(authenticates(&expiring).await);
    let table = admin(&vault, &["tokens", "list", "--principal", &user], None).await;
    assert!(table.stdout.contains("EXPIRES"), "{}", table.stdout);
    let bad = admin(
        &vault,
        &[
            "tokens",
            "issue",
            "--principal",
            &user,
            "--expires-in",
            "30",
        ],
        None,
    )
    .await;
    assert_eq!(bad.code, 64, "a lifetime needs a unit: {}", bad.stderr);

    let disabled = admin_json(&vault, &["users", "disable", &user], None).await;
    assert!(disabled["disabled_at"].is_string(), "{disabled}");
    assert!(!authenticates(&token).await);
    let listed = admin(&vault, &["users", "list"], None).await;
    assert!(listed.stdout.contains("DISABLED"), "{}", listed.stdout);
    let enabled = admin_json(&vault, &["users", "enable", &user], None).await;
    assert!(enabled["disabled_at"].is_null(), "{enabled}");
    assert!(authenticates(&token).await);
    let org_disabled = admin_json(&vault, &["orgs", "disable", &org], None).await;
    assert!(org_disabled["disabled_at"].is_string(), "{org_disabled}");
    admin_json(&vault, &["orgs", "enable", &org], None).await;

    let revoked = admin_json(
        &vault,
        &["tokens", "revoke-all", "--principal", &user],
        None,
    )
    .await;
    assert_eq!(revoked["revoked"].as_array().unwrap().len(), 2, "{revoked}");
    assert!(!authenticates(&token).await && !authenticates(&expiring).await);
    let again = admin(
        &vault,
        &["tokens", "revoke-all", "--principal", &user],
        None,
    )
    .await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(!again.stdout.contains(&token) && !again.stdout.contains(&expiring));
}

#[tokio::test]
async fn admin_grants_credits_and_sets_budgets_in_dollars() {
    let vault = TestVault::start().await;
    let (user, _) = vault.user_with_token("billed").await;
    let granted = admin_json(
        &vault,
        &["billing", "grant", &user, "12.5", "--reason", "trial"],
        None,
    )
    .await;
    assert_eq!(granted["balance_micros"], 12_500_000);
    let taken = admin_json(&vault, &["billing", "grant", &user, "-0.000001"], None).await;
    assert_eq!(taken["balance_micros"], 12_499_999);
    let budget = admin_json(&vault, &["billing", "budget", &user, "100"], None).await;
    assert_eq!(budget["monthly_cap_micros"], 100_000_000);
    let balance = admin(&vault, &["billing", "balance", &user], None).await;
    assert_eq!(balance.code, 0, "{}", balance.stderr);
    assert!(
        balance.stderr.contains("balance $12.499999"),
        "{}",
        balance.stderr
    );
    assert!(balance.stdout.contains("$100.000000"), "{}", balance.stdout);
    let usage = admin_json(&vault, &["billing", "usage", &user], None).await;
    assert_eq!(usage["total_cost_micros"], 0);
    // Bad amounts never reach the vault; overdrawing is refused by it.
    let bad = admin(&vault, &["billing", "grant", &user, "1.0000001"], None).await;
    assert_eq!(bad.code, 64, "{}", bad.stderr);
    let overdraw = admin(&vault, &["billing", "grant", &user, "-20"], None).await;
    assert_eq!(overdraw.code, 1);
    assert!(
        overdraw.stderr.contains("cannot take back"),
        "{}",
        overdraw.stderr
    );
}

#[tokio::test]
async fn admin_sets_lists_and_removes_rate_limits() {
    let vault = TestVault::start().await;
    let (user, _) = vault.user_with_token("limited").await;
    let set = [
        "limits",
        "set",
        "--scope",
        "principal",
        "--target",
        &user,
        "--rpm",
        "60",
        "--tpm",
        "10000",
    ];
    let stored = admin_json(&vault, &set, None).await;
    assert_eq!(stored["scope"], "principal");
    assert_eq!(stored["target_id"], user.as_str());
    assert_eq!(
        (&stored["requests_per_minute"], &stored["tokens_per_minute"]),
        (&60.into(), &10_000.into())
    );
    assert_eq!(stored["set_by_operator"], true);
    let model = [
        "limits",
        "set",
        "--scope",
        "managed-model",
        "--target",
        "gpt-4o-mini",
        "--tpm",
        "500",
    ];
    let model = admin_json(&vault, &model, None).await;
    assert_eq!(
        (&model["scope"], &model["requests_per_minute"]),
        (&"managed_model".into(), &0.into())
    );
    let table = admin(&vault, &["limits", "list"], None).await;
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(table.stdout.starts_with("SCOPE "), "{}", table.stdout);
    for cell in [
        user.as_str(),
        "60",
        "10000",
        "operator",
        "gpt-4o-mini",
        "none",
    ] {
        assert!(table.stdout.contains(cell), "{cell}: {}", table.stdout);
    }
    let mine = ["limits", "list", "--scope", "principal", "--target", &user];
    assert_eq!(admin_json(&vault, &mine, None).await, json!([stored]));
    let remove = [
        "limits",
        "remove",
        "--scope",
        "principal",
        "--target",
        &user,
    ];
    let removed = admin(&vault, &remove, None).await;
    assert_eq!(removed.code, 0, "{}", removed.stderr);
    assert!(removed.stdout.contains("removed the principal limit"));
    assert_eq!(admin_json(&vault, &mine, None).await, json!([]));
    let left = admin_json(&vault, &["limits", "list"], None).await;
    assert_eq!(left.as_array().map(Vec::len), Some(1), "{left}");

    // Refused before the vault: an unknown scope, and a limit of nothing.
    let bad = [
        "limits", "set", "--scope", "team", "--target", &user, "--rpm", "1",
    ];
    let bad = admin(&vault, &bad, None).await;
    assert_eq!(bad.code, 64, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("invalid value 'team' for '--scope"),
        "{}",
        bad.stderr
    );
    assert!(bad.stderr.contains("managed-model"), "{}", bad.stderr);
    let nothing = ["limits", "set", "--scope", "org", "--target", "org_x"];
    let nothing = admin(&vault, &nothing, None).await;
    assert_eq!(nothing.code, 64, "{}", nothing.stderr);
    assert!(
        nothing.stderr.contains("--rpm or --tpm"),
        "{}",
        nothing.stderr
    );
    let negative = [
        "limits", "set", "--scope", "org", "--target", "org_x", "--rpm", "-1",
    ];
    assert_eq!(admin(&vault, &negative, None).await.code, 64);
    // An unknown target is the vault's to refuse.
    let unknown = [
        "limits", "set", "--scope", "org", "--target", "org_nope", "--rpm", "1",
    ];
    let unknown = admin(&vault, &unknown, None).await;
    assert_eq!(unknown.code, 1);
    assert!(unknown.stderr.contains("not_found"), "{}", unknown.stderr);
    assert_eq!(admin_json(&vault, &mine, None).await, json!([]));
}

#[tokio::test]
async fn admin_errors_are_clear_and_exit_nonzero() {
    let vault = TestVault::start().await;
    let (user, _) = vault.user_with_token("err").await;
    let bad = admin(
        &vault,
        &[
            "keys",
            "add",
            "--owner",
            &user,
            "--provider",
            "bedrock",
            "--secret-file",
            "-",
        ],
        Some(r#"{"accessKeyId":"AKIAIOSFODNN7EXAMPLE","secretAccessKey":"x1"}"#),
    )
    .await;
    assert_eq!(bad.code, 1);
    assert_eq!(
        bad.stderr,
        "error: invalid_argument: secret.region is required\n"
    );
    let missing = admin(&vault, &["keys", "get", "cred_nope"], None).await;
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains("not_found"));
    let no_certs = keyroute(
        &["admin", "--vault", &vault.addr.to_string(), "users", "list"],
        None,
    )
    .await;
    assert_eq!(no_certs.code, 64);
    assert!(no_certs.stderr.contains("--certs-dir"));
    let certs = vault.pki.dir().to_str().unwrap();
    let unreachable = keyroute(
        &[
            "admin",
            "--vault",
            "127.0.0.1:9",
            "--certs-dir",
            certs,
            "users",
            "list",
        ],
        None,
    )
    .await;
    assert_eq!(unreachable.code, 69, "{}", unreachable.stderr);
    assert!(
        unreachable
            .stderr
            .contains("cannot reach the vault at 127.0.0.1:9")
    );
    let usage = keyroute(&["admin", "keys", "add"], None).await;
    assert_eq!(usage.code, 64);
}
