//! The replicated gateway as production runs it, from the real binaries: one PostgreSQL and
//! one Redis that the test starts, two `keyroute-vault` replicas on that database, and two
//! `keyroute-router`s, the first attached to replica A and the second to replica B, counting
//! rate limits in the shared Redis. Providers are the mock's; clients are typed gRPC with the
//! certificates `keyroute certs dev` made.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use keyroute_e2e::{Process, workspace_binary};
use keyroute_mock_providers::{Mock, MockServer};
use keyroute_proto::router::v1::router_service_client::RouterServiceClient;
use keyroute_proto::vault::v1::vault_service_client::VaultServiceClient;
use keyroute_proto::vault::v1::{CreateCredentialRequest, CreateUserRequest, IssueTokenRequest};
use keyroute_test_servers::postgres::TestDatabase;
use keyroute_test_servers::redis::TestRedis;
use keyroute_tls::{ClientTls, Identity, TlsPaths};
use tokio::process::Command;
use tonic::transport::Channel;

/// The platform's managed Anthropic key at the mock.
pub const PLATFORM_ANTHROPIC_KEY: &str = "sk-ant-e2e-platform-0123456789";
/// Every user's own OpenAI key starts with this (the mock accepts any such key).
pub const USER_OPENAI_PREFIX: &str = "sk-e2e-user-";

/// Two vault replicas, two routers, one PostgreSQL, one Redis, the mock providers.
pub struct Stack {
    pub dir: tempfile::TempDir,
    pub database: TestDatabase,
    _redis: TestRedis,
    _mock_server: MockServer,
    /// Replica A and replica B.
    pub vaults: [Process; 2],
    /// The router on replica A and the one on replica B.
    pub routers: [Process; 2],
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

fn certs(dir: &Path) -> PathBuf {
    dir.join("certs")
}

async fn keyroute(args: &[&str]) {
    let status = Command::new(workspace_binary("keyroute"))
        .args(args)
        .stdout(Stdio::null())
        .status()
        .await
        .unwrap();
    assert!(status.success(), "keyroute {args:?}");
}

/// One stack at a time: each is seven processes, and this machine's timing claims (a
/// revocation within a second) are about one of them, not four starting at once.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl Stack {
    pub async fn start() -> Self {
        let turn = ONE_AT_A_TIME.lock().await;
        let dir = tempfile::tempdir().unwrap();
        let certs_dir = certs(dir.path());
        let kek = dir.path().join("kek.json");
        keyroute(&["certs", "dev", "--out", certs_dir.to_str().unwrap()]).await;
        keyroute(&["kek", "generate", "--out", kek.to_str().unwrap()]).await;
        let database = keyroute_test_servers::postgres::database();
        let redis = keyroute_test_servers::redis::start();
        let mock = Mock::new();
        mock.add_key("anthropic", PLATFORM_ANTHROPIC_KEY);
        mock.accept_prefix(USER_OPENAI_PREFIX);
        let mock_server = MockServer::start(mock).await.unwrap();
        let a = start_vault(dir.path(), &database, "127.0.0.1:0").await;
        let b = start_vault(dir.path(), &database, "127.0.0.1:0").await;
        let base_urls = ["openai", "anthropic"]
            .iter()
            .map(|p| format!("{p}={}", mock_server.base_url(p)))
            .collect::<Vec<_>>()
            .join(",");
        let mut routers = Vec::new();
        for vault in [&a, &b] {
            let tls = tls_env(dir.path(), "router");
            let env = [
                tls.as_slice(),
                &[
                    ("KEYROUTE_ROUTER_LISTEN", "127.0.0.1:0".to_owned()),
                    ("KEYROUTE_VAULT_ADDR", vault.addr.clone()),
                    ("KEYROUTE_BASE_URLS", base_urls.clone()),
                    ("KEYROUTE_METRICS_LISTEN", "off".to_owned()),
                    ("KEYROUTE_RATE_LIMIT_REDIS", redis.url()),
                ],
            ]
            .concat();
            routers.push(Process::start("keyroute-router", &env, "router serving").await);
        }
        let [first, second]: [Process; 2] = routers.try_into().ok().unwrap();
        Self {
            dir,
            database,
            _redis: redis,
            _mock_server: mock_server,
            vaults: [a, b],
            routers: [first, second],
            _turn: turn,
        }
    }

