//! `keyroute-vault`: parse and check the configuration, then serve until SIGTERM.

use std::process::ExitCode;

use clap::Parser;
use keyroute_telemetry::startup::termination;
use keyroute_vault::config::{VaultArgs, one_line};
use keyroute_vault::server::{PreparedVault, StartError, VaultSettings};

/// `EX_USAGE` from sysexits.h: the configuration is wrong.
const EXIT_CONFIG: u8 = 64;

fn main() -> ExitCode {
    let args = match VaultArgs::try_parse() {
        Ok(args) => args,
        Err(error)
            if matches!(
                error.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            ) =>
        {
            let _ = error.print();
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!(
                "keyroute-vault: invalid configuration: {}",
                one_line(&error)
            );
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if let Err(message) = args.check() {
        eprintln!("keyroute-vault: invalid configuration: {message}");
        return ExitCode::from(EXIT_CONFIG);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("keyroute-vault: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(args))
}

async fn run(args: VaultArgs) -> ExitCode {
    let _telemetry = match keyroute_telemetry::init("keyroute-vault", args.log_format) {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("keyroute-vault: invalid configuration: {error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let health_listen =
        match keyroute_telemetry::startup::optional_addr("health-listen", &args.health_listen) {
            Ok(addr) => addr,
            Err(message) => {
                eprintln!("keyroute-vault: invalid configuration: {message}");
                return ExitCode::from(EXIT_CONFIG);
            }
        };
    let metrics_listen =
        match keyroute_telemetry::startup::optional_addr("metrics-listen", &args.metrics_listen) {
            Ok(addr) => addr,
            Err(message) => {
                eprintln!("keyroute-vault: invalid configuration: {message}");
                return ExitCode::from(EXIT_CONFIG);
            }
        };
    let settings = VaultSettings {
        listen: args.listen,
        db: args.db.clone(),
        kek_file: args.kek_file.clone(),
        tls: args.tls_paths(),
        lease_ttl: args.lease_ttl,
        tls_reload_interval: args.tls_reload_interval,
        shutdown_grace: args.shutdown_grace,
        health_listen,
        metrics_listen,
    };
    let result = match PreparedVault::prepare(settings).await {
        Ok(vault) => vault.serve(termination()).await,
        Err(error) => Err(error),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(StartError::Config(message)) => {
            eprintln!("keyroute-vault: invalid configuration: {message}");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(StartError::Runtime(message)) => {
            eprintln!("keyroute-vault: {message}");
            ExitCode::FAILURE
        }
    }
}
