//! The `keyroute-vault` binary as a child process: configuration errors exit 64 with one
//! line, SIGTERM stops it cleanly, and every acknowledged write survives `kill -9`. The
//! binary runs on SQLite, or on PostgreSQL when `KEYROUTE_TEST_VAULT_DB=postgres`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use keyroute_proto::vault::v1::vault_service_client::VaultServiceClient;
use keyroute_proto::vault::v1::*;
use keyroute_test_servers::postgres::TestDatabase;
use keyroute_test_support::TestPki;
use keyroute_tls::{ClientTls, Identity};
use keyroute_vault::crypto::Keyring;
use keyroute_vault::storage::{Database, PostgresSettings, SqlValue, Store};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BINARY: &str = env!("CARGO_BIN_EXE_keyroute-vault");

/// The database the binary runs against, as `TestVault` chooses it: a SQLite file in the
/// test's directory, or a fresh database on the test process's PostgreSQL server.
enum Backend {
    Sqlite(PathBuf),
    Postgres(TestDatabase),
}

impl Backend {
    fn chosen(dir: &std::path::Path) -> Self {
        if std::env::var("KEYROUTE_TEST_VAULT_DB").as_deref() == Ok("postgres") {
            Self::Postgres(keyroute_test_servers::postgres::database())
        } else {
            Self::Sqlite(dir.join("vault.sqlite"))
        }
    }

    /// `--db` for the binary, and the password (PostgreSQL's) in the environment, which is
    /// where production gives it: never in the URL, which the vault refuses.
    fn apply(&self, command: &mut Command) {
        match self {
            Self::Sqlite(path) => {
                command.arg("--db").arg(path);
            }
            Self::Postgres(db) => {
                command
                    .arg("--db")
                    .arg(db.url())
                    .env("KEYROUTE_VAULT_DB_PASSWORD", db.password());
            }
        }
    }

    /// The same database, for a store of the test's own.
    fn database(&self) -> Database {
        match self {
            Self::Sqlite(path) => Database::Sqlite(path.clone()),
            Self::Postgres(db) => Database::Postgres(
                PostgresSettings::new(&db.url(), Some(db.password().to_owned().into())).unwrap(),
            ),
        }
    }
}

struct Files {
    pki: TestPki,
    dir: tempfile::TempDir,
    backend: Backend,
}

impl Files {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let files = Self {
            pki: TestPki::new(),
            backend: Backend::chosen(dir.path()),
            dir,
        };
        Keyring::generate().save(&files.kek()).unwrap();
        files
    }

    fn kek(&self) -> std::path::PathBuf {
        self.dir.path().join("kek.json")
    }

    /// The binary's command line on the test's database.
    fn command(&self) -> Command {
        let mut command = self.command_without_db();
        self.backend.apply(&mut command);
        command
    }

    /// The binary's command line without `--db`, for tests that give their own.
    fn command_without_db(&self) -> Command {
        let tls = self.pki.paths("vault");
        let mut command = Command::new(BINARY);
        command
            .env_clear()
            .env("RUST_LOG", "info")
            .args(["--listen", "127.0.0.1:0", "--log-format", "json"])
            .args([
                "--metrics-listen",
                "127.0.0.1:0",
                "--health-listen",
                "127.0.0.1:0",
            ])
            .env("KEYROUTE_KEK_FILE", self.kek())
            .env("KEYROUTE_TLS_CERT", &tls.cert)
            .env("KEYROUTE_TLS_KEY", &tls.key)
            .env("KEYROUTE_TLS_CA", &tls.ca)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// A store on the binary's database, under the running vault.
    async fn store(&self) -> Store {
        Store::open(&self.backend.database(), 0).await.unwrap()
    }

    fn client(
        &self,
        addr: SocketAddr,
        identity: &str,
    ) -> VaultServiceClient<tonic::transport::Channel> {
        let tls = ClientTls::from_files(self.pki.paths(identity)).unwrap();
        VaultServiceClient::new(
            keyroute_tls::channel(&addr.to_string(), tls, Identity::parse("vault").unwrap())
                .unwrap(),
        )
    }
}

/// Starts the binary and waits for the log line that says where it listens; keeps
/// draining its stderr afterwards.
async fn spawn(command: Command) -> (Child, SocketAddr) {
    let (child, serving) = spawn_serving(command).await;
    (child, serving["listen"].as_str().unwrap().parse().unwrap())
}

