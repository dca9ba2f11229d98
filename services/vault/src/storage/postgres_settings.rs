//! Where the vault's shared PostgreSQL database is, as the operator gives it: the URL
//! checked (no password in it, TLS only as verify-full), and the client configuration made
//! from it.

use std::time::Duration;

use ::postgres::Config;
use secrecy::{ExposeSecret, SecretString};

use super::StoreError;
use super::postgres_tls::{self, DbCa, MakeRustls, Mode};

/// Where the shared database is. The password never travels in the URL (it would show in
/// the process list and in logs): it comes from a file or the environment.
#[derive(Clone)]
pub struct PostgresSettings {
    /// `postgres://user@host:port/dbname?...` without a password, as given.
    pub url: String,
    pub password: Option<SecretString>,
    /// The URL without `sslmode`, which the vault handles itself.
    connect_url: String,
    /// verify-full's TLS; `None`: plaintext.
    pub(super) tls: Option<MakeRustls>,
}

impl std::fmt::Debug for PostgresSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSettings")
            .field("url", &self.url)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("tls", &self.tls.as_ref().map(|_| "verify-full"))
            .finish()
    }
}

impl PostgresSettings {
    /// Checks the URL; refuses one that carries a password, or asks for TLS (which needs a
    /// CA: see [`Self::with_ca`]).
    pub fn new(url: &str, password: Option<SecretString>) -> Result<Self, String> {
        Self::with_ca(url, password, None)
    }

    /// Checks the URL; refuses one that carries a password. `sslmode=verify-full` needs `ca`
    /// and verifies the server against it; `ca` without verify-full is refused too, so that
    /// a forgotten `sslmode` does not pass for TLS.
    pub fn with_ca(
        url: &str,
        password: Option<SecretString>,
        ca: Option<&DbCa>,
    ) -> Result<Self, String> {
        // sslmode first: the client library cannot parse verify-full.
        let (connect_url, mode) =
            postgres_tls::split_sslmode(url).map_err(|error| error.to_string())?;
        let config: Config = connect_url
            .parse()
            .map_err(|error| format!("not a PostgreSQL URL: {error}"))?;
        if config.get_password().is_some() {
            return Err(
                "the PostgreSQL URL carries a password: give it in --db-password-file or \
                 KEYROUTE_VAULT_DB_PASSWORD instead"
                    .to_owned(),
            );
        }
        if config.get_dbname().is_none() {
            return Err("the PostgreSQL URL names no database".to_owned());
        }
        let tls = match (mode, ca) {
            (Mode::Disable, None) => None,
            (Mode::Disable, Some(_)) => {
                return Err(postgres_tls::DbTlsError::CaWithoutVerifyFull.to_string());
            }
            (Mode::VerifyFull, None) => return Err(postgres_tls::DbTlsError::NoCa.to_string()),
            (Mode::VerifyFull, Some(ca)) => {
                Some(postgres_tls::verify_full(&config, ca).map_err(|error| error.to_string())?)
            }
        };
        Ok(Self {
            url: url.to_owned(),
            password,
            connect_url,
            tls,
        })
    }

    pub(super) fn config(&self) -> Result<Config, StoreError> {
        let mut config: Config = self
            .connect_url
            .parse()
            .map_err(|error| StoreError::Backend(format!("PostgreSQL URL: {error}")))?;
        // Never libpq's default, prefer: TLS exactly when verify-full set it up.
        config.ssl_mode(match self.tls {
            Some(_) => ::postgres::config::SslMode::Require,
            None => ::postgres::config::SslMode::Disable,
        });
        if let Some(password) = &self.password {
            config.password(password.expose_secret());
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        config
            .application_name("keyroute-vault")
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30));
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::PostgresSettings;

    #[test]
    fn urls_with_a_password_without_a_database_or_with_a_weak_sslmode_are_refused() {
        let refused = |url: &str| PostgresSettings::new(url, None).unwrap_err();
        let with_password = refused("postgres://vault:hunter2@db:5432/keyroute");
        assert!(with_password.contains("password"), "{with_password}");
        assert!(!with_password.contains("hunter2"));
        assert!(refused("postgres://vault@db:5432").contains("no database"));
        let require = refused("postgres://vault@db/keyroute?sslmode=require");
        assert!(require.contains("use sslmode=verify-full"), "{require}");
        assert!(refused("mysql://vault@db/keyroute").contains("not a PostgreSQL URL"));
    }

    #[test]
    fn the_password_never_shows_in_debug_output() {
        let settings = PostgresSettings::new(
            "postgresql://vault@db:5432/keyroute",
            Some("canary-db-password".to_owned().into()),
        )
        .unwrap();
        let shown = format!("{settings:?}");
        assert!(!shown.contains("canary-db-password"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }
}
