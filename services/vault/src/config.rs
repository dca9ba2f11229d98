//! The vault's configuration: flags with `KEYROUTE_*` environment equivalents, checked as a
//! whole before anything starts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use keyroute_telemetry::LogFormat;
pub use keyroute_telemetry::startup::parse_duration;
use keyroute_telemetry::startup::password_from_file_or_env;
use keyroute_tls::TlsPaths;
use secrecy::SecretString;

use crate::storage::{Database, DbCa};

/// `keyroute-vault`: the credential vault.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "keyroute-vault",
    version,
    about = "keyroute's credential vault: encrypted provider keys, identities, audit and leases over mTLS gRPC"
)]
pub struct VaultArgs {
    /// Address to serve gRPC on.
    #[arg(long, env = "KEYROUTE_VAULT_LISTEN", default_value = "127.0.0.1:7443")]
    pub listen: SocketAddr,

    /// The database: a SQLite file (created if missing; its directory must exist) for one
    /// replica, or a `postgres://user@host:port/dbname` URL shared by several replicas. The
    /// URL must not carry the password: see --db-password-file. `?sslmode=verify-full`
    /// connects over TLS, verifying the server's certificate against --db-ca-file and the
    /// URL's host name; without sslmode (or `sslmode=disable`) connections are plaintext.
    /// `require`, `prefer`, `allow` and `verify-ca` are refused: they let whoever is in the
    /// path pose as the database and be handed its password.
    #[arg(
        long,
        env = "KEYROUTE_VAULT_DB",
        default_value = "keyroute-vault.sqlite"
    )]
    pub db: String,

    /// A file holding the PostgreSQL password (a mounted Secret). The environment variable
    /// KEYROUTE_VAULT_DB_PASSWORD may hold it instead; never a flag, which the process list
    /// would show.
    #[arg(long, env = "KEYROUTE_VAULT_DB_PASSWORD_FILE")]
    pub db_password_file: Option<PathBuf>,

    /// The CA (PEM; a mounted Secret or ConfigMap) that signed the PostgreSQL server's
    /// certificate, for `sslmode=verify-full`, which requires it. Read once at start.
    #[arg(long, env = "KEYROUTE_VAULT_DB_CA_FILE")]
    pub db_ca_file: Option<PathBuf>,

    /// Keyring file with the key-encryption keys (`keyroute kek generate`).
    #[arg(long, env = "KEYROUTE_KEK_FILE")]
    pub kek_file: PathBuf,

    /// This service's certificate chain (PEM), with a spiffe://keyroute/vault URI SAN.
    #[arg(long, env = "KEYROUTE_TLS_CERT")]
    pub tls_cert: PathBuf,

    /// This service's private key (PEM).
    #[arg(long, env = "KEYROUTE_TLS_KEY")]
    pub tls_key: PathBuf,

    /// The CA that signs every keyroute certificate (PEM).
    #[arg(long, env = "KEYROUTE_TLS_CA")]
    pub tls_ca: PathBuf,

    /// How long a lease of decrypted credentials stays valid (`300s`, `5m`, `1h`).
    #[arg(long, env = "KEYROUTE_LEASE_TTL", default_value = "5m", value_parser = parse_duration)]
    pub lease_ttl: Duration,

    /// How often certificate files are checked for rotation.
    #[arg(long, env = "KEYROUTE_TLS_RELOAD_INTERVAL", default_value = "10s", value_parser = parse_duration)]
    pub tls_reload_interval: Duration,

    /// How long running requests may take to finish after SIGTERM.
    #[arg(long, env = "KEYROUTE_SHUTDOWN_GRACE", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,

    /// Where `/metrics` (Prometheus text: calls by method and code, latency) is served; `off`
    /// turns it off.
    #[arg(
        long,
        env = "KEYROUTE_METRICS_LISTEN",
        default_value = "127.0.0.1:9465"
    )]
    pub metrics_listen: String,

    /// A plaintext port serving only `grpc.health.v1`, for Kubernetes `grpc:` probes (the
    /// kubelet has no client certificate); `off` turns it off.
    #[arg(long, env = "KEYROUTE_HEALTH_LISTEN", default_value = "off")]
    pub health_listen: String,

    /// Internal destinations keys may point at after all (custom base URLs, Azure endpoints,
    /// Vertex token URIs): CIDRs or host names, comma-separated. Keys pointing at loopback,
    /// link-local, private, CGNAT, multicast or unspecified addresses are refused otherwise.
    /// Give the routers the same list.
    #[arg(
        long = "egress-allow",
        env = "KEYROUTE_EGRESS_ALLOW",
        value_delimiter = ',',
        value_name = "CIDR|HOST"
    )]
    pub egress_allow: Vec<String>,

    /// How long raw per-call usage rows are kept (at least 1 day); monthly and daily totals,
    /// which budgets, balances and usage reports read, are kept whatever this is.
    #[arg(long, env = "KEYROUTE_USAGE_RETENTION", default_value = "90d", value_parser = parse_retention)]
    pub usage_retention: Duration,

    /// Log format: human or json.
    #[arg(long, env = "KEYROUTE_LOG_FORMAT", default_value = "human")]
    pub log_format: LogFormat,
}

