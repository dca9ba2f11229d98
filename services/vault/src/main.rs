//! `keyroute-vault`: parse and check the configuration, then serve until SIGTERM.

use std::process::ExitCode;

use keyroute_telemetry::startup::{Startup, optional_addr, termination};
use keyroute_vault::config::VaultArgs;
use keyroute_vault::server::{PreparedVault, StartError, VaultSettings};

const STARTUP: Startup = Startup::new("keyroute-vault");

/// The allocator: glibc's malloc takes an arena lock that the request threads contend for
/// (a tenth of the CPU under load in `bench/run`'s profile); mimalloc keeps per-thread heaps.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args: VaultArgs = match STARTUP.args() {
        Ok(args) => args,
        Err(exit) => return exit,
    };
    if let Err(message) = args.check() {
        return STARTUP.config_error(&message);
    }
    let listeners = optional_addr("health-listen", &args.health_listen).and_then(|health| {
        Ok((
            health,
            optional_addr("metrics-listen", &args.metrics_listen)?,
        ))
    });
    let (health_listen, metrics_listen) = match listeners {
        Ok(addrs) => addrs,
        Err(message) => return STARTUP.config_error(&message),
    };
    let runtime = match STARTUP.runtime() {
        Ok(runtime) => runtime,
        Err(exit) => return exit,
    };
    runtime.block_on(async move {
        let _telemetry = match keyroute_telemetry::init("keyroute-vault", args.log_format) {
            Ok(guard) => guard,
            Err(error) => return STARTUP.config_error(&error.to_string()),
        };
        let egress = match args.egress_policy() {
            Ok(policy) => policy,
            Err(message) => return STARTUP.config_error(&message),
        };
        let database = match args.database() {
            Ok(database) => database,
            Err(message) => return STARTUP.config_error(&message),
        };
        let settings = VaultSettings {
            listen: args.listen,
            egress,
            db: database,
            kek_file: args.kek_file.clone(),
            tls: args.tls_paths(),
            lease_ttl: args.lease_ttl,
            tls_reload_interval: args.tls_reload_interval,
            shutdown_grace: args.shutdown_grace,
            health_listen,
            metrics_listen,
        };
        let retention = match keyroute_vault::retention::check_retention(args.usage_retention) {
            Ok(retention) => retention,
            Err(message) => return STARTUP.config_error(&message),
        };
        let result = match PreparedVault::prepare(settings).await {
            Ok(vault) => {
                vault
                    .with_usage_retention(retention)
                    .serve(termination())
                    .await
            }
            Err(error) => Err(error),
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(StartError::Config(message)) => STARTUP.config_error(&message),
            Err(StartError::Runtime(message)) => STARTUP.failure(&message),
        }
    })
}
