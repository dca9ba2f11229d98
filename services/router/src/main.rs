//! `keyroute-router`: parse and check the configuration, then serve until SIGTERM.

use std::process::ExitCode;

use clap::Parser;
use keyroute_router::config::RouterArgs;
use keyroute_router::server::{PreparedRouter, RouterSettings, StartError};
use keyroute_router::upstream::Timeouts;
use keyroute_telemetry::startup::one_line;
use keyroute_telemetry::startup::termination;

/// `EX_USAGE` from sysexits.h: the configuration is wrong.
const EXIT_CONFIG: u8 = 64;

fn config_error(message: &str) -> ExitCode {
    eprintln!("keyroute-router: invalid configuration: {message}");
    ExitCode::from(EXIT_CONFIG)
}

fn main() -> ExitCode {
    let args = match RouterArgs::try_parse() {
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
        Err(error) => return config_error(&one_line(&error)),
    };
    let base_urls = match args.base_url_overrides() {
        Ok(overrides) => overrides,
        Err(message) => return config_error(&message),
    };
    let metrics_listen = match args.metrics_addr() {
        Ok(addr) => addr,
        Err(message) => return config_error(&message),
    };
    let health_listen = match args.health_addr() {
        Ok(addr) => addr,
        Err(message) => return config_error(&message),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("keyroute-router: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let _telemetry = match keyroute_telemetry::init("keyroute-router", args.log_format) {
            Ok(guard) => guard,
            Err(error) => return config_error(&error.to_string()),
        };
        let settings = RouterSettings {
            listen: args.listen,
            vault: args.vault.clone(),
            tls: args.tls_paths(),
            base_urls,
            catalog: args.catalog.clone(),
            token_cache_ttl: args.token_cache_ttl,
            timeouts: Timeouts {
                connect: args.connect_timeout,
                first_byte: args.first_byte_timeout,
                between_chunks: args.chunk_timeout,
                total: args.total_timeout,
            },
            tls_reload_interval: args.tls_reload_interval,
            shutdown_grace: args.shutdown_grace,
            metrics_listen,
            health_listen,
        };
        let result = match PreparedRouter::prepare(settings).await {
            Ok(router) => router.serve(termination()).await,
            Err(error) => Err(error),
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(StartError::Config(message)) => config_error(&message),
            Err(StartError::Runtime(message)) => {
                eprintln!("keyroute-router: {message}");
                ExitCode::FAILURE
            }
        }
    })
}
