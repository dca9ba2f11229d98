//! `keyroute-router`: parse and check the configuration, then serve until SIGTERM.

use std::process::ExitCode;

use keyroute_router::config::RouterArgs;
use keyroute_router::server::{PreparedRouter, RouterSettings, StartError};
use keyroute_router::upstream::Timeouts;
use keyroute_telemetry::startup::{Startup, termination};

const STARTUP: Startup = Startup::new("keyroute-router");

fn config_error(message: &str) -> ExitCode {
    STARTUP.config_error(message)
}

/// The allocator: glibc's malloc takes an arena lock that the request threads contend for
/// (a tenth of the CPU under load in `bench/run`'s profile); mimalloc keeps per-thread heaps.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args: RouterArgs = match STARTUP.args() {
        Ok(args) => args,
        Err(exit) => return exit,
    };
    let base_urls = match args.base_url_overrides() {
        Ok(overrides) => overrides,
        Err(message) => return config_error(&message),
    };
    let egress = match args.egress_policy() {
        Ok(policy) => policy,
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
    let rate_limits = match args.rate_limit_settings() {
        Ok(settings) => settings,
        Err(message) => return config_error(&message),
    };
    let runtime = match STARTUP.runtime() {
        Ok(runtime) => runtime,
        Err(exit) => return exit,
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
            egress,
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
            connection_threads: args.connection_threads,
            metrics_listen,
            health_listen,
            rate_limits,
        };
        let result = match PreparedRouter::prepare(settings).await {
            Ok(router) => router.serve(termination()).await,
            Err(error) => Err(error),
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(StartError::Config(message)) => config_error(&message),
            Err(StartError::Runtime(message)) => STARTUP.failure(&message),
        }
    })
}
