//! The `keyroute` command line, kubectl-style: nouns and verbs, `--help` everywhere, tables
//! by default and `-o json` for scripts.

mod admin;
mod certs;
mod dev;
mod error;
mod kek;
mod output;

pub use error::CliError;

use clap::{Parser, Subcommand};

/// keyroute: a bring-your-own-key LLM gateway.
#[derive(Debug, Parser)]
#[command(name = "keyroute", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs vault, router and edge in one process on loopback (mTLS inside), with state in a
    /// directory: a working gateway with one command.
    Dev(dev::DevArgs),
    /// Development certificates.
    Certs(certs::CertsArgs),
    /// Key-encryption key (KEK) keyring files.
    Kek(kek::KekArgs),
    /// Administer a running vault with the admin certificate.
    Admin(admin::AdminArgs),
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| CliError::Io(format!("cannot start the runtime: {error}")))
}

/// Parses the arguments, runs the command, and turns the outcome into an exit code.
pub fn main() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return std::process::ExitCode::from(if error.use_stderr() { 64 } else { 0 });
        }
    };
    let result = match cli.command {
        Command::Certs(args) => certs::run(args),
        Command::Kek(args) => kek::run(args),
        Command::Admin(args) => runtime().and_then(|runtime| runtime.block_on(admin::run(args))),
        Command::Dev(args) => runtime().and_then(|runtime| runtime.block_on(dev::run(args))),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::ExitCode::from(error.exit_code())
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