    /// Starts vault replica `index` again (after [`Process::kill`]) on its old address, where
    /// its router finds it again.
    pub async fn restart_vault(&mut self, index: usize) {
        let listen = self.vaults[index].addr.clone();
        self.vaults[index] = start_vault(self.dir.path(), &self.database, &listen).await;
    }

    fn tls(&self, identity: &str) -> std::sync::Arc<ClientTls> {
        ClientTls::from_files(TlsPaths::in_dir(&certs(self.dir.path()), identity)).unwrap()
    }

    /// A client of vault replica `index` with `identity`'s certificate.
    pub fn vault(&self, index: usize, identity: &str) -> VaultServiceClient<Channel> {
        let channel = keyroute_tls::channel(
            &self.vaults[index].addr,
            self.tls(identity),
            Identity::parse("vault").unwrap(),
        )
        .unwrap();
        VaultServiceClient::new(channel)
    }

    /// Router `index` as the edge calls it.
    pub fn router(&self, index: usize) -> RouterServiceClient<Channel> {
        let channel = keyroute_tls::channel(
            &self.routers[index].addr,
            self.tls("edge"),
            Identity::parse("router").unwrap(),
        )
        .unwrap();
        RouterServiceClient::new(channel).max_decoding_message_size(16 * 1024 * 1024)
    }

    /// A new user made through replica `index`, with a gateway token; with `own_key`, an
    /// OpenAI key of their own too. Returns (user id, token, key id).
    pub async fn user(&self, index: usize, name: &str, own_key: bool) -> (String, String, String) {
        let mut admin = self.vault(index, "admin");
        let user = admin
            .create_user(CreateUserRequest {
                name: name.into(),
                email: format!("{name}@example.com"),
            })
            .await
            .unwrap()
            .into_inner()
            .user
            .unwrap()
            .id;
        let token = admin
            .issue_token(IssueTokenRequest {
                principal_id: user.clone(),
                name: "e2e".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .token;
        let mut key = String::new();
        if own_key {
            key = admin
                .create_credential(CreateCredentialRequest {
                    owner_id: user.clone(),
                    provider: "openai".into(),
                    secret: format!("{USER_OPENAI_PREFIX}{name}-0123456789"),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .credential
                .unwrap()
                .id;
        }
        (user, token, key)
    }

    /// The platform's managed Anthropic key, added through replica A.
    pub async fn managed_key(&self) {
        self.vault(0, "admin")
            .create_credential(CreateCredentialRequest {
                owner_id: "platform".into(),
                provider: "anthropic".into(),
                secret: PLATFORM_ANTHROPIC_KEY.into(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
}

fn tls_env(dir: &Path, identity: &str) -> Vec<(&'static str, String)> {
    let certs = certs(dir);
    let file = |name: String| certs.join(name).to_str().unwrap().to_owned();
    vec![
        ("KEYROUTE_TLS_CERT", file(format!("{identity}.crt"))),
        ("KEYROUTE_TLS_KEY", file(format!("{identity}.key"))),
        ("KEYROUTE_TLS_CA", file("ca.crt".to_owned())),
    ]
}

/// A vault replica on `database`, listening on `listen`.
async fn start_vault(dir: &Path, database: &TestDatabase, listen: &str) -> Process {
    let tls = tls_env(dir, "vault");
    let env = [
        tls.as_slice(),
        &[
            ("KEYROUTE_VAULT_LISTEN", listen.to_owned()),
            ("KEYROUTE_METRICS_LISTEN", "off".to_owned()),
            ("KEYROUTE_VAULT_DB", database.url()),
            ("KEYROUTE_VAULT_DB_PASSWORD", database.password().to_owned()),
            (
                "KEYROUTE_KEK_FILE",
                dir.join("kek.json").to_str().unwrap().to_owned(),
            ),
        ],
    ]
    .concat();
    Process::start("keyroute-vault", &env, "vault serving").await
}
