//! Versioned schema migrations, applied in order at start, each in its own transaction.

use rusqlite::Connection;

use super::StoreError;

/// Every migration, in order. Append only: an applied migration never changes.
const MIGRATIONS: &[(u32, &str, &str)] = &[
    (
        1,
        "initial schema",
        include_str!("migrations/0001_initial.sql"),
    ),
    (
        2,
        "balances, usage and budgets",
        include_str!("migrations/0002_money.sql"),
    ),
];

/// The newest schema version this build knows.
pub(crate) fn latest() -> u32 {
    MIGRATIONS.last().map_or(0, |(version, _, _)| *version)
}

/// Brings the database to the newest schema; refuses a database from a newer build.
pub(crate) fn migrate(conn: &mut Connection, now: i64) -> Result<u32, StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            applied_at INTEGER NOT NULL
        )",
    )?;
    let current: u32 = conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |row| row.get(0),
    )?;
    if current > latest() {
        return Err(StoreError::Corrupt(format!(
            "database schema version {current} is newer than this vault supports ({})",
            latest()
        )));
    }
    for (version, name, sql) in MIGRATIONS
        .iter()
        .filter(|(version, _, _)| *version > current)
    {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![version, name, now],
        )?;
        tx.commit()?;
        tracing::info!(version, name, "applied schema migration");
    }
    Ok(latest())
}
