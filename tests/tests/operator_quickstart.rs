//! The operator's first steps from the README, with the real binaries: generate dev
//! certificates and a KEK, start `keyroute-vault` from environment variables, then use
//! `keyroute admin` to create a user, an org, a token and a key, and lease it as the router.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Stdio;

use keyroute_e2e::{Process, workspace_binary};
use keyroute_proto::vault::v1::LeaseCredentialsRequest;
use keyroute_proto::vault::v1::vault_service_client::VaultServiceClient;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

async fn keyroute(args: &[&str], stdin: &str) -> serde_json::Value {
    let binary = workspace_binary("keyroute");
    assert!(
        binary.exists(),
        "{} is missing: run `cargo test --workspace`",
        binary.display()
    );
    let mut child = Command::new(binary)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .await
        .unwrap();
    let output = child.wait_with_output().await.unwrap();
    assert!(
        output.status.success(),
        "keyroute {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null)
}

#[tokio::test]
async fn certs_kek_vault_and_admin_work_together() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let kek = dir.path().join("kek.json");
    let (certs_s, kek_s) = (certs.to_str().unwrap(), kek.to_str().unwrap());
    keyroute(&["certs", "dev", "--out", certs_s], "").await;
    keyroute(&["kek", "generate", "--out", kek_s], "").await;

    let file = |path: std::path::PathBuf| path.to_str().unwrap().to_owned();
    let env = [
        ("KEYROUTE_VAULT_LISTEN", "127.0.0.1:0".to_owned()),
        ("KEYROUTE_METRICS_LISTEN", "127.0.0.1:0".to_owned()),
        ("KEYROUTE_VAULT_DB", file(dir.path().join("vault.sqlite"))),
        ("KEYROUTE_KEK_FILE", file(kek.clone())),
        ("KEYROUTE_TLS_CERT", file(certs.join("vault.crt"))),
        ("KEYROUTE_TLS_KEY", file(certs.join("vault.key"))),
        ("KEYROUTE_TLS_CA", file(certs.join("ca.crt"))),
    ];
    let mut vault = Process::start("keyroute-vault", &env, "vault serving").await;
    let addr = vault.addr.clone();

    let admin = [
        "admin",
        "--vault",
        addr.as_str(),
        "--certs-dir",
        certs_s,
        "-o",
        "json",
    ];
    let with = |rest: &[&'static str]| [admin.as_slice(), rest].concat();
    let user = keyroute(&with(&["users", "create", "--name", "Grace"]), "").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let org_args = [
        admin.as_slice(),
        &["orgs", "create", "--name", "Navy", "--owner", user.as_str()],
    ]
    .concat();
    let org = keyroute(&org_args, "").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let token_args = [
        admin.as_slice(),
        &["tokens", "issue", "--principal", user.as_str()],
    ]
    .concat();
    let token = keyroute(&token_args, "").await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(token.starts_with("kr_"));
    let key_args = [
        admin.as_slice(),
        &[
            "keys",
            "add",
            "--owner",
            org.as_str(),
            "--provider",
            "anthropic",
            "--secret-file",
            "-",
        ],
    ]
    .concat();
    keyroute(&key_args, "sk-ant-e2e-0123456789abcdef").await;

    // The router's certificate from the same `certs dev` run leases it.
    let tls = keyroute_tls::ClientTls::from_files(keyroute_tls::TlsPaths::in_dir(&certs, "router"))
        .unwrap();
    let channel =
        keyroute_tls::channel(&addr, tls, keyroute_tls::Identity::parse("vault").unwrap()).unwrap();
    let lease = VaultServiceClient::new(channel)
        .lease_credentials(LeaseCredentialsRequest { principal_id: user })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(lease.credentials.len(), 1);
    assert_eq!(lease.credentials[0].secret, "sk-ant-e2e-0123456789abcdef");
    vault.kill().await;
}
