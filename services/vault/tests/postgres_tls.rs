//! TLS to PostgreSQL against a real server that takes TCP clients only over TLS (always
//! PostgreSQL, whichever backend the other vault tests run on): `sslmode=verify-full` with
//! the right CA works for the pool and the change listener alike; a wrong CA or host name is
//! refused as a certificate that did not verify, plaintext is refused by the server, and the
//! weak libpq modes never get as far as a connection.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use keyroute_proto::vault::v1::CreateUserRequest;
use keyroute_proto::vault::v1::vault_service_client::VaultServiceClient;
use keyroute_test_servers::postgres::{self, TestDatabase};
use keyroute_test_support::TestPki;
use keyroute_tls::{ClientTls, Identity};
use keyroute_vault::crypto::Keyring;
use keyroute_vault::storage::{Database, DbCa, PostgresSettings, SqlValue, Store, StoreError};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const BINARY: &str = env!("CARGO_BIN_EXE_keyroute-vault");

/// `url` with `query` appended.
fn with_query(db: &TestDatabase, query: &str) -> String {
    format!("{}?{query}", db.url())
}

fn right_ca(db: &TestDatabase) -> DbCa {
    DbCa::from_file(db.ca_file().unwrap()).unwrap()
}

fn settings(db: &TestDatabase, url: &str, ca: Option<&DbCa>) -> Database {
    let password = Some(db.password().to_owned().into());
    Database::Postgres(PostgresSettings::with_ca(url, password, ca).unwrap())
}

async fn open(db: &TestDatabase, url: &str, ca: Option<&DbCa>) -> Result<Store, StoreError> {
    Store::open(&settings(db, url, ca), 0).await
}

/// Whether this store's connection is encrypted, as the server sees it.
async fn encrypted(store: &Store) -> bool {
    let rows = store
        .query_sql(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            Vec::new(),
            1,
        )
        .await
        .unwrap();
    rows == [[SqlValue::Int(1)]]
}

#[tokio::test]
async fn verify_full_with_the_right_ca_serves_the_pool_and_the_change_listener() {
    let db = postgres::tls_database();
    let ca = right_ca(&db);
    // By address (an IP SAN) and by name (a DNS SAN); channel_binding=require proves SCRAM
    // was bound to the TLS session (tls-server-end-point), which a wrong digest would fail.
    let by_address = with_query(&db, "sslmode=verify-full&channel_binding=require");
    let by_name = by_address.replace("@127.0.0.1:", "@localhost:");
    let first = open(&db, &by_address, Some(&ca)).await.unwrap();
    let second = open(&db, &by_name, Some(&ca)).await.unwrap();
    assert!(encrypted(&first).await);
    assert!(encrypted(&second).await);

    let (heard_tx, heard) = mpsc::channel::<Option<String>>();
    second
        .listen_changes(Box::new(move |payload| {
            let _ = heard_tx.send(payload.map(str::to_owned));
        }))
        .await
        .unwrap();
    first.announce_change("over-tls".to_owned()).await.unwrap();
    let payload = tokio::task::spawn_blocking(move || heard.recv_timeout(Duration::from_secs(5)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(payload.as_deref(), Some("over-tls"));
    let listeners = first
        .query_sql(
            "SELECT count(*) FROM pg_stat_activity JOIN pg_stat_ssl USING (pid) \
             WHERE datname = current_database() AND query LIKE 'LISTEN %' AND ssl",
            Vec::new(),
            1,
        )
        .await
        .unwrap();
    assert_eq!(listeners, [[SqlValue::Int(1)]]);
}

#[tokio::test]
async fn a_wrong_ca_or_host_name_is_a_certificate_that_did_not_verify() {
    let db = postgres::tls_database();
    let verify_full = with_query(&db, "sslmode=verify-full");
    let other = DbCa::from_pem(postgres::unrelated_ca_pem().as_bytes(), "other-ca.pem").unwrap();
    let wrong_ca = open(&db, &verify_full, Some(&other))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        wrong_ca.contains("certificate did not verify against the CA in --db-ca-file"),
        "{wrong_ca}"
    );
    assert!(!wrong_ca.contains(db.password()), "{wrong_ca}");

    // The right CA, but a name the certificate does not carry (the address is the server's).
    let url = format!(
        "postgres://{}@db.example.invalid:{}/{}?hostaddr=127.0.0.1&sslmode=verify-full",
        db.user(),
        db.port(),
        db.name()
    );
    let wrong_name = open(&db, &url, Some(&right_ca(&db)))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        wrong_name.contains("certificate did not verify"),
        "{wrong_name}"
    );
    assert!(wrong_name.contains("db.example.invalid"), "{wrong_name}");
    assert!(!wrong_name.contains(db.password()), "{wrong_name}");
}

