//! The `keyroute` binary end to end, without a vault: dev certificates, KEK files, and help
//! for every command.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::fs::PermissionsExt;

use common::keyroute;
use serde_json::Value;

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
async fn every_command_has_help() {
    let commands: &[&[&str]] = &[
        &[],
        &["certs"],
        &["certs", "dev"],
        &["certs", "issue"],
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
