use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use keyroute_proto::vault::v1::vault_service_client::VaultServiceClient;
use keyroute_tls::{ClientTls, Identity};
use keyroute_vault::crypto::Keyring;
use keyroute_vault::server::{PreparedVault, VaultSettings};
use keyroute_vault::storage::{Database, PostgresSettings, Store};
use tonic::transport::Channel;

/// A vault gRPC client.
pub type VaultClient = VaultServiceClient<Channel>;

/// A real vault on a loopback port, with its PKI, database and keyring in a temporary
/// directory that outlives restarts. The database is SQLite in that directory, or, when
/// `KEYROUTE_TEST_VAULT_DB=postgres`, a fresh database on the test process's PostgreSQL
/// server (`scripts/test` runs the vault's tests both ways).
#[derive(Debug)]
pub struct TestVault {
    pub pki: Arc<TestPki>,
    pub addr: SocketAddr,
    lease_ttl: Duration,
    database: Database,
    state: Arc<tempfile::TempDir>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

use crate::TestPki;

impl TestVault {
    /// A fresh vault: new PKI, new keyring, empty database.
    pub async fn start() -> Self {
        Self::start_with_lease_ttl(Duration::from_secs(300)).await
    }

    /// A fresh vault whose leases live `lease_ttl`.
    pub async fn start_with_lease_ttl(lease_ttl: Duration) -> Self {
        let pki = Arc::new(TestPki::new());
        let state = Arc::new(tempfile::tempdir().unwrap());
        Keyring::generate()
            .save(&state.path().join("kek.json"))
            .unwrap();
        let database = test_database(state.path());
        Self::start_on(
            pki,
            state,
            database,
            "127.0.0.1:0".parse().unwrap(),
            lease_ttl,
        )
        .await
    }

    /// A fresh vault on PostgreSQL whatever `KEYROUTE_TEST_VAULT_DB` says: for what only a
    /// shared database can do (replicas).
    pub async fn start_on_postgres() -> Self {
        let pki = Arc::new(TestPki::new());
        let state = Arc::new(tempfile::tempdir().unwrap());
        Keyring::generate()
            .save(&state.path().join("kek.json"))
            .unwrap();
        Self::start_on(
            pki,
            state,
            postgres_database(),
            "127.0.0.1:0".parse().unwrap(),
            Duration::from_secs(300),
        )
        .await
    }

    /// Another vault replica: the same PKI, keyring and database as `self` (PostgreSQL), on
    /// a port of its own.
    pub async fn replica(&self) -> Self {
        assert!(self.is_postgres(), "replicas share a PostgreSQL database");
        Self::start_on(
            self.pki.clone(),
            self.state.clone(),
            self.database.clone(),
            "127.0.0.1:0".parse().unwrap(),
            self.lease_ttl,
        )
        .await
    }

    async fn start_on(
        pki: Arc<TestPki>,
        state: Arc<tempfile::TempDir>,
        database: Database,
        listen: SocketAddr,
        lease_ttl: Duration,
    ) -> Self {
        let settings = VaultSettings {
            listen,
            // Keys may point at loopback (a local model server), as in `keyroute dev`.
            egress: keyroute_egress::EgressPolicy::allowing_loopback(),
            db: database.clone(),
            kek_file: state.path().join("kek.json"),
            tls: pki.paths("vault"),
            lease_ttl,
            tls_reload_interval: Duration::from_secs(3600),
            shutdown_grace: Duration::from_secs(5),
            health_listen: None,
            metrics_listen: None,
        };
        let prepared = PreparedVault::prepare(settings).await.unwrap();
        let addr = prepared.local_addr().unwrap();
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            prepared
                .serve(async {
                    let _ = stop.await;
                })
                .await
                .unwrap();
        });
        Self {
            pki,
            addr,
            lease_ttl,
            database,
            state,
            shutdown: Some(shutdown),
            task: Some(task),
        }
    }

    /// Stops the vault gracefully and waits until it has.
    pub async fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }

    /// Stops and starts again on the same address, database and keyring.
    pub async fn restart(mut self) -> Self {
        self.stop().await;
        Self::start_on(
            self.pki.clone(),
            self.state.clone(),
            self.database.clone(),
            self.addr,
            self.lease_ttl,
        )
        .await
    }

    /// Starts a stopped vault ([`TestVault::stop`]) again on the same address, database and
    /// keyring.
    pub async fn start_again(&mut self) {
        let restarted = Self::start_on(
            self.pki.clone(),
            self.state.clone(),
            self.database.clone(),
            self.addr,
            self.lease_ttl,
        )
        .await;
        *self = restarted;
    }

    /// The SQLite file (meaningful only when the vault is not on PostgreSQL).
    pub fn db_path(&self) -> PathBuf {
        self.state.path().join("vault.sqlite")
    }

    /// The vault's database.
    pub fn database(&self) -> &Database {
        &self.database
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.database, Database::Postgres(_))
    }

    /// A second handle on the vault's database, for reaching under the vault (counting
    /// rows, tampering with a sealed value) the same way on either backend.
    pub async fn store(&self) -> Store {
        Store::open(&self.database, 0).await.unwrap()
    }

    pub fn kek_path(&self) -> PathBuf {
        self.state.path().join("kek.json")
    }

    pub fn state_dir(&self) -> &Path {
        self.state.path()
    }

    /// A client presenting the certificate issued to `identity` (`admin`, `edge`, `router`,
    /// or any name, which is issued on demand).
    pub fn client(&self, identity: &str) -> VaultClient {
        let file = identity.replace('/', "-");
        let paths = if self.pki.dir().join(format!("{file}.crt")).exists() {
            self.pki.paths(&file)
        } else {
            self.pki.issue(identity)
        };
        let tls = ClientTls::from_files(paths).unwrap();
        let channel = keyroute_tls::channel(
            &self.addr.to_string(),
            tls,
            Identity::parse("vault").unwrap(),
        )
        .unwrap();
        VaultServiceClient::new(channel)
    }
}

