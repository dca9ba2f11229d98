//! The `keyroute` binary end to end: dev certificates, KEK files, and admin commands against
//! a real vault over mTLS.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

use keyroute_test_support::TestVault;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

const BINARY: &str = env!("CARGO_BIN_EXE_keyroute");

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

async fn keyroute(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BINARY)
        .args(args)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).await.unwrap();
    }
    drop(input);
    let output = child.wait_with_output().await.unwrap();
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

async fn admin(vault: &TestVault, args: &[&str], stdin: Option<&str>) -> Output {
    let addr = vault.addr.to_string();
    let certs = vault.pki.dir().to_str().unwrap().to_owned();
    let mut all = vec!["admin", "--vault", &addr, "--certs-dir", &certs];
    all.extend_from_slice(args);
    keyroute(&all, stdin).await
}

async fn admin_json(vault: &TestVault, args: &[&str], stdin: Option<&str>) -> Value {
    let mut all = args.to_vec();
    all.extend_from_slice(&["-o", "json"]);
    let output = admin(vault, &all, stdin).await;
    assert_eq!(output.code, 0, "{args:?}: {}", output.stderr);
    serde_json::from_str(&output.stdout).unwrap()
}

#[tokio::test]
async fn certs_dev_writes_spiffe_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("certs");
    let output = keyroute(
        &[
            "certs",
            "dev",
            "--out",
            out.to_str().unwrap(),
            "--identity",
            "platform/billing",
        ],
        None,
    )
    .await;
    assert_eq!(output.code, 0, "{}", output.stderr);
    for name in ["vault", "router", "edge", "admin", "platform-billing"] {
        let pem = std::fs::read(out.join(format!("{name}.crt"))).unwrap();
        let der = x509_parser::pem::parse_x509_pem(&pem).unwrap().1.contents;
        let expected = if name == "platform-billing" {
            "platform/billing"
        } else {
            name
        };
        assert_eq!(
            keyroute_tls::identity_of_der(&der).unwrap().name(),
            expected
        );
        let mode = std::fs::metadata(out.join(format!("{name}.key")))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{name}.key");
    }
    // The generated material works for a real server and client.
    keyroute_tls::ServerTls::from_files(keyroute_tls::TlsPaths::in_dir(&out, "vault")).unwrap();
    keyroute_tls::ClientTls::from_files(keyroute_tls::TlsPaths::in_dir(&out, "admin")).unwrap();
    // A second run refuses to replace the CA without --force.
    let again = keyroute(&["certs", "dev", "--out", out.to_str().unwrap()], None).await;
    assert_eq!(again.code, 64);
    assert!(again.stderr.contains("--force"));
}

#[tokio::test]
async fn kek_files_are_private_versioned_and_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kek.json");
    let file = path.to_str().unwrap();
    assert_eq!(
        keyroute(&["kek", "generate", "--out", file], None)
            .await
            .code,
        0
    );
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let overwrite = keyroute(&["kek", "generate", "--out", file], None).await;
    assert_eq!(overwrite.code, 64);
    let added = keyroute(&["kek", "add", "--keyring", file], None).await;
    assert!(added.stdout.contains("added version 2"));
    let refused = keyroute(
        &["kek", "retire", "--keyring", file, "--version", "2"],
        None,
    )
    .await;
    assert_eq!(refused.code, 64, "the active version cannot be retired");
    assert_eq!(
        keyroute(
            &["kek", "retire", "--keyring", file, "--version", "1"],
            None
        )
        .await
        .code,
        0
    );
    let shown = keyroute(&["kek", "show", "--keyring", file], None).await;
    assert_eq!(shown.stdout, "VERSION  ACTIVE\n2        yes\n");
    let key: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let material = key["keys"][0]["key"].as_str().unwrap();
    for output in [added, shown] {
        assert!(!output.stdout.contains(material) && !output.stderr.contains(material));
    }
}

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
        use keyroute_vault::storage::{AuditRecord, SecretUpdate, Store};
        let store = Store::open(&vault.db_path(), 0).await.unwrap();
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

#[tokio::test]
async fn every_command_has_help() {
    let commands: &[&[&str]] = &[
        &[],
        &["certs"],
        &["certs", "dev"],
        &["kek"],
        &["kek", "generate"],
        &["kek", "add"],
        &["kek", "retire"],
        &["kek", "show"],
        &["admin"],
        &["admin", "users"],
        &["admin", "users", "create"],
        &["admin", "orgs", "create"],
        &["admin", "members", "add"],
        &["admin", "tokens", "issue"],
        &["admin", "tokens", "revoke-all"],
        &["admin", "users", "disable"],
        &["admin", "orgs", "enable"],
        &["admin", "keys"],
        &["admin", "keys", "add"],
        &["admin", "keys", "disable"],
        &["admin", "settings", "set"],
        &["admin", "audit", "list"],
        &["admin", "kek", "rotate"],
        &["admin", "billing"],
        &["admin", "billing", "grant"],
        &["admin", "billing", "budget"],
        &["admin", "billing", "usage"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.push("--help");
        let output = keyroute(&args, None).await;
        assert_eq!(output.code, 0, "{command:?}: {}", output.stderr);
        assert!(output.stdout.contains("Usage:"), "{command:?}");
    }
}
