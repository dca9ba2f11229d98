//! `keyroute dev`: a working gateway with one command. Vault, router and edge run in this
//! process. The router and the vault talk mTLS gRPC over loopback, as in production; the edge
//! calls the router in-process (the router's own `RouterService`, typed, each call authorized
//! as one with the edge's certificate, without TCP, TLS, HTTP/2 or protobuf: under load that
//! hop cost more than the routing), while the router's port still serves platforms' gRPC
//! clients. The state directory keeps the dev CA, KEK, database and token between runs.
//! `--mock` adds the mock providers with a managed key for each of several providers and
//! some credits, so a newcomer without any provider key sees a full round trip.

mod state;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use keyroute_edge::state::{Edge, EdgeSettings};
use keyroute_mock_providers::{Mock, MockServer};
use keyroute_proto::vault::v1::vault_service_client::VaultServiceClient;
use keyroute_proto::vault::v1::{
    CreateCredentialRequest, GrantCreditsRequest, IssueTokenRequest, TokenKind,
};
use keyroute_router::server::{PreparedRouter, RouterSettings};
use keyroute_router::upstream::Timeouts;
use keyroute_tls::{ClientTls, Identity};
use keyroute_vault::server::{PreparedVault, VaultSettings};
use tokio::sync::oneshot;

use crate::CliError;
use state::{DevIdentity, StateDir, write_private};

/// Keys the mock accepts for every provider; what people add in a `--mock` gateway.
const MOCK_KEY_PREFIX: &str = "sk-mock-";
/// Providers that get a managed platform key under `--mock`.
const MOCK_MANAGED: [&str; 4] = ["openai", "anthropic", "google", "mistral"];
/// Credits granted to the dev user the first time `--mock` runs: $10.
const MOCK_CREDITS_MICROS: i64 = 10_000_000;
/// How long the printed console link signs in: once, within this many minutes.
const SIGN_IN_MINUTES: i64 = 15;

#[derive(Debug, clap::Args)]
pub struct DevArgs {
    /// Where the dev CA, KEK, database and token live (made on the first run, then reused).
    #[arg(long, env = "KEYROUTE_STATE_DIR", default_value = ".keyroute")]
    state_dir: PathBuf,
    /// Address the HTTP API listens on; port 0 picks a free port (printed, and written to
    /// dev.env).
    #[arg(long, env = "KEYROUTE_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    http_addr: SocketAddr,
    /// Log format: human or json (one object per line, each request's access line too).
    #[arg(long, env = "KEYROUTE_LOG_FORMAT", default_value = "human")]
    log_format: keyroute_telemetry::LogFormat,
    /// Sends a provider's calls to another base URL (repeatable), e.g.
    /// `--upstream openai=http://127.0.0.1:9000/v1`.
    #[arg(long = "upstream", value_name = "PROVIDER=URL")]
    upstreams: Vec<String>,
    /// Also runs the mock providers, points every provider at them, and seeds managed keys
    /// and $10 of credits, so no provider key is needed.
    #[arg(long)]
    mock: bool,
    /// Serves the router's Prometheus metrics at this address (`/metrics`, as the router's
    /// admin port does in production); off unless given. The edge's are on its HTTP port.
    #[arg(long, env = "KEYROUTE_DEV_ROUTER_METRICS_ADDR")]
    router_metrics_addr: Option<SocketAddr>,
    /// Serves the vault's Prometheus metrics at this address; off unless given.
    #[arg(long, env = "KEYROUTE_DEV_VAULT_METRICS_ADDR")]
    vault_metrics_addr: Option<SocketAddr>,
    /// How many threads serve connections (the HTTP port's, and the router's gRPC port's);
    /// one per core the process may use unless given.
    #[arg(long, env = "KEYROUTE_CONNECTION_THREADS")]
    connection_threads: Option<std::num::NonZeroUsize>,
}