impl VaultArgs {
    pub fn tls_paths(&self) -> TlsPaths {
        TlsPaths {
            cert: self.tls_cert.clone(),
            key: self.tls_key.clone(),
            ca: self.tls_ca.clone(),
        }
    }

    /// The egress policy for the destinations keys carry: strict, plus `--egress-allow`.
    pub fn egress_policy(&self) -> Result<keyroute_egress::EgressPolicy, String> {
        let mut policy = keyroute_egress::EgressPolicy::strict();
        for rule in self.egress_allow.iter().filter(|r| !r.trim().is_empty()) {
            policy
                .allow(rule)
                .map_err(|error| format!("--egress-allow: {error}"))?;
        }
        Ok(policy)
    }

    /// The database `--db` names, with its password read from the file or the environment
    /// and its CA from `--db-ca-file`.
    pub fn database(&self) -> Result<Database, String> {
        let password = password_from_file_or_env(
            "database",
            "db-password-file",
            self.db_password_file.as_deref(),
            "KEYROUTE_VAULT_DB_PASSWORD",
        )?;
        let ca = match &self.db_ca_file {
            Some(path) => {
                Some(DbCa::from_file(path).map_err(|error| format!("--db-ca-file: {error}"))?)
            }
            None => None,
        };
        Database::parse(&self.db, password.map(SecretString::from), ca.as_ref())
            .map_err(|error| format!("--db: {error}"))
    }

    /// Checks what flags alone can tell; file contents are checked when loaded.
    pub fn check(&self) -> Result<(), String> {
        if self.lease_ttl < Duration::from_secs(10)
            || self.lease_ttl > Duration::from_secs(24 * 3600)
        {
            return Err("--lease-ttl must be between 10s and 24h".into());
        }
        if self.tls_reload_interval < Duration::from_millis(100) {
            return Err("--tls-reload-interval must be at least 100ms".into());
        }
        let Database::Sqlite(path) = self.database()? else {
            return Ok(());
        };
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
            && !parent.is_dir()
        {
            return Err(format!(
                "--db: directory {} does not exist",
                parent.display()
            ));
        }
        Ok(())
    }
}

/// A retention: `90d`, or any duration `parse_duration` reads (`48h`).
fn parse_retention(text: &str) -> Result<Duration, String> {
    match text.trim().strip_suffix('d') {
        Some(days) => days
            .parse::<u64>()
            .map(|days| Duration::from_secs(days.saturating_mul(24 * 3600)))
            .map_err(|_| format!("{text:?} is not a number of days such as 90d")),
        None => parse_duration(text),
    }
}

#[cfg(test)]
mod clap_tests {
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        super::VaultArgs::command().debug_assert();
    }

    #[test]
    fn retentions_read_days_or_durations_and_must_be_a_day_at_least() {
        use std::time::Duration;

        use crate::retention::check_retention;
        let day = Duration::from_secs(24 * 3600);
        assert_eq!(super::parse_retention("90d"), Ok(day * 90));
        assert_eq!(super::parse_retention("48h"), Ok(day * 2));
        assert!(super::parse_retention("ninety days").is_err());
        assert!(super::parse_retention("d").is_err());
        assert_eq!(check_retention(day), Ok(day));
        assert!(check_retention(Duration::from_secs(3600)).is_err());
    }
}
