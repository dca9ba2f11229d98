//! `keyroute-edge`: parse the flags, then serve HTTP until SIGTERM, letting streams finish.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use keyroute_edge::auth_failures::AuthLimit;
use keyroute_edge::limits::HttpLimits;
use keyroute_edge::state::{Edge, EdgeSettings, SessionSettings};
use keyroute_proto::contract::size;
use keyroute_telemetry::LogFormat;
use keyroute_telemetry::startup::{Startup, parse_duration};
use keyroute_tls::{ClientTls, TlsPaths};

const STARTUP: Startup = Startup::new("keyroute-edge");

/// `keyroute-edge`: OpenAI- and Anthropic-compatible HTTP, and key management, in front of
/// the routers and the vault.
#[derive(Debug, clap::Parser)]
#[command(name = "keyroute-edge", version)]
struct EdgeArgs {
    /// Address to serve HTTP on.
    #[arg(long, env = "KEYROUTE_EDGE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Router gRPC addresses (`host:port`, comma-separated); a name that resolves to several
    /// addresses (a headless Service) is balanced across all of them.
    #[arg(
        long,
        env = "KEYROUTE_ROUTER_ADDR",
        default_value = "127.0.0.1:7444",
        value_delimiter = ','
    )]
    router: Vec<String>,
    /// How often router names are resolved again, to follow routers scaling in and out.
    #[arg(long, env = "KEYROUTE_ROUTER_REFRESH", default_value = "5s", value_parser = parse_duration)]
    router_refresh: Duration,
    /// The vault's gRPC address, for the management API and readiness.
    #[arg(long, env = "KEYROUTE_VAULT_ADDR", default_value = "127.0.0.1:7443")]
    vault: String,
    /// This service's certificate chain (PEM), with a spiffe://keyroute/edge URI SAN.
    #[arg(long, env = "KEYROUTE_TLS_CERT")]
    tls_cert: PathBuf,
    /// This service's private key (PEM).
    #[arg(long, env = "KEYROUTE_TLS_KEY")]
    tls_key: PathBuf,
    /// The CA that signs every keyroute certificate (PEM).
    #[arg(long, env = "KEYROUTE_TLS_CA")]
    tls_ca: PathBuf,
    /// The largest request body accepted, in bytes (at most 64 MiB, what routers accept).
    #[arg(long, env = "KEYROUTE_BODY_LIMIT", default_value_t = size::DEFAULT_BODY_LIMIT)]
    body_limit: usize,
    /// The longest a model call may take, streams included.
    #[arg(long, env = "KEYROUTE_REQUEST_TIMEOUT", default_value = "10m", value_parser = parse_duration)]
    request_timeout: Duration,
    /// How long a client may take to send a request's headers: a connection's first request
    /// within this long of connecting, and on HTTP/1 each next one within this long of the
    /// previous answer. A slower client is disconnected.
    #[arg(long, env = "KEYROUTE_HEADER_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    header_timeout: Duration,
    /// How long a client may take to send a whole request body after its headers; a slower
    /// one is answered 408 and disconnected.
    #[arg(long, env = "KEYROUTE_BODY_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    body_timeout: Duration,
    /// A connection with no request started or in flight for this long is closed gracefully
    /// (HTTP/2: GOAWAY), and dropped if still open one such period later.
    #[arg(long, env = "KEYROUTE_IDLE_TIMEOUT", default_value = "120s", value_parser = parse_duration)]
    idle_timeout: Duration,
    /// The largest request head (request line and headers), in bytes; 431 above it.
    #[arg(long, env = "KEYROUTE_MAX_HEADER_BYTES", default_value_t = 64 * 1024)]
    max_header_bytes: usize,
    /// The most concurrent streams on one HTTP/2 connection.
    #[arg(long, env = "KEYROUTE_HTTP2_MAX_STREAMS", default_value_t = 256)]
    http2_max_streams: u32,
    /// Failed gateway token checks allowed per client address per minute; past it the
    /// address is answered 429 (tokens verified lately still pass). 0 turns it off.
    #[arg(long, env = "KEYROUTE_AUTH_FAILURE_LIMIT", default_value_t = 20)]
    auth_failure_limit: u32,
    /// How many threads serve connections, each with its own router channels; one per
    /// core the process may use unless given.
    #[arg(long, env = "KEYROUTE_CONNECTION_THREADS")]
    connection_threads: Option<std::num::NonZeroUsize>,
    /// How often the TLS files are checked for a renewed certificate.
    #[arg(long, env = "KEYROUTE_TLS_RELOAD_INTERVAL", default_value = "10s", value_parser = parse_duration)]
    tls_reload_interval: Duration,
    /// How long a console session lasts (the cookie and the vault's session token).
    #[arg(long, env = "KEYROUTE_SESSION_TTL", default_value = "12h", value_parser = parse_duration)]
    session_ttl: Duration,
    /// Marks the console's cookies `Secure` on every request, not only those a proxy says
    /// came over TLS (`X-Forwarded-Proto: https`).
    #[arg(long, env = "KEYROUTE_SECURE_COOKIES")]
    secure_cookies: bool,
    /// Log format: human or json.
    #[arg(long, env = "KEYROUTE_LOG_FORMAT", default_value = "human")]
    log_format: LogFormat,
}

fn config_error(message: &str) -> ExitCode {
    STARTUP.config_error(message)
}

/// The allocator: glibc's malloc takes an arena lock that the request threads contend for
/// (a tenth of the CPU under load in `bench/run`'s profile); mimalloc keeps per-thread heaps.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args: EdgeArgs = match STARTUP.args() {
        Ok(args) => args,
        Err(exit) => return exit,
    };
    let runtime = match STARTUP.runtime() {
        Ok(runtime) => runtime,
        Err(exit) => return exit,
    };
    runtime.block_on(async move {
        let _telemetry = match keyroute_telemetry::init("keyroute-edge", args.log_format) {
            Ok(guard) => guard,
            Err(error) => return config_error(&error.to_string()),
        };
        let paths = TlsPaths {
            cert: args.tls_cert,
            key: args.tls_key,
            ca: args.tls_ca,
        };
        let tls = match ClientTls::from_files(paths) {
            Ok(tls) => tls,
            Err(error) => return config_error(&format!("tls: {error}")),
        };
        let _reloader = tls.spawn_reloader(args.tls_reload_interval);
        let settings = EdgeSettings {
            routers: args.router,
            router_refresh: args.router_refresh,
            vault: args.vault,
            body_limit: args.body_limit,
            request_timeout: args.request_timeout,
            limits: HttpLimits {
                header_timeout: args.header_timeout,
                body_timeout: args.body_timeout,
                idle_timeout: args.idle_timeout,
                max_header_bytes: args.max_header_bytes,
                http2_max_streams: args.http2_max_streams,
                connection_threads: args.connection_threads,
                ..HttpLimits::default()
            },
            auth_limit: AuthLimit {
                failures: args.auth_failure_limit,
                ..AuthLimit::default()
            },
            session: SessionSettings {
                ttl: args.session_ttl,
                always_secure: args.secure_cookies,
            },
        };
        let edge = match Edge::connect(&settings, tls).await {
            Ok(edge) => edge,
            Err(error) => return config_error(&error.to_string()),
        };
        let listener = match tokio::net::TcpListener::bind(args.listen).await {
            Ok(listener) => listener,
            Err(error) => {
                return STARTUP.failure(&format!("cannot listen on {}: {error}", args.listen));
            }
        };
        match edge
            .serve(listener, keyroute_telemetry::startup::termination())
            .await
        {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => STARTUP.failure(&error.to_string()),
        }
    })
}