fn upstream_overrides(pairs: &[String]) -> Result<HashMap<String, String>, CliError> {
    pairs
        .iter()
        .map(|pair| {
            let (provider, url) = pair.split_once('=').ok_or_else(|| {
                CliError::Usage(format!("--upstream {pair:?}: expected PROVIDER=URL"))
            })?;
            if keyroute_wire::registry::provider(provider).is_none() {
                return Err(CliError::Usage(format!(
                    "--upstream {pair:?}: unknown provider {provider:?}; expected one of {}",
                    keyroute_wire::registry::provider_ids()
                )));
            }
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(CliError::Usage(format!(
                    "--upstream {pair:?}: the URL must start with http:// or https://"
                )));
            }
            Ok((provider.to_owned(), url.trim_end_matches('/').to_owned()))
        })
        .collect()
}

/// A value for a sourceable `NAME=value` line: as it is when a shell reads it unchanged,
/// single-quoted otherwise.
fn shell_value(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-:+@,".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        return text.to_owned();
    }
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// Where the gateway's parts listen, for dev.env.
struct Addresses<'a> {
    /// The edge's HTTP base URL.
    url: &'a str,
    /// The vault's gRPC `host:port`.
    vault: &'a str,
    /// The router's gRPC `localhost:port`.
    router: &'a str,
}

/// The router's address for platform clients: named `localhost`, which its dev certificate
/// carries, so a stock gRPC client's hostname check passes (an IP address would need an IP
/// SAN match, which some clients do not do).
fn router_address(listening: SocketAddr) -> String {
    if listening.ip().is_loopback() {
        format!("localhost:{}", listening.port())
    } else {
        listening.to_string()
    }
}

/// The lines of dev.env, also printed: sourceable by a shell. `KEYROUTE_VAULT_ADDR` and
/// `KEYROUTE_CERTS_DIR` are what `keyroute admin` reads, so its commands reach this vault
/// with the dev admin certificate; `KEYROUTE_ROUTER_ADDR` and `KEYROUTE_CA_CERT` are what an
/// internal platform's gRPC client needs besides its own certificate, which the last line
/// says how to issue; `KEYROUTE_USER_ID` is the dev user's principal id, the `owner_id` its
/// key management calls name.
fn env_lines(
    at: &Addresses<'_>,
    identity: &DevIdentity,
    console: &str,
    certs: &std::path::Path,
) -> String {
    let Addresses { url, vault, router } = at;
    let DevIdentity { user_id, token, .. } = identity;
    let ca = shell_value(&certs.join("ca.crt").to_string_lossy());
    let certs = shell_value(&certs.to_string_lossy());
    let console = shell_value(console);
    format!(
        "KEYROUTE_URL={url}\nKEYROUTE_TOKEN={token}\nKEYROUTE_USER_ID={user_id}\n\
         KEYROUTE_CONSOLE_URL={console}\n\
         OPENAI_BASE_URL={url}/v1\nOPENAI_API_KEY={token}\n\
         ANTHROPIC_BASE_URL={url}\nANTHROPIC_API_KEY={token}\n\
         KEYROUTE_VAULT_ADDR={vault}\nKEYROUTE_CERTS_DIR={certs}\n\
         KEYROUTE_ROUTER_ADDR={router}\nKEYROUTE_CA_CERT={ca}\n\
         # a platform's gRPC certificate for KEYROUTE_ROUTER_ADDR: keyroute certs issue --ca-dir {certs} --identity platform/<name>\n\
         # curl -s {url}/v1/chat/completions -H \"authorization: Bearer $KEYROUTE_TOKEN\" -H 'content-type: application/json' -d '{{\"model\":\"gpt-4o-mini\",\"messages\":[{{\"role\":\"user\",\"content\":\"hello\"}}]}}'\n"
    )
}

