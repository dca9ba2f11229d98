//! `keyroute admin`: the vault's management API from the command line, authenticated with
//! the admin certificate.

mod billing;
mod commands;
mod identities;
mod keys;
mod limits;
mod render;

use std::path::PathBuf;

use keyroute_proto::vault::v1::vault_service_client::VaultServiceClient;
use keyroute_tls::{ClientTls, Identity, TlsPaths};
use tonic::transport::Channel;

use crate::CliError;
use crate::output::Format;

pub use commands::Resource;

#[derive(Debug, clap::Args)]
pub struct AdminArgs {
    /// The vault's gRPC address.
    #[arg(
        long,
        env = "KEYROUTE_VAULT_ADDR",
        default_value = "127.0.0.1:7443",
        global = true
    )]
    vault: String,
    /// A directory from `keyroute certs dev`: uses its admin.crt, admin.key and ca.crt.
    #[arg(long, env = "KEYROUTE_CERTS_DIR", global = true)]
    certs_dir: Option<PathBuf>,
    /// The admin certificate (instead of --certs-dir).
    #[arg(long, env = "KEYROUTE_TLS_CERT", global = true, requires_all = ["tls_key", "tls_ca"])]
    tls_cert: Option<PathBuf>,
    /// The admin private key.
    #[arg(long, env = "KEYROUTE_TLS_KEY", global = true)]
    tls_key: Option<PathBuf>,
    /// The CA that signed the vault's certificate.
    #[arg(long, env = "KEYROUTE_TLS_CA", global = true)]
    tls_ca: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Table, global = true)]
    output: Format,
    #[command(subcommand)]
    resource: Resource,
}

impl AdminArgs {
    fn tls_paths(&self) -> Result<TlsPaths, CliError> {
        match (&self.tls_cert, &self.tls_key, &self.tls_ca, &self.certs_dir) {
            (Some(cert), Some(key), Some(ca), _) => Ok(TlsPaths { cert: cert.clone(), key: key.clone(), ca: ca.clone() }),
            (None, _, _, Some(dir)) => Ok(TlsPaths::in_dir(dir, "admin")),
            _ => Err(CliError::Usage("pass --certs-dir, or --tls-cert, --tls-key and --tls-ca, for the admin certificate".into())),
        }
    }
}

/// A connected admin client and where it points, for error messages.
pub(crate) struct Admin {
    client: VaultServiceClient<Channel>,
    address: String,
    format: Format,
}

impl Admin {
    fn status(&self, status: tonic::Status) -> CliError {
        CliError::from_status(status, &self.address)
    }
}

pub async fn run(args: AdminArgs) -> Result<(), CliError> {
    let paths = args.tls_paths()?;
    let tls = ClientTls::from_files(paths)
        .map_err(|error| CliError::Usage(format!("admin certificate: {error}")))?;
    let vault = Identity::parse("vault").map_err(|error| CliError::Usage(error.to_string()))?;
    let channel = keyroute_tls::channel(&args.vault, tls, vault)
        .map_err(|error| CliError::Usage(error.to_string()))?;
    let mut admin = Admin {
        client: VaultServiceClient::new(channel),
        address: args.vault.clone(),
        format: args.output,
    };
    commands::run(&mut admin, args.resource).await
}
