//! `keyroute certs`: a development CA with one certificate per service identity (`dev`), and
//! more client certificates from that CA later (`issue`), for internal platforms that call
//! the router's typed gRPC API.

use std::path::{Path, PathBuf};

use keyroute_tls::Identity;
use keyroute_tls::dev_pki::{DEV_IDENTITIES, DevCa, DevPkiError, file_stem, write, write_pair};

use crate::CliError;

#[derive(Debug, clap::Args)]
pub struct CertsArgs {
    #[command(subcommand)]
    command: CertsCommand,
}

#[derive(Debug, clap::Subcommand)]
enum CertsCommand {
    /// Writes DIR/ca.crt, DIR/ca.key (the CA's key, mode 0600, for `certs issue`) and
    /// DIR/<name>.crt and DIR/<name>.key for vault, router, edge and admin, each with its
    /// spiffe://keyroute/<name> URI SAN. For development only.
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
    /// Issues a client certificate for an internal platform (platform/<name>) or an
    /// administrator (admin) from the CA in --ca-dir (ca.crt and ca.key, as `certs dev` and
    /// `keyroute dev` leave them): writes OUT/<platform-name>.crt and .key (mode 0600), and
    /// OUT/ca.crt when OUT is another directory. Vault, router and edge certificates are not
    /// issued here: they are servers, made with their CA by `certs dev`.
    Issue {
        /// The CA's directory: `keyroute dev`'s is KEYROUTE_CERTS_DIR in its dev.env.
        #[arg(long, value_name = "DIR")]
        ca_dir: PathBuf,
        /// platform/<name> (a caller of the router's gRPC API) or admin (of the vault),
        /// bare or as spiffe://keyroute/...
        #[arg(long, value_name = "NAME")]
        identity: String,
        /// Directory to write into (created if missing); the CA's directory by default.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Replace an existing certificate and key for this identity.
        #[arg(long)]
        force: bool,
    },
}

pub fn run(args: CertsArgs) -> Result<(), CliError> {
    match args.command {
        CertsCommand::Dev { out, extra, force } => dev(&out, &extra, force),
        CertsCommand::Issue {
            ca_dir,
            identity,
            out,
            force,
        } => {
            let out = out.unwrap_or_else(|| ca_dir.clone());
            issue(&ca_dir, &identity, &out, force)
        }
    }
}

fn dev(out: &Path, extra: &[String], force: bool) -> Result<(), CliError> {
    if out.join("ca.crt").exists() && !force {
        return Err(CliError::Usage(format!(
            "{} already holds a CA; pass --force to replace it, or issue more certificates \
             from it with `keyroute certs issue --ca-dir {}`",
            out.display(),
            out.display()
        )));
    }
    for name in extra {
        Identity::parse(name).map_err(|error| CliError::Usage(error.to_string()))?;
    }
    let ca = DevCa::new("keyroute dev ca").map_err(|error| CliError::Io(error.to_string()))?;
    let mut names: Vec<&str> = DEV_IDENTITIES.to_vec();
    names.extend(extra.iter().map(String::as_str));
    ca.write_dir(out, &names)
        .map_err(|error| CliError::Io(error.to_string()))?;
    for name in names {
        println!(
            "{}\t{}/{}.crt",
            Identity::parse(name)
                .map(|id| id.to_string())
                .unwrap_or_default(),
            out.display(),
            file_stem(name)
        );
    }
    Ok(())
}

/// Which identities `certs issue` gives out: clients only. A platform calls the router; an
/// extra admin certificate is handy in development. Server identities (vault, router, edge)
/// would let their holder impersonate a keyroute service, and `certs dev` already made them.
fn issuable(value: &str) -> Result<Identity, CliError> {
    let identity = Identity::parse(value).map_err(|error| {
        CliError::Usage(format!(
            "--identity: {error}; expected platform/<name> (lowercase letters, digits, -_.)"
        ))
    })?;
    let name = identity.name();
    if name == "admin" || name.starts_with("platform/") {
        return Ok(identity);
    }
    Err(CliError::Usage(format!(
        "--identity {value:?}: only platform/<name> (callers of the router) and admin are \
         issued; vault, router and edge certificates come with their CA from `keyroute certs dev`"
    )))
}

/// The CA in `dir`, or a one-line reason it cannot issue (each a usage error: the directory
/// given is not a CA that keyroute can issue from).
fn load_ca(dir: &Path) -> Result<DevCa, CliError> {
    if !dir.is_dir() {
        return Err(CliError::Usage(format!(
            "--ca-dir {}: no such directory",
            dir.display()
        )));
    }
    if !dir.join("ca.crt").exists() {
        return Err(CliError::Usage(format!(
            "--ca-dir {}: no ca.crt there; make a CA with `keyroute certs dev --out {}` \
             (or run `keyroute dev`)",
            dir.display(),
            dir.display()
        )));
    }
    if !dir.join("ca.key").exists() {
        return Err(CliError::Usage(format!(
            "--ca-dir {}: no ca.key (the CA's private key) there, so nothing can be issued from \
             it; a CA made before keyroute kept its key still serves as it is. To issue, make a \
             new CA: `keyroute certs dev --out {} --force`, or for `keyroute dev` stop it, \
             remove that folder and start it again",
            dir.display(),
            dir.display()
        )));
    }
    DevCa::load(dir).map_err(|error| match &error {
        DevPkiError::Pem { .. } => CliError::Usage(error.to_string()),
        DevPkiError::Read { path, source } if source.kind() == std::io::ErrorKind::InvalidData => {
            CliError::Usage(format!("{} is not a PEM file", path.display()))
        }
        _ => CliError::Io(error.to_string()),
    })
}

fn issue(ca_dir: &Path, value: &str, out: &Path, force: bool) -> Result<(), CliError> {
    let identity = issuable(value)?;
    let ca = load_ca(ca_dir)?;
    let stem = file_stem(identity.name());
    let cert = out.join(format!("{stem}.crt"));
    let key = out.join(format!("{stem}.key"));
    if !force && let Some(existing) = [&cert, &key].into_iter().find(|path| path.exists()) {
        return Err(CliError::Usage(format!(
            "{} exists; pass --force to replace it",
            existing.display()
        )));
    }
    // Another directory gets the CA certificate too, so that it holds all a client needs;
    // never over another CA's.
    let ca_copy = out.join("ca.crt");
    let copy_ca = match std::fs::read_to_string(&ca_copy) {
        Ok(text) if text == ca.cert_pem() => false,
        Ok(_) => {
            return Err(CliError::Usage(format!(
                "{} is another CA's certificate; choose another --out",
                ca_copy.display()
            )));
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => true,
        Err(error) => {
            return Err(CliError::Io(format!(
                "cannot read {}: {error}",
                ca_copy.display()
            )));
        }
    };
    let issued = ca
        .issue_client(identity.name())
        .map_err(|error| CliError::Io(error.to_string()))?;
    if copy_ca {
        std::fs::create_dir_all(out)
            .map_err(|error| CliError::Io(format!("cannot create {}: {error}", out.display())))?;
        write(&ca_copy, ca.cert_pem().as_bytes(), 0o644)
            .map_err(|error| CliError::Io(error.to_string()))?;
    }
    if let Err(error) = write_pair(out, &stem, &issued) {
        if copy_ca {
            let _ = std::fs::remove_file(&ca_copy);
        }
        return Err(CliError::Io(error.to_string()));
    }
    println!(
        "{identity}\ncertificate\t{}\nkey\t{}\nca\t{}",
        cert.display(),
        key.display(),
        ca_copy.display()
    );
    Ok(())
}