/// The console's one-time sign-in link: the code rides in the fragment, which browsers never
/// send, so it reaches no server log; the page exchanges it for a session and clears it.
async fn console_link(
    admin: &mut VaultServiceClient<tonic::transport::Channel>,
    identity: &DevIdentity,
    url: &str,
) -> Result<String, CliError> {
    let code = admin
        .issue_token(IssueTokenRequest {
            principal_id: identity.user_id.clone(),
            name: "keyroute dev console sign-in".into(),
            expires_in: Some(prost_types::Duration {
                seconds: SIGN_IN_MINUTES * 60,
                nanos: 0,
            }),
            kind: TokenKind::SignIn.into(),
        })
        .await
        .map_err(|e| CliError::Vault {
            code: format!("{:?}", e.code()),
            message: format!("dev setup: {}", e.message()),
        })?
        .into_inner()
        .token;
    Ok(format!("{url}/#code={code}"))
}

/// Seeds managed keys and credits once per state directory.
async fn seed_mock(
    state: &StateDir,
    admin: &mut VaultServiceClient<tonic::transport::Channel>,
    identity: &DevIdentity,
) -> Result<(), CliError> {
    if state.seeded_marker().exists() {
        return Ok(());
    }
    let refused = |e: tonic::Status| CliError::Vault {
        code: format!("{:?}", e.code()),
        message: format!("dev setup: {}", e.message()),
    };
    for provider in MOCK_MANAGED {
        let created = admin
            .create_credential(CreateCredentialRequest {
                owner_id: "platform".into(),
                provider: provider.into(),
                secret: format!("{MOCK_KEY_PREFIX}platform-{provider}-0000"),
                ..Default::default()
            })
            .await;
        match created {
            Ok(_) => {}
            Err(status) if status.code() == tonic::Code::AlreadyExists => {}
            Err(status) => return Err(refused(status)),
        }
    }
    admin
        .grant_credits(GrantCreditsRequest {
            principal_id: identity.user_id.clone(),
            micros: MOCK_CREDITS_MICROS,
            reason: "keyroute dev --mock".into(),
        })
        .await
        .map_err(refused)?;
    write_private(&state.seeded_marker(), b"managed keys and credits seeded\n")
}

/// The error for a part that would not start, for `map_err`.
fn cannot_start<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> CliError {
    move |reason| CliError::Io(format!("cannot start the {what}: {reason}"))
}