#[tokio::test]
async fn plaintext_is_refused_by_a_server_that_takes_only_tls() {
    let db = postgres::tls_database();
    for url in [db.url(), with_query(&db, "sslmode=disable")] {
        let refused = open(&db, &url, None).await.unwrap_err().to_string();
        assert!(refused.contains("no encryption"), "{refused}");
        assert!(!refused.contains(db.password()), "{refused}");
    }
}

/// The binary's command line on a fresh vault state (PKI, keyring) in `dir`, without `--db`.
fn command(pki: &TestPki, dir: &Path) -> Command {
    let kek = dir.join("kek.json");
    Keyring::generate().save(&kek).unwrap();
    let tls = pki.paths("vault");
    let mut command = Command::new(BINARY);
    command
        .env_clear()
        .env("RUST_LOG", "info")
        .args(["--listen", "127.0.0.1:0", "--log-format", "json"])
        .args(["--metrics-listen", "off", "--health-listen", "off"])
        .env("KEYROUTE_KEK_FILE", kek)
        .env("KEYROUTE_TLS_CERT", &tls.cert)
        .env("KEYROUTE_TLS_KEY", &tls.key)
        .env("KEYROUTE_TLS_CA", &tls.ca)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Runs the binary to its exit: the code and its stderr.
async fn run_to_exit(mut command: Command) -> (i32, String) {
    let output = command.output().await.unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[tokio::test]
async fn the_binary_serves_over_verify_full_and_refuses_weak_tls_settings_at_start() {
    let db = postgres::tls_database();
    let pki = TestPki::new();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = db.ca_file().unwrap();
    let config_error = |(code, stderr): (i32, String), expected: &str| {
        assert_eq!(code, 64, "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line, got: {stderr}");
        assert!(
            stderr.starts_with("keyroute-vault: invalid configuration: "),
            "{stderr}"
        );
        assert!(stderr.contains(expected), "wanted {expected:?} in {stderr}");
        assert!(!stderr.contains(db.password()), "{stderr}");
    };
    let with = |url: String, ca: Option<&Path>| {
        let mut command = command(&pki, dir.path());
        command
            .arg("--db")
            .arg(url)
            .env("KEYROUTE_VAULT_DB_PASSWORD", db.password());
        if let Some(ca) = ca {
            command.env("KEYROUTE_VAULT_DB_CA_FILE", ca);
        }
        command
    };

    for (mode, says) in [
        ("require", "does not check who answers"),
        ("prefer", "falls back to plaintext"),
        ("allow", "tries plaintext first"),
        ("verify-ca", "not the host name"),
    ] {
        let url = with_query(&db, &format!("sslmode={mode}"));
        let exit = run_to_exit(with(url, Some(ca_file))).await;
        config_error(exit.clone(), &format!("--db: sslmode={mode} is refused: "));
        config_error(exit, says);
    }
    let verify_full = with_query(&db, "sslmode=verify-full");
    let no_ca = run_to_exit(with(verify_full.clone(), None)).await;
    config_error(no_ca, "sslmode=verify-full needs the CA");
    let not_pem = dir.path().join("not-a-ca.pem");
    std::fs::write(&not_pem, "password=hunter2\n").unwrap();
    let exit = run_to_exit(with(verify_full.clone(), Some(&not_pem))).await;
    config_error(
        exit.clone(),
        &format!("--db-ca-file: {}", not_pem.display()),
    );
    assert!(!exit.1.contains("hunter2"), "{}", exit.1);
    let unused = run_to_exit(with(db.url(), Some(ca_file))).await;
    config_error(unused, "only used with sslmode=verify-full");

    // A wrong CA is no configuration error the flags could show: the start fails, saying why.
    let other = dir.path().join("other-ca.pem");
    std::fs::write(&other, postgres::unrelated_ca_pem()).unwrap();
    let (code, stderr) = run_to_exit(with(verify_full.clone(), Some(&other))).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("certificate did not verify"), "{stderr}");
    assert!(!stderr.contains(db.password()), "{stderr}");

    // The flag, not the environment, this time.
    let mut serving = with(verify_full, None);
    serving.arg("--db-ca-file").arg(ca_file);
    let mut child = serving.spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("vault exited before serving");
        let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if event["message"] == "vault serving" {
            break event["listen"].as_str().unwrap().to_owned();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let tls = ClientTls::from_files(pki.paths("admin")).unwrap();
    let channel = keyroute_tls::channel(&addr, tls, Identity::parse("vault").unwrap()).unwrap();
    let user = VaultServiceClient::new(channel)
        .create_user(CreateUserRequest {
            name: "over-tls".into(),
            email: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    let store = open(
        &db,
        &with_query(&db, "sslmode=verify-full"),
        Some(&right_ca(&db)),
    )
    .await
    .unwrap();
    let rows = store
        .query_sql(
            "SELECT name FROM principals WHERE id = ?1",
            vec![SqlValue::Text(user.id)],
            1,
        )
        .await
        .unwrap();
    assert_eq!(rows, [[SqlValue::Text("over-tls".into())]]);
    child.start_kill().unwrap();
    child.wait().await.unwrap();
}
