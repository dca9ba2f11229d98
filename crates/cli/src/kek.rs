//! `keyroute kek`: create and maintain the vault's KEK keyring file. Keys never leave the
//! file: these commands print versions only.

use std::path::{Path, PathBuf};

use keyroute_vault::crypto::Keyring;

use crate::CliError;

#[derive(Debug, clap::Args)]
pub struct KekArgs {
    #[command(subcommand)]
    command: KekCommand,
}

#[derive(Debug, clap::Subcommand)]
enum KekCommand {
    /// Writes a new keyring with one random 256-bit key (version 1), mode 0600.
    Generate {
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing file (its keys are lost: only for a vault with no data).
        #[arg(long)]
        force: bool,
    },
    /// Adds a new random key as the next version and makes it active. Then run
    /// `keyroute admin kek rotate` so the vault rewraps every data key under it.
    Add {
        #[arg(long)]
        keyring: PathBuf,
    },
    /// Removes an inactive version, once rotation reports it is no longer in use.
    Retire {
        #[arg(long)]
        keyring: PathBuf,
        #[arg(long)]
        version: u32,
    },
    /// Shows the versions in a keyring and which is active.
    Show {
        #[arg(long)]
        keyring: PathBuf,
    },
}

fn load(path: &Path) -> Result<Keyring, CliError> {
    Keyring::load(path).map_err(|error| CliError::Io(error.to_string()))
}

fn save(keyring: &Keyring, path: &Path) -> Result<(), CliError> {
    keyring
        .save(path)
        .map_err(|error| CliError::Io(error.to_string()))
}

pub fn run(args: KekArgs) -> Result<(), CliError> {
    match args.command {
        KekCommand::Generate { out, force } => {
            if out.exists() && !force {
                return Err(CliError::Usage(format!(
                    "{} exists; pass --force to replace it",
                    out.display()
                )));
            }
            save(&Keyring::generate(), &out)?;
            println!("wrote {} (version 1 active)", out.display());
        }
        KekCommand::Add { keyring: path } => {
            let mut keyring = load(&path)?;
            let version = keyring.add_version();
            save(&keyring, &path)?;
            println!("added version {version} (active); now run `keyroute admin kek rotate`");
        }
        KekCommand::Retire {
            keyring: path,
            version,
        } => {
            let mut keyring = load(&path)?;
            keyring
                .retire(version)
                .map_err(|error| CliError::Usage(error.to_string()))?;
            save(&keyring, &path)?;
            println!("retired version {version}");
        }
        KekCommand::Show { keyring: path } => {
            let keyring = load(&path)?;
            let active = keyring.active().version();
            println!("VERSION  ACTIVE");
            for version in keyring.versions() {
                println!(
                    "{version:<8} {}",
                    if version == active { "yes" } else { "" }
                );
            }
        }
    }
    Ok(())
}
