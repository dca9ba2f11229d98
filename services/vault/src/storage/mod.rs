//! The vault's storage: every SQL statement lives below this module, behind domain methods,
//! so that a PostgreSQL backend can stand beside SQLite without changes elsewhere.
//!
//! SQLite runs in WAL mode with `synchronous=FULL`: a write is acknowledged only after its
//! commit reached the disk, so it survives `kill -9` and power loss. One writer connection
//! serializes writes; a small pool of readers serves reads concurrently. All database work
//! runs on tokio's blocking pool, never on the async workers.

mod audit;
mod credentials;
mod identities;
mod ledger;
mod migrations;
mod model;
mod money;

pub use money::{
    BudgetRecord, HoldOutcome, TokenCounts, UsageDayRecord, UsageLineRecord, UsageRow, UsageSource,
    month_of,
};

pub use model::*;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

/// How many idle read connections are kept.
const READER_POOL: usize = 4;

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
    #[error("storage task failed: {0}")]
    Task(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        Self::Backend(error.to_string())
    }
}

/// The vault's database.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish()
    }
}

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;",
    )?;
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Backend(format!(
            "cannot enable WAL journaling (got {mode})"
        )));
    }
    Ok(conn)
}

impl Store {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub async fn open(path: &Path, now: Millis) -> Result<Self, StoreError> {
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut writer = connect(&path)?;
            migrations::migrate(&mut writer, now)?;
            restrict_permissions(&path);
            Ok(Self {
                inner: Arc::new(Inner {
                    path,
                    writer: Mutex::new(writer),
                    readers: Mutex::new(Vec::new()),
                }),
            })
        })
        .await
        .map_err(|error| StoreError::Task(error.to_string()))?
    }

    /// The newest schema version, for health and diagnostics.
    pub fn schema_version() -> u32 {
        migrations::latest()
    }

    /// Runs `work` in one immediate write transaction, committed only if it returns `Ok`.
    async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = inner
                .writer
                .lock()
                .unwrap_or_else(|poison| poison.into_inner());
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let value = work(&tx)?;
            tx.commit()?;
            Ok(value)
        })
        .await
        .map_err(|error| StoreError::Task(error.to_string()))?
    }

    /// Runs `work` on a pooled read connection, inside one read transaction so that it sees
    /// a consistent snapshot.
    async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = inner
                .readers
                .lock()
                .unwrap_or_else(|poison| poison.into_inner())
                .pop();
            let mut conn = match pooled {
                Some(conn) => conn,
                None => connect(&inner.path)?,
            };
            let value = {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
                let value = work(&tx);
                tx.finish()?;
                value
            };
            let mut readers = inner
                .readers
                .lock()
                .unwrap_or_else(|poison| poison.into_inner());
            if readers.len() < READER_POOL {
                readers.push(conn);
            }
            value
        })
        .await
        .map_err(|error| StoreError::Task(error.to_string()))?
    }
}

/// The database holds sealed secrets and token hashes: keep it from other local users.
fn restrict_permissions(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for file in [
        path.to_owned(),
        wal_path(path, "-wal"),
        wal_path(path, "-shm"),
    ] {
        if file.exists() {
            let _ = std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600));
        }
    }
}

fn wal_path(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Maps a row's text column to an enum, treating unknown text as corruption.
fn parse_enum<T>(text: &str, parse: fn(&str) -> Option<T>, what: &str) -> Result<T, StoreError> {
    parse(text).ok_or_else(|| StoreError::Corrupt(format!("unknown {what} {text:?}")))
}