/// Like [`spawn`], returning the whole "vault serving" event (listen, metrics and health
/// addresses).
async fn spawn_serving(mut command: Command) -> (Child, serde_json::Value) {
    let mut child = command.spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let serving = loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("vault exited before serving");
        let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if event["message"] == "vault serving" {
            break event;
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, serving)
}

async fn run_to_exit(mut command: Command) -> (i32, String) {
    let output = command.output().await.unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stderr).unwrap(),
    )
}

fn assert_config_error(result: (i32, String), expected: &str) {
    let (code, stderr) = result;
    assert_eq!(code, 64, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line, got: {stderr}");
    assert!(
        stderr.starts_with("keyroute-vault: invalid configuration: "),
        "{stderr}"
    );
    assert!(stderr.contains(expected), "wanted {expected:?} in {stderr}");
}

#[tokio::test]
async fn invalid_configuration_exits_64_with_one_line() {
    let files = Files::new();
    let mut missing_kek = files.command();
    missing_kek
        .arg("--kek-file")
        .arg(files.dir.path().join("absent.json"));
    assert_config_error(run_to_exit(missing_kek).await, "cannot read kek file");

    std::fs::write(
        files.dir.path().join("bad.json"),
        "{\"format\":\"keyroute-keyring/v1\"}",
    )
    .unwrap();
    let mut bad_kek = files.command();
    bad_kek
        .arg("--kek-file")
        .arg(files.dir.path().join("bad.json"));
    assert_config_error(run_to_exit(bad_kek).await, "is malformed");

    let mut missing_cert = files.command();
    missing_cert.env("KEYROUTE_TLS_CERT", files.dir.path().join("absent.crt"));
    assert_config_error(run_to_exit(missing_cert).await, "tls: cannot read");

    let mut wrong_key = files.command();
    wrong_key.env("KEYROUTE_TLS_KEY", files.pki.paths("router").key);
    assert_config_error(run_to_exit(wrong_key).await, "tls:");

    let mut ttl = files.command();
    ttl.args(["--lease-ttl", "5 parsecs"]);
    assert_config_error(run_to_exit(ttl).await, "lease-ttl");

    let mut short_ttl = files.command();
    short_ttl.env("KEYROUTE_LEASE_TTL", "1s");
    assert_config_error(run_to_exit(short_ttl).await, "--lease-ttl must be between");

    let mut db_dir = files.command_without_db();
    db_dir
        .arg("--db")
        .arg(files.dir.path().join("no/such/dir/vault.sqlite"));
    assert_config_error(run_to_exit(db_dir).await, "does not exist");

    let mut unknown = files.command();
    unknown.arg("--frobnicate");
    assert_config_error(run_to_exit(unknown).await, "--frobnicate");

    let mut no_kek = Command::new(BINARY);
    no_kek
        .env_clear()
        .args(["--tls-cert", "a", "--tls-key", "b", "--tls-ca", "c"]);
    assert_config_error(run_to_exit(no_kek).await, "--kek-file");

    let mut help = Command::new(BINARY);
    help.arg("--help");
    let (code, _) = run_to_exit(help).await;
    assert_eq!(code, 0);
}

#[tokio::test]
async fn a_database_password_is_refused_in_the_url_and_from_two_places() {
    let files = Files::new();
    for url in [
        "postgres://user:secret@127.0.0.1:1/x",
        "postgresql://user:secret@127.0.0.1:1/x",
    ] {
        let mut in_url = files.command_without_db();
        in_url.args(["--db", url]);
        let (code, stderr) = run_to_exit(in_url).await;
        assert!(!stderr.contains("secret"), "the password in: {stderr}");
        assert_config_error((code, stderr), "the PostgreSQL URL carries a password");
    }
    // The same from the environment, password given apart as well.
    let mut in_env = files.command_without_db();
    in_env
        .env("KEYROUTE_VAULT_DB", "postgres://user:secret@127.0.0.1:1/x")
        .env("KEYROUTE_VAULT_DB_PASSWORD", "other");
    let (code, stderr) = run_to_exit(in_env).await;
    assert!(!stderr.contains("secret"), "the password in: {stderr}");
    assert_config_error((code, stderr), "the PostgreSQL URL carries a password");

    // A password in a file and another in the environment: which one is meant?
    let password_file = files.dir.path().join("db-password");
    std::fs::write(&password_file, "pw-from-file\n").unwrap();
    let mut both = files.command_without_db();
    both.args(["--db", "postgres://user@127.0.0.1:1/x"])
        .arg("--db-password-file")
        .arg(&password_file)
        .env("KEYROUTE_VAULT_DB_PASSWORD", "pw-from-env");
    let (code, stderr) = run_to_exit(both).await;
    assert!(!stderr.contains("pw-from"), "a password in: {stderr}");
    assert_config_error(
        (code, stderr),
        "give the database password in --db-password-file or KEYROUTE_VAULT_DB_PASSWORD, not both",
    );
}

#[tokio::test]
async fn metrics_and_plaintext_health_probes_are_served() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    let files = Files::new();
    let (_child, serving) = spawn_serving(files.command()).await;
    let addr: SocketAddr = serving["listen"].as_str().unwrap().parse().unwrap();
    assert_eq!(tonic_health_check(&files, addr).await, 1, "SERVING");
    let probes = format!("http://{}", serving["health"].as_str().unwrap());
    let channel = tonic::transport::Endpoint::from_shared(probes)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let status = HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(status, 1, "the kubelet's plaintext probe sees SERVING");

    let mut http = tokio::net::TcpStream::connect(serving["metrics"].as_str().unwrap())
        .await
        .unwrap();
    http.write_all(b"GET /metrics HTTP/1.1\r\nhost: vault\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    http.read_to_string(&mut text).await.unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.contains("keyroute_vault_calls_total{method=\"Check\",code=\"0\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("keyroute_vault_call_seconds_count{method=\"Check\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn sigterm_stops_the_vault_cleanly() {
    let files = Files::new();
    let (mut child, addr) = spawn(files.command()).await;
    let health = tonic_health_check(&files, addr).await;
    assert_eq!(health, 1, "SERVING");
    let pid = child.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(std::time::Duration::from_secs(15), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(exit.code(), Some(0));
}

async fn tonic_health_check(files: &Files, addr: SocketAddr) -> i32 {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    let tls = ClientTls::from_files(files.pki.paths("router")).unwrap();
    let channel =
        keyroute_tls::channel(&addr.to_string(), tls, Identity::parse("vault").unwrap()).unwrap();
    let request = HealthCheckRequest {
        service: "keyroute.vault.v1.VaultService".into(),
    };
    HealthClient::new(channel)
        .check(request)
        .await
        .unwrap()
        .into_inner()
        .status
}

#[tokio::test]
async fn every_acknowledged_write_survives_kill_9() {
    let files = Files::new();
    let (mut child, addr) = spawn(files.command()).await;
    let mut admin = files.client(addr, "admin");
    let user = admin
        .create_user(CreateUserRequest {
            name: "durable".into(),
            email: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap()
        .id;

    const WRITERS: usize = 8;
    const KILL_AFTER: usize = 120;
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let (enough_tx, mut enough_rx) = tokio::sync::watch::channel(false);
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let mut client = files.client(addr, "admin");
        let (user, acknowledged, enough_tx) =
            (user.clone(), acknowledged.clone(), enough_tx.clone());
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let request = CreateCredentialRequest {
                    owner_id: user.clone(),
                    provider: "custom".into(),
                    label: format!("w{writer}-{i}"),
                    secret: format!("sk-durable-{writer}-{i}-0123456789"),
                    config: [(
                        "base_url".to_owned(),
                        "https://llm.example.com/v1".to_owned(),
                    )]
                    .into(),
                    disabled: false,
                };
                let Ok(response) = client.create_credential(request).await else {
                    return;
                };
                let id = response.into_inner().credential.unwrap().id;
                let mut acked = acknowledged.lock().unwrap();
                acked.push(id);
                if acked.len() >= KILL_AFTER {
                    let _ = enough_tx.send(true);
                }
            }
        }));
    }
    enough_rx.wait_for(|enough| *enough).await.unwrap();
    child.start_kill().unwrap(); // SIGKILL, with writes in flight
    child.wait().await.unwrap();
    for writer in writers {
        writer.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= KILL_AFTER);

    let (_restarted, addr) = spawn(files.command()).await;
    let stored = files
        .client(addr, "admin")
        .list_credentials(ListCredentialsRequest {
            owner_id: user.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .credentials;
    let stored: std::collections::HashSet<String> = stored.into_iter().map(|c| c.id).collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !stored.contains(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged writes lost: {lost:?}",
        lost.len()
    );
    // They are in the database the test chose (PostgreSQL's, when it is the one), row for
    // row.
    let rows = files
        .store()
        .await
        .query_sql(
            "SELECT COUNT(*) FROM credentials WHERE owner_id = ?1",
            vec![SqlValue::Text(user.clone())],
            1,
        )
        .await
        .unwrap();
    assert_eq!(
        rows,
        [[SqlValue::Int(i64::try_from(stored.len()).unwrap())]]
    );
    // Every stored secret still opens.
    let lease = files
        .client(addr, "router")
        .lease_credentials(LeaseCredentialsRequest { principal_id: user })
        .await
        .unwrap()
        .into_inner();
    assert!(lease.unreadable.is_empty());
    assert_eq!(lease.credentials.len(), stored.len());
}

/// `GET /metrics` from the vault's metrics port.
async fn scrape(metrics: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut http = tokio::net::TcpStream::connect(metrics).await.unwrap();
    http.write_all(b"GET /metrics HTTP/1.1\r\nhost: vault\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    http.read_to_string(&mut text).await.unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    text
}

#[tokio::test]
async fn rows_a_kek_rotation_skips_are_counted_on_metrics() {
    let files = Files::new();
    let (_child, serving) = spawn_serving(files.command()).await;
    let addr: SocketAddr = serving["listen"].as_str().unwrap().parse().unwrap();
    let metrics = serving["metrics"].as_str().unwrap().to_owned();
    let before = scrape(&metrics).await;
    assert!(
        before.contains("\nkeyroute_vault_kek_rotation_skipped_total 0\n"),
        "{before}"
    );
    let mut admin = files.client(addr, "admin");
    let user = admin
        .create_user(CreateUserRequest {
            name: "metered".into(),
            email: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap()
        .id;
    let mut ids = Vec::new();
    for provider in ["openai", "xai", "mistral"] {
        let request = CreateCredentialRequest {
            owner_id: user.clone(),
            provider: provider.into(),
            secret: format!("sk-metered-{provider}-0123456789"),
            ..Default::default()
        };
        let created = admin.create_credential(request).await.unwrap().into_inner();
        ids.push(created.credential.unwrap().id);
    }
    {
        // One secret's ciphertext gets a flipped byte, in the database, under the running
        // vault.
        let store = files.store().await;
        let id = SqlValue::Text(ids[1].clone());
        let rows = store
            .query_sql(
                "SELECT ciphertext FROM credentials WHERE id = ?1",
                vec![id.clone()],
                1,
            )
            .await
            .unwrap();
        let mut bytes = match rows.concat().as_slice() {
            [SqlValue::Blob(bytes)] => bytes.clone(),
            other => panic!("ciphertext read back as {other:?}"),
        };
        bytes[2] ^= 1;
        let changed = store
            .execute_sql(
                "UPDATE credentials SET ciphertext = ?1 WHERE id = ?2",
                vec![SqlValue::Blob(bytes), id],
            )
            .await
            .unwrap();
        assert_eq!(changed, 1);
    }
    let mut keyring = Keyring::load(&files.kek()).unwrap();
    keyring.add_version();
    keyring.save(&files.kek()).unwrap();
    let rotated = admin
        .rotate_kek(RotateKekRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rotated.rewrapped, 2);
    assert_eq!(rotated.skipped.len(), 1);
    assert_eq!(rotated.skipped[0].credential_id, ids[1]);
    let after = scrape(&metrics).await;
    for line in [
        "keyroute_vault_kek_rotations_total 1",
        "keyroute_vault_kek_rotation_skipped_total 1",
        "keyroute_vault_kek_rotation_last_skipped 1",
        "# TYPE keyroute_vault_kek_rotation_last_skipped gauge",
    ] {
        assert!(after.contains(&format!("\n{line}\n")), "{line} in {after}");
    }
}