impl TestVault {
    /// Creates a user through the admin API and issues them a gateway token.
    pub async fn user_with_token(&self, name: &str) -> (String, String) {
        use keyroute_proto::vault::v1::{CreateUserRequest, IssueTokenRequest};
        let mut admin = self.client("admin");
        let user = admin
            .create_user(CreateUserRequest {
                name: name.into(),
                email: format!("{name}@example.com"),
            })
            .await
            .unwrap()
            .into_inner()
            .user
            .unwrap();
        let token = admin
            .issue_token(IssueTokenRequest {
                principal_id: user.id.clone(),
                name: "test".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .token;
        (user.id, token)
    }

    /// How many audit events name `target`, read straight from the vault's database.
    pub async fn store_audit_count(&self, target: &str) -> u64 {
        let store = Store::open(&self.database, 0).await.unwrap();
        store.count_audit_for_target(target).await.unwrap()
    }

    /// Creates an org owned by `owner` and adds each `(user, role)`.
    pub async fn org(
        &self,
        name: &str,
        owner: &str,
        members: &[(&str, keyroute_proto::vault::v1::Role)],
    ) -> String {
        use keyroute_proto::vault::v1::{AddMemberRequest, CreateOrgRequest};
        let mut admin = self.client("admin");
        let org = admin
            .create_org(CreateOrgRequest {
                name: name.into(),
                owner_user_id: owner.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .org
            .unwrap();
        for (user, role) in members {
            admin
                .add_member(AddMemberRequest {
                    org_id: org.id.clone(),
                    user_id: (*user).into(),
                    role: *role as i32,
                })
                .await
                .unwrap();
        }
        org.id
    }
}

impl Drop for TestVault {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A request carrying a gateway token, as the edge forwards it.
/// A request to store a credential: `config` as key-value pairs, enabled.
pub fn credential_request(
    owner: &str,
    provider: &str,
    label: &str,
    secret: &str,
    config: &[(&str, &str)],
) -> keyroute_proto::vault::v1::CreateCredentialRequest {
    keyroute_proto::vault::v1::CreateCredentialRequest {
        owner_id: owner.into(),
        provider: provider.into(),
        label: label.into(),
        secret: secret.into(),
        config: config
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        disabled: false,
    }
}

pub fn with_token<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

/// The database a new test vault gets: see [`TestVault`].
pub fn test_database(state: &Path) -> Database {
    if std::env::var("KEYROUTE_TEST_VAULT_DB").as_deref() == Ok("postgres") {
        return postgres_database();
    }
    Database::Sqlite(state.join("vault.sqlite"))
}

/// A fresh database on the test process's PostgreSQL server.
fn postgres_database() -> Database {
    let db = keyroute_test_servers::postgres::database();
    let password = Some(db.password().to_owned().into());
    Database::Postgres(PostgresSettings::new(&db.url(), password).unwrap())
}
