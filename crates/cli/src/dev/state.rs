//! The `keyroute dev` state directory: made on the first run (dev CA and certificates, KEK
//! keyring, SQLite database, a dev user, their org and a gateway token), reused afterwards.
//! Everything secret in it is mode 0600 and the directory 0700.

use std::path::{Path, PathBuf};

use keyroute_proto::vault::v1::vault_service_client::VaultServiceClient;
use keyroute_proto::vault::v1::{
    AuthenticateRequest, CreateOrgRequest, CreateUserRequest, IssueTokenRequest,
};
use keyroute_tls::TlsPaths;
use keyroute_tls::dev_pki::{DEV_IDENTITIES, DevCa};
use keyroute_vault::crypto::Keyring;
use serde_json::json;
use tonic::transport::Channel;

use crate::CliError;

/// Paths inside the state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

/// The dev principal and their token.
#[derive(Debug, Clone)]
pub struct DevIdentity {
    pub user_id: String,
    pub org_id: String,
    pub token: String,
}

fn io(what: &str, path: &Path, error: impl std::fmt::Display) -> CliError {
    CliError::Io(format!("{what} {}: {error}", path.display()))
}

impl StateDir {
    /// Opens (creating, mode 0700) the state directory and fills in what a first run needs:
    /// certificates and the KEK keyring.
    pub fn prepare(root: &Path) -> Result<Self, CliError> {
        std::fs::create_dir_all(root).map_err(|e| io("cannot create", root, e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| io("cannot restrict", root, e))?;
        }
        let state = Self {
            root: root.to_path_buf(),
        };
        let pki = state.pki_dir();
        if !pki.join("ca.crt").exists() {
            let ca = DevCa::new("keyroute dev ca").map_err(|e| CliError::Io(e.to_string()))?;
            ca.write_dir(&pki, &DEV_IDENTITIES)
                .map_err(|e| CliError::Io(e.to_string()))?;
        }
        let kek = state.kek_file();
        if !kek.exists() {
            Keyring::generate()
                .save(&kek)
                .map_err(|e| io("cannot write", &kek, e))?;
        }
        Ok(state)
    }

    pub fn pki_dir(&self) -> PathBuf {
        self.root.join("pki")
    }

    pub fn tls(&self, name: &str) -> TlsPaths {
        TlsPaths::in_dir(&self.pki_dir(), name)
    }

    pub fn kek_file(&self) -> PathBuf {
        self.root.join("kek.json")
    }

    pub fn database(&self) -> PathBuf {
        self.root.join("vault.sqlite")
    }

    fn identity_file(&self) -> PathBuf {
        self.root.join("identity.json")
    }

    pub fn env_file(&self) -> PathBuf {
        self.root.join("dev.env")
    }

    /// Whether `--mock` has seeded this state directory's managed keys and credits already.
    pub fn seeded_marker(&self) -> PathBuf {
        self.root.join("mock-seeded")
    }

    /// The dev user, org and token: read back when the token still authenticates, made
    /// (through the admin API) otherwise.
    pub async fn identity(
        &self,
        admin: &mut VaultServiceClient<Channel>,
    ) -> Result<DevIdentity, CliError> {
        if let Some(identity) = self.saved_identity()
            && admin
                .authenticate(AuthenticateRequest {
                    token: identity.token.clone(),
                })
                .await
                .is_ok()
        {
            return Ok(identity);
        }
        let vault = |e: tonic::Status| CliError::Vault {
            code: format!("{:?}", e.code()),
            message: format!("dev setup: {}", e.message()),
        };
        let empty = |what: &str| CliError::Io(format!("dev setup: the vault sent no {what}"));
        let user = admin
            .create_user(CreateUserRequest {
                name: "dev".into(),
                email: "dev@localhost".into(),
            })
            .await
            .map_err(vault)?
            .into_inner()
            .user
            .ok_or_else(|| empty("user"))?;
        let org = admin
            .create_org(CreateOrgRequest {
                name: "dev-org".into(),
                owner_user_id: user.id.clone(),
            })
            .await
            .map_err(vault)?
            .into_inner()
            .org
            .ok_or_else(|| empty("org"))?;
        let token = admin
            .issue_token(IssueTokenRequest {
                principal_id: user.id.clone(),
                name: "keyroute dev".into(),
                ..Default::default()
            })
            .await
            .map_err(vault)?
            .into_inner()
            .token;
        let identity = DevIdentity {
            user_id: user.id,
            org_id: org.id,
            token,
        };
        let text = json!({
            "user_id": identity.user_id, "org_id": identity.org_id, "token": identity.token,
        })
        .to_string();
        write_private(&self.identity_file(), text.as_bytes())?;
        Ok(identity)
    }

    fn saved_identity(&self) -> Option<DevIdentity> {
        let text = std::fs::read_to_string(self.identity_file()).ok()?;
        let value: serde_json::Value = serde_json::from_str(&text).ok()?;
        let field = |key: &str| value.get(key)?.as_str().map(str::to_owned);
        Some(DevIdentity {
            user_id: field("user_id")?,
            org_id: field("org_id")?,
            token: field("token")?,
        })
    }
}

/// Writes `contents` to `path` with mode 0600, replacing it whole (write, then rename).
pub fn write_private(path: &Path, contents: &[u8]) -> Result<(), CliError> {
    keyroute_tls::dev_pki::write(path, contents, 0o600).map_err(|e| io("cannot write", path, e))
}
