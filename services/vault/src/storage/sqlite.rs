//! SQLite, the embedded default: WAL mode with `synchronous=FULL`, so a write is
//! acknowledged only after its commit reached the disk and survives `kill -9` and power loss.
//! One writer connection serializes writes; a small pool of readers serves reads at once.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use super::StoreError;
use super::sql::{Param, Row, Tx, Value};

/// How many idle read connections are kept.
const READER_POOL: usize = 4;

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        Self::Backend(error.to_string())
    }
}

/// One database file and its connections.
pub(super) struct Sqlite {
    pub(super) path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
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

impl Sqlite {
    /// Opens (creating if needed) the file and brings its schema up to date. Blocking.
    pub(super) fn open(path: &Path, now: i64) -> Result<Self, StoreError> {
        let mut writer = connect(path)?;
        super::migrations::migrate_sqlite(&mut writer, now)?;
        restrict_permissions(path);
        Ok(Self {
            path: path.to_owned(),
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
        })
    }

    /// Runs `work` in one immediate write transaction, committed only if it returns `Ok`.
    /// Blocking.
    pub(super) fn write<T>(
        &self,
        work: &dyn Fn(&Tx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self
            .writer
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = work(&Tx::Sqlite(&tx))?;
        tx.commit()?;
        Ok(value)
    }

    /// Runs `work` on a pooled read connection inside one read transaction, so that it sees
    /// a consistent snapshot. Blocking.
    pub(super) fn read<T>(
        &self,
        work: &dyn Fn(&Tx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = self
            .readers
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .pop();
        let mut conn = match pooled {
            Some(conn) => conn,
            None => connect(&self.path)?,
        };
        let value = {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
            let value = work(&Tx::Sqlite(&tx));
            tx.finish()?;
            value
        };
        let mut readers = self
            .readers
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if readers.len() < READER_POOL {
            readers.push(conn);
        }
        value
    }
}

/// A parameter as SQLite binds it.
struct Bound<'a>(Value<'a>);

impl rusqlite::ToSql for Bound<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self.0 {
            Value::Null => ValueRef::Null,
            Value::Int(int) => ValueRef::Integer(int),
            Value::Text(text) => ValueRef::Text(text.as_bytes()),
            Value::Blob(bytes) => ValueRef::Blob(bytes),
        }))
    }
}

fn bound<'a>(params: &'a [&'a dyn Param]) -> impl Iterator<Item = Bound<'a>> {
    params.iter().map(|param| Bound(param.value()))
}

pub(super) fn execute(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&dyn Param],
) -> Result<usize, StoreError> {
    Ok(tx
        .prepare_cached(sql)?
        .execute(rusqlite::params_from_iter(bound(params)))?)
}

pub(super) fn each(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&dyn Param],
    each: &mut dyn FnMut(&Row<'_>) -> Result<bool, StoreError>,
) -> Result<(), StoreError> {
    let mut statement = tx.prepare_cached(sql)?;
    let mut rows = statement.query(rusqlite::params_from_iter(bound(params)))?;
    while let Some(row) = rows.next()? {
        if !each(&Row::Sqlite(row))? {
            break;
        }
    }
    Ok(())
}

pub(super) fn column<T>(
    row: &rusqlite::Row<'_>,
    index: usize,
    convert: impl FnOnce(Value<'_>) -> Result<T, String>,
) -> Result<Result<T, String>, StoreError> {
    let value = match row.get_ref(index)? {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(int) => Value::Int(int),
        ValueRef::Real(real) => return Ok(Err(format!("unexpected real number {real}"))),
        ValueRef::Text(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => Value::Text(text),
            Err(_) => return Ok(Err("text is not UTF-8".to_owned())),
        },
        ValueRef::Blob(bytes) => Value::Blob(bytes),
    };
    Ok(convert(value))
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
