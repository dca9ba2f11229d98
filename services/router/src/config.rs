//! The router's configuration: flags with `KEYROUTE_*` environment equivalents, checked as a
//! whole before anything starts.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use keyroute_telemetry::LogFormat;
use keyroute_telemetry::startup::{parse_duration, password_from_file_or_env};
use keyroute_tls::TlsPaths;

/// `keyroute-router`: the canonical chat API over mTLS gRPC.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "keyroute-router",
    version,
    about = "keyroute's router: routes each request through the caller's key, in the provider's wire format"
)]
pub struct RouterArgs {
    /// Address to serve gRPC on.
    #[arg(long, env = "KEYROUTE_ROUTER_LISTEN", default_value = "127.0.0.1:7444")]
    pub listen: SocketAddr,

    /// The vault's gRPC address.
    #[arg(long, env = "KEYROUTE_VAULT_ADDR", default_value = "127.0.0.1:7443")]
    pub vault: String,

    /// This service's certificate chain (PEM), with a spiffe://keyroute/router URI SAN.
    #[arg(long, env = "KEYROUTE_TLS_CERT")]
    pub tls_cert: PathBuf,

    /// This service's private key (PEM).
    #[arg(long, env = "KEYROUTE_TLS_KEY")]
    pub tls_key: PathBuf,

    /// The CA that signs every keyroute certificate (PEM).
    #[arg(long, env = "KEYROUTE_TLS_CA")]
    pub tls_ca: PathBuf,

    /// A provider's base URL, replacing the default: `provider=https://...` (repeatable, or
    /// comma-separated in the environment).
    #[arg(
        long = "base-url",
        env = "KEYROUTE_BASE_URLS",
        value_delimiter = ',',
        value_name = "PROVIDER=URL"
    )]
    pub base_urls: Vec<String>,

    /// Destinations users supply (custom base URLs, Azure endpoints, Vertex token URIs) that
    /// may be internal after all: CIDRs (`10.1.0.0/16`) or host names, comma-separated.
    /// Loopback, link-local, private, CGNAT, multicast and unspecified addresses are refused
    /// otherwise. Operator `--base-url`s are trusted and need no entry here.
    #[arg(
        long = "egress-allow",
        env = "KEYROUTE_EGRESS_ALLOW",
        value_delimiter = ',',
        value_name = "CIDR|HOST"
    )]
    pub egress_allow: Vec<String>,

    /// A model catalog file whose entries replace or extend the built-in catalog. Re-read when
    /// it changes (looked at every 5 s); a changed file that does not check out is refused
    /// and logged, and the catalog in use stays.
    #[arg(long, env = "KEYROUTE_CATALOG")]
    pub catalog: Option<PathBuf>,

    /// How long a verified gateway token is trusted without asking the vault again.
    #[arg(long, env = "KEYROUTE_TOKEN_CACHE_TTL", default_value = "10s", value_parser = parse_duration)]
    pub token_cache_ttl: Duration,

    #[arg(long, env = "KEYROUTE_CONNECT_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub connect_timeout: Duration,

    /// Until a provider's response headers arrive.
    #[arg(long, env = "KEYROUTE_FIRST_BYTE_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub first_byte_timeout: Duration,

    /// Between two chunks of a stream.
    #[arg(long, env = "KEYROUTE_CHUNK_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub chunk_timeout: Duration,

    /// For a whole non-streaming call.
    #[arg(long, env = "KEYROUTE_TOTAL_TIMEOUT", default_value = "10m", value_parser = parse_duration)]
    pub total_timeout: Duration,

    /// How often certificate files are checked for rotation.
    #[arg(long, env = "KEYROUTE_TLS_RELOAD_INTERVAL", default_value = "10s", value_parser = parse_duration)]
    pub tls_reload_interval: Duration,

    /// How many threads serve the gRPC port's connections, each with its own upstream
    /// connections; one per core the process may use unless given.
    #[arg(long, env = "KEYROUTE_CONNECTION_THREADS")]
    pub connection_threads: Option<std::num::NonZeroUsize>,

    /// How long running streams may take to finish after SIGTERM.
    #[arg(long, env = "KEYROUTE_SHUTDOWN_GRACE", default_value = "30s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,

    /// Where `/metrics` (Prometheus text) is served; `off` turns it off.
    #[arg(
        long,
        env = "KEYROUTE_METRICS_LISTEN",
        default_value = "127.0.0.1:9464"
    )]
    pub metrics_listen: String,

    /// A plaintext port serving only `grpc.health.v1`, for Kubernetes `grpc:` probes (the
    /// kubelet has no client certificate); `off` turns it off.
    #[arg(long, env = "KEYROUTE_HEALTH_LISTEN", default_value = "off")]
    pub health_listen: String,

    /// Log format: human or json.
    #[arg(long, env = "KEYROUTE_LOG_FORMAT", default_value = "human")]
    pub log_format: LogFormat,

    /// The Redis (or Valkey) every router shares rate-limit counters in:
    /// `redis://[user@]host:port[/db]`, without a password (see
    /// --rate-limit-redis-password-file). Unset: each router counts its own calls alone.
    #[arg(long, env = "KEYROUTE_RATE_LIMIT_REDIS", value_name = "URL")]
    pub rate_limit_redis: Option<String>,

    /// A file holding Redis's password (a mounted Secret). The environment variable
    /// KEYROUTE_RATE_LIMIT_REDIS_PASSWORD may hold it instead; never a flag, which the
    /// process list would show.
    #[arg(long, env = "KEYROUTE_RATE_LIMIT_REDIS_PASSWORD_FILE")]
    pub rate_limit_redis_password_file: Option<PathBuf>,

    /// The window rate limits are counted over: a minute, so that "per minute" means it.
    #[arg(long, env = "KEYROUTE_RATE_LIMIT_WINDOW", default_value = "60s", value_parser = parse_duration)]
    pub rate_limit_window: Duration,

    /// How long a call waits for Redis before this router decides alone (and stops asking
    /// Redis until a background probe reconnects). Redis answers in well under a
    /// millisecond; this is for a hung one, and generous enough that a router briefly short
    /// of CPU does not leave the shared count for nothing.
    #[arg(long, env = "KEYROUTE_RATE_LIMIT_TIMEOUT", default_value = "100ms", value_parser = parse_duration)]
    pub rate_limit_timeout: Duration,

    /// The share of each limit this router enforces alone while Redis is unreachable, in
    /// (0, 1]: 1 (every router the whole limit) by default; `1/routers` keeps the total near
    /// the limit when the number of routers is known.
    #[arg(
        long,
        env = "KEYROUTE_RATE_LIMIT_FALLBACK_SHARE",
        default_value_t = 1.0
    )]
    pub rate_limit_fallback_share: f64,
}

