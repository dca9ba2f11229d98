//! The router's configuration: flags with `KEYROUTE_*` environment equivalents, checked as a
//! whole before anything starts.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use keyroute_telemetry::LogFormat;
use keyroute_telemetry::startup::parse_duration;
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
}