/// Runs the gateway until SIGINT or SIGTERM, then stops edge, router and vault in that
/// order, letting running streams finish.
pub async fn run(args: DevArgs) -> Result<(), CliError> {
    let overrides = upstream_overrides(&args.upstreams)?;
    let _telemetry = keyroute_telemetry::init("keyroute-dev", args.log_format)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let state = StateDir::prepare(&args.state_dir)?;
    let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
    let grace = Duration::from_secs(5);
    let reload = Duration::from_secs(10);

    let vault = PreparedVault::prepare(VaultSettings {
        listen: loopback,
        // Keys may point at loopback (a local model server), as in `keyroute dev`.
        egress: keyroute_egress::EgressPolicy::allowing_loopback(),
        db: keyroute_vault::storage::Database::Sqlite(state.database()),
        kek_file: state.kek_file(),
        tls: state.tls("vault"),
        lease_ttl: Duration::from_secs(300),
        tls_reload_interval: reload,
        shutdown_grace: grace,
        health_listen: None,
        metrics_listen: args.vault_metrics_addr,
    })
    .await
    .map_err(cannot_start("vault"))?;
    let vault_addr = vault
        .local_addr()
        .map_err(cannot_start("vault"))?
        .to_string();
    let (stop_vault, vault_stopped) = oneshot::channel::<()>();
    let vault_task = tokio::spawn(vault.serve(async move {
        let _ = vault_stopped.await;
    }));

    let admin_tls =
        ClientTls::from_files(state.tls("admin")).map_err(cannot_start("admin client"))?;
    let vault_identity = Identity::parse("vault").map_err(|e| CliError::Usage(e.to_string()))?;
    let channel = keyroute_tls::channel(&vault_addr, admin_tls, vault_identity)
        .map_err(cannot_start("admin client"))?;
    let mut admin = VaultServiceClient::new(channel);
    let identity = state.identity(&mut admin).await?;

    let mut base_urls = HashMap::new();
    let mut mock_server = None;
    if args.mock {
        let mock = Mock::new();
        mock.accept_prefix(MOCK_KEY_PREFIX);
        let server = MockServer::start_on(mock, loopback)
            .await
            .map_err(cannot_start("mock providers"))?;
        for provider in keyroute_wire::registry::all() {
            base_urls.insert(provider.id.to_owned(), server.base_url(provider.id));
        }
        seed_mock(&state, &mut admin, &identity).await?;
        mock_server = Some(server);
    }
    base_urls.extend(overrides);

    let router = PreparedRouter::prepare(RouterSettings {
        listen: loopback,
        vault: vault_addr.clone(),
        tls: state.tls("router"),
        base_urls,
        egress: keyroute_egress::EgressPolicy::allowing_loopback(),
        catalog: None,
        token_cache_ttl: Duration::from_secs(10),
        timeouts: Timeouts::default(),
        tls_reload_interval: reload,
        shutdown_grace: grace,
        connection_threads: args.connection_threads,
        metrics_listen: args.router_metrics_addr,
        health_listen: None,
        // One router: counted in this process.
        rate_limits: keyroute_ratelimit::Settings::default(),
    })
    .await
    .map_err(cannot_start("router"))?;
    let router_addr = router.local_addr().map_err(cannot_start("router"))?;
    let in_process = router.in_process().map_err(cannot_start("router"))?;
    let (stop_router, router_stopped) = oneshot::channel::<()>();
    let router_task = tokio::spawn(router.serve(async move {
        let _ = router_stopped.await;
    }));

    let edge_tls = ClientTls::from_files(state.tls("edge")).map_err(cannot_start("edge"))?;
    let settings = EdgeSettings {
        // The router is called in-process: no router address.
        routers: Vec::new(),
        vault: vault_addr.clone(),
        limits: keyroute_edge::limits::HttpLimits {
            connection_threads: args.connection_threads,
            ..keyroute_edge::limits::HttpLimits::default()
        },
        ..EdgeSettings::default()
    };
    let edge =
        Edge::connect_in_process(&settings, edge_tls, in_process).map_err(cannot_start("edge"))?;
    let listener = tokio::net::TcpListener::bind(args.http_addr)
        .await
        .map_err(|e| CliError::Io(format!("cannot listen on {}: {e}", args.http_addr)))?;
    let http_addr = listener
        .local_addr()
        .map_err(|e| CliError::Io(e.to_string()))?;

    let url = format!("http://{http_addr}");
    let certs = std::path::absolute(state.pki_dir()).map_err(|e| CliError::Io(e.to_string()))?;
    let console = console_link(&mut admin, &identity, &url).await?;
    let router = router_address(router_addr);
    let at = Addresses {
        url: &url,
        vault: &vault_addr,
        router: &router,
    };
    let env = env_lines(&at, &identity, &console, &certs);
    write_private(&state.env_file(), env.as_bytes())?;
    println!(
        "keyroute dev is running{}; state in {}\n\n{env}\n(also in {}; Ctrl-C stops)\n\
         console: {console} (signs in once, within {SIGN_IN_MINUTES} minutes)\n\
         egress: keys you add may point at loopback (a local Ollama works); other internal \
         addresses stay refused",
        if args.mock {
            " with mock providers"
        } else {
            ""
        },
        args.state_dir.display(),
        state.env_file().display()
    );

    let served = edge
        .serve(listener, keyroute_telemetry::startup::termination())
        .await;
    let _ = stop_router.send(());
    let _ = router_task.await;
    let _ = stop_vault.send(());
    let _ = vault_task.await;
    drop(mock_server);
    served.map_err(|e| CliError::Io(e.to_string()))
}