impl RouterArgs {
    pub fn tls_paths(&self) -> TlsPaths {
        TlsPaths {
            cert: self.tls_cert.clone(),
            key: self.tls_key.clone(),
            ca: self.tls_ca.clone(),
        }
    }

    /// The metrics address, or `None` when turned off.
    pub fn metrics_addr(&self) -> Result<Option<SocketAddr>, String> {
        keyroute_telemetry::startup::optional_addr("metrics-listen", &self.metrics_listen)
    }

    /// The plaintext health-probe address, or `None` when turned off.
    pub fn health_addr(&self) -> Result<Option<SocketAddr>, String> {
        keyroute_telemetry::startup::optional_addr("health-listen", &self.health_listen)
    }

    /// The egress policy: the strict default plus every `--egress-allow` rule.
    pub fn egress_policy(&self) -> Result<keyroute_egress::EgressPolicy, String> {
        let mut policy = keyroute_egress::EgressPolicy::strict();
        for rule in self.egress_allow.iter().filter(|r| !r.trim().is_empty()) {
            policy
                .allow(rule)
                .map_err(|error| format!("--egress-allow: {error}"))?;
        }
        Ok(policy)
    }

    /// The rate limiter's settings, with Redis's password read from the file or the
    /// environment and put into the URL, which is kept secret from then on.
    pub fn rate_limit_settings(&self) -> Result<keyroute_ratelimit::Settings, String> {
        let password = password_from_file_or_env(
            "Redis",
            "rate-limit-redis-password-file",
            self.rate_limit_redis_password_file.as_deref(),
            "KEYROUTE_RATE_LIMIT_REDIS_PASSWORD",
        )?;
        let redis_url = match (&self.rate_limit_redis, password) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err("a Redis password is given but --rate-limit-redis is not".into());
            }
            (Some(url), password) => Some(redis_url(url, password.as_deref())?),
        };
        let settings = keyroute_ratelimit::Settings {
            redis_url: redis_url.map(secrecy::SecretString::from),
            window: self.rate_limit_window,
            call_timeout: self.rate_limit_timeout,
            fallback_share: self.rate_limit_fallback_share,
            ..keyroute_ratelimit::Settings::default()
        };
        Ok(settings)
    }

    /// The base-URL overrides, checked: known providers, http(s) URLs.
    pub fn base_url_overrides(&self) -> Result<HashMap<String, String>, String> {
        let mut overrides = HashMap::new();
        for pair in self.base_urls.iter().filter(|p| !p.trim().is_empty()) {
            let (provider, url) = pair
                .split_once('=')
                .ok_or_else(|| format!("--base-url {pair:?} is not provider=url"))?;
            let provider = provider.trim();
            if keyroute_wire::registry::provider(provider).is_none() {
                return Err(format!(
                    "--base-url: unknown provider {provider:?}; expected one of {}",
                    keyroute_wire::registry::provider_ids()
                ));
            }
            let url = url.trim();
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!(
                    "--base-url {provider}: {url:?} is not an http(s) URL"
                ));
            }
            overrides.insert(provider.to_owned(), url.trim_end_matches('/').to_owned());
        }
        Ok(overrides)
    }
}

