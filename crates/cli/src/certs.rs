//! `keyroute certs dev`: a development CA and one certificate per service identity.

use std::path::PathBuf;

use keyroute_tls::dev_pki::{DEV_IDENTITIES, DevCa};

use crate::CliError;

#[derive(Debug, clap::Args)]
pub struct CertsArgs {
    #[command(subcommand)]
    command: CertsCommand,
}

#[derive(Debug, clap::Subcommand)]
enum CertsCommand {
    /// Writes DIR/ca.crt and DIR/<name>.crt and DIR/<name>.key for vault, router, edge and
    /// admin, each with its spiffe://keyroute/<name> URI SAN. For development only.
    Dev {
        /// Directory to write into (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Also issue certificates for these extra identities (e.g. platform/billing).
        #[arg(long = "identity", value_name = "NAME")]
        extra: Vec<String>,
        /// Overwrite an existing CA in DIR.
        #[arg(long)]
        force: bool,
    },
}

pub fn run(args: CertsArgs) -> Result<(), CliError> {
    let CertsCommand::Dev { out, extra, force } = args.command;
    if out.join("ca.crt").exists() && !force {
        return Err(CliError::Usage(format!(
            "{} already holds a CA; pass --force to replace it",
            out.display()
        )));
    }
    for name in &extra {
        keyroute_tls::Identity::parse(name).map_err(|error| CliError::Usage(error.to_string()))?;
    }
    let ca = DevCa::new("keyroute dev ca").map_err(|error| CliError::Io(error.to_string()))?;
    let mut names: Vec<&str> = DEV_IDENTITIES.to_vec();
    names.extend(extra.iter().map(String::as_str));
    ca.write_dir(&out, &names)
        .map_err(|error| CliError::Io(error.to_string()))?;
    for name in names {
        println!(
            "{}\t{}/{}.crt",
            keyroute_tls::Identity::parse(name)
                .map(|id| id.to_string())
                .unwrap_or_default(),
            out.display(),
            name.replace('/', "-")
        );
    }
    Ok(())
}
