//! The vault's storage: every SQL statement lives below this module, behind domain methods,
//! written once for both databases ([`sql`]): SQLite, embedded, for `keyroute dev` and one
//! replica ([`sqlite`]); PostgreSQL for several replicas on one database ([`postgres`]).
//! All database work runs on tokio's blocking pool, never on the async workers.

mod audit;
mod background;
mod credentials;
mod identities;
mod ledger;
mod migrations;
mod model;
mod money;
mod postgres;
mod postgres_settings;
mod postgres_tls;
mod rate_limits;
mod raw;
mod sql;
mod sqlite;

pub use money::{
    BudgetRecord, HoldOutcome, TokenCounts, UsageDayRecord, UsageLineRecord, UsageRow, UsageSource,
    month_of,
};

pub use model::*;
pub use postgres_settings::PostgresSettings;
pub use postgres_tls::{DbCa, DbTlsError};
pub use rate_limits::{RateLimitChange, RateLimitRecord, RateLimitScope};
pub use raw::SqlValue;

use std::path::PathBuf;
use std::sync::Arc;

use sql::Tx;

/// Why a storage operation failed. Messages never carry secret material: secrets reach the
/// store only sealed, and statements bind values instead of formatting them.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("already exists: {existing_id}")]
    AlreadyExists { existing_id: String },
    #[error("{0}")]
    Conflict(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Backend(String),
    /// A transaction kept losing conflicts with concurrent ones (other replicas): retrying
    /// later may succeed.
    #[error("database contention: {0}")]
    Contention(String),
    #[error("storage task failed: {0}")]
    Task(String),
}

/// Which database the vault keeps its state in.
#[derive(Debug, Clone)]
pub enum Database {
    /// A SQLite file (created if missing): one replica.
    Sqlite(PathBuf),
    /// A PostgreSQL database shared by every replica.
    Postgres(PostgresSettings),
}

impl Database {
    /// `--db`: a `postgres://` (or `postgresql://`) URL, or else a SQLite file path. `ca`
    /// is what `sslmode=verify-full` trusts (`--db-ca-file`).
    pub fn parse(
        db: &str,
        password: Option<secrecy::SecretString>,
        ca: Option<&DbCa>,
    ) -> Result<Self, String> {
        if db.starts_with("postgres://") || db.starts_with("postgresql://") {
            return PostgresSettings::with_ca(db, password, ca).map(Self::Postgres);
        }
        if password.is_some() {
            return Err("a database password is only used with a postgres:// --db".to_owned());
        }
        if ca.is_some() {
            return Err(
                "a database CA (--db-ca-file) is only used with a postgres:// --db".to_owned(),
            );
        }
        Ok(Self::Sqlite(PathBuf::from(db)))
    }

    /// A name for logs and errors (the URL carries no password).
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite(path) => path.display().to_string(),
            Self::Postgres(settings) => settings.url.clone(),
        }
    }
}

/// The vault's database.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Backend>,
    background: Arc<background::Background>,
}

enum Backend {
    Sqlite(sqlite::Sqlite),
    Postgres(postgres::Postgres),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (kind, place) = match &*self.inner {
            Backend::Sqlite(db) => ("sqlite", db.path.display().to_string()),
            Backend::Postgres(db) => ("postgres", db.url().to_owned()),
        };
        f.debug_struct("Store")
            .field("backend", &kind)
            .field("at", &place)
            .finish()
    }
}

/// Called with each change another replica announced, or `None` when some may have been
/// missed.
pub type ChangeListener = Box<dyn Fn(Option<&str>) + Send>;

/// The notification channel changes are fanned out on between replicas.
const CHANGES_CHANNEL: &str = "keyroute_vault_changes";

impl Store {
    /// Opens (creating if needed) the database and applies pending migrations.
    pub async fn open(database: &Database, now: Millis) -> Result<Self, StoreError> {
        let database = database.clone();
        tokio::task::spawn_blocking(move || {
            let backend = match &database {
                Database::Sqlite(path) => Backend::Sqlite(sqlite::Sqlite::open(path, now)?),
                Database::Postgres(settings) => {
                    Backend::Postgres(postgres::Postgres::open(settings, now)?)
                }
            };
            Ok(Self {
                inner: Arc::new(backend),
                background: background::Background::start()?,
            })
        })
        .await
        .map_err(|error| StoreError::Task(error.to_string()))?
    }

    /// The newest schema version, for health and diagnostics.
    pub fn schema_version() -> u32 {
        migrations::latest()
    }

    /// Whether other replicas may share this database, so changes must be fanned out.
    pub fn is_shared(&self) -> bool {
        matches!(&*self.inner, Backend::Postgres(_))
    }

    /// Tells every replica's [`Store::listen_changes`] about a committed change. A no-op on
    /// SQLite, where this replica is the only one.
    pub async fn announce_change(&self, payload: String) -> Result<(), StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || match &*inner {
            Backend::Sqlite(_) => Ok(()),
            Backend::Postgres(db) => db.notify(CHANGES_CHANNEL, &payload),
        })
        .await
        .map_err(|error| StoreError::Task(error.to_string()))?
    }

    /// Calls `on_change` with every change any replica announces after this returns (this
    /// one's included), and with `None` whenever changes may have been missed (the listener
    /// reconnected). Runs until the store is dropped. Nothing is started on SQLite.
    pub async fn listen_changes(&self, on_change: ChangeListener) -> Result<(), StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || match &*inner {
            Backend::Sqlite(_) => Ok(()),
            Backend::Postgres(db) => db.listen(CHANGES_CHANNEL, on_change),
        })
        .await
        .map_err(|error| StoreError::Task(error.to_string()))?
    }

    /// Runs `work` in one write transaction, committed only if it returns `Ok`. On
    /// PostgreSQL it may run more than once (a conflict with another replica), so it must
    /// only read what it captured.
    async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&Tx<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || match &*inner {
            Backend::Sqlite(db) => db.write(&work),
            Backend::Postgres(db) => db.write(&work),
        })
        .await
        .map_err(|error| StoreError::Task(error.to_string()))?
    }

    /// [`Store::write`] for work no request waits on (usage batches, pruning): run at a
    /// lower CPU priority, so that its bursts give way to the threads answering requests.
    async fn write_in_background<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&Tx<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        self.background
            .run(move || match &*inner {
                Backend::Sqlite(db) => db.write(&work),
                Backend::Postgres(db) => db.write(&work),
            })
            .await
    }

    /// Runs `work` in one read transaction, so that it sees a consistent snapshot.
    async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&Tx<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || match &*inner {
            Backend::Sqlite(db) => db.read(&work),
            Backend::Postgres(db) => db.read(&work),
        })
        .await
        .map_err(|error| StoreError::Task(error.to_string()))?
    }
}

/// Maps a row's text column to an enum, treating unknown text as corruption.
fn parse_enum<T>(text: &str, parse: fn(&str) -> Option<T>, what: &str) -> Result<T, StoreError> {
    parse(text).ok_or_else(|| StoreError::Corrupt(format!("unknown {what} {text:?}")))
}