/// `url` with `password` put in, percent-encoded. A URL that carries a password already is
/// refused without repeating it.
fn redis_url(url: &str, password: Option<&str>) -> Result<String, String> {
    let url = url.trim();
    let Some(rest) = url.strip_prefix("redis://") else {
        return Err(
            "--rate-limit-redis must be a redis:// URL (TLS to Redis is not built in)".into(),
        );
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (user, host) = match rest[..authority_end].rsplit_once('@') {
        Some((user, _)) if user.contains(':') => {
            return Err("--rate-limit-redis must not carry a password: give it in --rate-limit-redis-password-file or KEYROUTE_RATE_LIMIT_REDIS_PASSWORD".into());
        }
        Some((user, host)) => (user, host),
        None => ("", &rest[..authority_end]),
    };
    if host.is_empty() {
        return Err("--rate-limit-redis names no host".into());
    }
    let path = &rest[authority_end..];
    Ok(match password {
        Some(password) => format!("redis://{user}:{}@{host}{path}", percent_encode(password)),
        None if user.is_empty() => format!("redis://{host}{path}"),
        None => format!("redis://{user}@{host}{path}"),
    })
}

/// Every byte but RFC 3986's unreserved characters as `%XX`.
fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn the_command_line_is_well_formed_and_overrides_are_checked() {
        use clap::CommandFactory;
        RouterArgs::command().debug_assert();
        let args = RouterArgs::parse_from([
            "keyroute-router",
            "--tls-cert",
            "c",
            "--tls-key",
            "k",
            "--tls-ca",
            "a",
            "--base-url",
            "openai=http://127.0.0.1:9/openai/v1/",
        ]);
        assert_eq!(
            args.base_url_overrides().unwrap()["openai"],
            "http://127.0.0.1:9/openai/v1"
        );
        let bad = RouterArgs::parse_from([
            "keyroute-router",
            "--tls-cert",
            "c",
            "--tls-key",
            "k",
            "--tls-ca",
            "a",
            "--base-url",
            "nope=http://x",
        ]);
        assert!(
            bad.base_url_overrides()
                .unwrap_err()
                .contains("unknown provider")
        );
        let allowing = |rules: &str| {
            RouterArgs::parse_from([
                "keyroute-router",
                "--tls-cert",
                "c",
                "--tls-key",
                "k",
                "--tls-ca",
                "a",
                "--egress-allow",
                rules,
            ])
            .egress_policy()
        };
        let policy = allowing("10.1.0.0/16,ollama.internal").unwrap();
        assert!(policy.check_ip("10.1.0.9".parse().unwrap()).is_ok());
        assert!(policy.check_ip("10.2.0.9".parse().unwrap()).is_err());
        assert!(
            allowing("10.0.0.0/99")
                .unwrap_err()
                .contains("--egress-allow")
        );
    }
    #[test]
    fn redis_passwords_come_from_a_file_or_the_environment_never_the_url() {
        assert_eq!(
            redis_url("redis://10.0.0.5:6379/2", Some("p@ss word")).unwrap(),
            "redis://:p%40ss%20word@10.0.0.5:6379/2"
        );
        assert_eq!(
            redis_url("redis://limits@redis:6379", Some("x")).unwrap(),
            "redis://limits:x@redis:6379"
        );
        assert_eq!(
            redis_url("redis://redis:6379", None).unwrap(),
            "redis://redis:6379"
        );
        let refused = redis_url("redis://:hunter2@redis:6379", None).unwrap_err();
        assert!(refused.contains("must not carry a password"), "{refused}");
        assert!(!refused.contains("hunter2"));
        assert!(redis_url("rediss://redis:6379", None).is_err());
        assert!(redis_url("redis:///0", None).is_err());

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("password");
        std::fs::write(&file, "s3cret\n").unwrap();
        let args = RouterArgs::parse_from([
            "keyroute-router",
            "--tls-cert",
            "c",
            "--tls-key",
            "k",
            "--tls-ca",
            "a",
            "--rate-limit-redis",
            "redis://127.0.0.1:6379",
            "--rate-limit-redis-password-file",
            file.to_str().unwrap(),
            "--rate-limit-window",
            "2s",
        ]);
        let settings = args.rate_limit_settings().unwrap();
        assert_eq!(settings.window, Duration::from_secs(2));
        assert!(!format!("{settings:?}").contains("s3cret"));
        use secrecy::ExposeSecret;
        assert_eq!(
            settings.redis_url.unwrap().expose_secret(),
            "redis://:s3cret@127.0.0.1:6379"
        );
    }
}
