//! Versioned schema migrations, applied in order at start. SQLite applies each in its own
//! transaction; PostgreSQL applies all pending ones in one, under an advisory lock, so that
//! replicas starting together migrate once.

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
    (
        3,
        "usage keyed by usage id, request id a correlation",
        include_str!("migrations/0003_usage_ids.sql"),
    ),
    (
        4,
        "credential secrets record their aad version",
        include_str!("migrations/0004_credential_aad_version.sql"),
    ),
    // Version 5 was taken by work that landed as 7; no release ever applied a 5.
    (
        6,
        "tokens may expire, principals may be disabled",
        include_str!("migrations/0006_token_expiry_principal_disable.sql"),
    ),
    (
        7,
        "credit holds",
        include_str!("migrations/0007_credit_holds.sql"),
    ),
    (
        8,
        "usage keeps cache and reasoning tokens apart",
        include_str!("migrations/0008_usage_token_parts.sql"),
    ),
    (
        9,
        "tokens have a kind: api, session or sign-in",
        include_str!("migrations/0009_token_kinds.sql"),
    ),
    (
        10,
        "a session ends with the token it was started from",
        include_str!("migrations/0010_session_parents.sql"),
    ),
    (
        11,
        "credentials remember their last live test",
        include_str!("migrations/0011_credential_tests.sql"),
    ),
    (
        12,
        "running totals per owner and month and per day, raw usage prunable",
        include_str!("migrations/0012_usage_rollups.sql"),
    ),
    (
        13,
        "rate limits per user, org, key and managed model",
        include_str!("migrations/0013_rate_limits.sql"),
    ),
    (
        14,
        "raw usage rows lose two indexes nothing reads",
        include_str!("migrations/0014_usage_unread_indexes.sql"),
    ),
];

/// PostgreSQL's migrations: a baseline at 12 (the schema SQLite's 1 to 12 build), then the
/// same versions as SQLite's, each in PostgreSQL's dialect.
const POSTGRES_MIGRATIONS: &[(u32, &str, &str)] = &[
    (
        12,
        "the schema of SQLite's migrations 1 to 12",
        include_str!("migrations/postgres/0012_baseline.sql"),
    ),
    (
        13,
        "rate limits per user, org, key and managed model",
        include_str!("migrations/postgres/0013_rate_limits.sql"),
    ),
    (
        14,
        "raw usage rows lose two indexes nothing reads",
        include_str!("migrations/postgres/0014_usage_unread_indexes.sql"),
    ),
];

/// Any constant, the same in every replica: the advisory lock migrations take.
const MIGRATION_LOCK: i64 = 0x6b65_7972_6f75_7465;

/// The newest schema version this build knows.
pub(crate) fn latest() -> u32 {
    MIGRATIONS.last().map_or(0, |(version, _, _)| *version)
}

fn refuse_newer(current: u32) -> Result<(), StoreError> {
    if current > latest() {
        return Err(StoreError::Corrupt(format!(
            "database schema version {current} is newer than this vault supports ({})",
            latest()
        )));
    }
    Ok(())
}

/// Brings a PostgreSQL database to the newest schema; refuses one from a newer build.
pub(crate) fn migrate_postgres(client: &mut postgres::Client, now: i64) -> Result<u32, StoreError> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version BIGINT PRIMARY KEY,
            name TEXT NOT NULL,
            applied_at BIGINT NOT NULL
        )",
    )?;
    let current: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )?
        .try_get(0)?;
    let current = u32::try_from(current)
        .map_err(|_| StoreError::Corrupt(format!("schema version {current}")))?;
    refuse_newer(current)?;
    for (version, name, sql) in POSTGRES_MIGRATIONS
        .iter()
        .filter(|(version, _, _)| *version > current)
    {
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            &[&i64::from(*version), name, &now],
        )?;
        tracing::info!(version, name, "applied schema migration");
    }
    tx.commit()?;
    Ok(latest())
}

/// Brings a SQLite database to the newest schema; refuses one from a newer build.
pub(crate) fn migrate_sqlite(conn: &mut Connection, now: i64) -> Result<u32, StoreError> {
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
    refuse_newer(current)?;
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rusqlite::Connection;

    use super::{MIGRATIONS, POSTGRES_MIGRATIONS, latest, migrate_sqlite as migrate};

    /// Indexes that no query of any release since schema 12 reads: dropping one changes
    /// nothing the previous release reads or writes, only what its inserts maintain.
    const UNREAD_INDEXES: &[&str] = &["USAGE_BY_PRINCIPAL", "USAGE_BY_OWNER"];

    /// The rolling-upgrade rule (README, "Several replicas on PostgreSQL"): from schema 13 on
    /// a migration only adds, so the previous release keeps working on the new schema. The
    /// one exception: dropping an index in [`UNREAD_INDEXES`].
    #[test]
    fn migrations_after_the_postgres_baseline_only_add() {
        let later = MIGRATIONS
            .iter()
            .chain(POSTGRES_MIGRATIONS)
            .filter(|(version, _, _)| *version > 12);
        for (version, name, sql) in later {
            let mut code: String = sql
                .lines()
                .map(|line| line.split("--").next().unwrap_or_default())
                .collect::<Vec<_>>()
                .join(" ")
                .to_ascii_uppercase();
            for index in UNREAD_INDEXES {
                code = code.replace(&format!("DROP INDEX IF EXISTS {index};"), "");
            }
            for word in ["DROP ", "RENAME ", "ALTER COLUMN"] {
                assert!(
                    !code.contains(word),
                    "migration {version} ({name}) has {word:?}: split the change over two releases"
                );
            }
        }
    }

    #[test]
    fn both_dialects_end_at_the_same_version() {
        assert_eq!(POSTGRES_MIGRATIONS.last().map(|m| m.0), Some(latest()));
    }

    /// Migration 14 drops the two indexes of raw usage rows nothing reads, and keeps the
    /// ones pruning (`usage_by_time`) and audits by request (`usage_by_request`) use.
    #[test]
    fn raw_usage_keeps_only_the_indexes_something_reads() {
        let indexes = |conn: &Connection| -> Vec<String> {
            let mut statement = conn
                .prepare(
                    "SELECT name FROM sqlite_master WHERE type = 'index'
                     AND tbl_name = 'usage_records' AND name LIKE 'usage_by_%' ORDER BY name",
                )
                .unwrap();
            statement
                .query_map([], |row| row.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        let mut conn = database_at(13);
        assert_eq!(
            indexes(&conn),
            [
                "usage_by_owner",
                "usage_by_principal",
                "usage_by_request",
                "usage_by_time"
            ]
        );
        assert_eq!(migrate(&mut conn, 5).unwrap(), latest());
        assert_eq!(indexes(&conn), ["usage_by_request", "usage_by_time"]);
    }

    /// A database as migration `version` left it, foreign keys off so rows can stand alone.
    fn database_at(version: u32) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,
             applied_at INTEGER NOT NULL)",
        )
        .unwrap();
        for (applied, name, sql) in MIGRATIONS.iter().filter(|(v, _, _)| *v <= version) {
            conn.execute_batch(sql).unwrap();
            conn.execute(
                "INSERT INTO schema_migrations VALUES (?1, ?2, 0)",
                rusqlite::params![applied, name],
            )
            .unwrap();
        }
        conn
    }

    #[test]
    fn usage_rows_keep_their_request_id_as_usage_id_and_ids_may_repeat_after() {
        let mut conn = database_at(2);
        conn.execute(
            "INSERT INTO usage_records VALUES ('req-old', 1, '1970-01', 'usr_a', 'cred_a',
             'platform', 'managed', 'openai', 'gpt-4o', 10, 2, 7)",
            [],
        )
        .unwrap();

        assert_eq!(migrate(&mut conn, 5).unwrap(), latest());
        let (usage_id, request_id, cost): (String, String, i64) = conn
            .query_row(
                "SELECT usage_id, request_id, cost_micros FROM usage_records",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .unwrap();
        assert_eq!(
            (usage_id.as_str(), request_id.as_str(), cost),
            ("req-old", "req-old", 7)
        );
        // The request id is a plain column now: another attempt under it is another row.
        conn.execute(
            "INSERT INTO usage_records (usage_id, request_id, time, month, principal_id,
             credential_id, credential_owner, source, provider, model, input_tokens,
             output_tokens, cost_micros) VALUES ('use-2', 'req-old', 2, '1970-01', 'usr_a',
             'cred_a', 'platform', 'managed', 'openai', 'gpt-4o', 10, 2, 7)",
            [],
        )
        .unwrap();
        let rows: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM usage_records WHERE request_id = 'req-old'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(rows, 2);
    }

    #[test]
    fn usage_rows_from_before_token_parts_read_as_zero_and_parts_stay_within_wholes() {
        let mut conn = database_at(7);
        conn.execute(
            "INSERT INTO usage_records VALUES ('use-old', 'req-old', 1, '1970-01', 'usr_a',
             'cred_a', 'platform', 'managed', 'openai', 'gpt-4o', 10, 2, 7)",
            [],
        )
        .unwrap();

        assert_eq!(migrate(&mut conn, 5).unwrap(), latest());
        let parts: (i64, i64, i64, i64, i64) = conn
            .query_row(
                "SELECT cache_read_tokens, cache_write_tokens, cache_write_1h_tokens,
                 reasoning_tokens, input_tokens FROM usage_records",
                [],
                |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                    ))
                },
            )
            .unwrap();
        assert_eq!(parts, (0, 0, 0, 0, 10));
        // The table itself refuses negative parts and more 1-hour writes than writes.
        for (read, write, write_1h, reasoning) in [(-1, 0, 0, 0), (0, 1, 2, 0), (0, 0, 0, -3)] {
            let refused = conn.execute(
                "INSERT INTO usage_records (usage_id, request_id, time, month, principal_id,
                 credential_id, credential_owner, source, provider, model, input_tokens,
                 output_tokens, cost_micros, cache_read_tokens, cache_write_tokens,
                 cache_write_1h_tokens, reasoning_tokens) VALUES ('bad', 'r', 1, '1970-01',
                 'usr_a', 'cred_a', 'platform', 'managed', 'openai', 'gpt-4o', 10, 5, 1,
                 ?1, ?2, ?3, ?4)",
                rusqlite::params![read, write, write_1h, reasoning],
            );
            assert!(refused.is_err(), "{read} {write} {write_1h} {reasoning}");
        }
    }

    #[test]
    fn running_totals_start_from_the_rows_already_recorded() {
        let mut conn = database_at(11);
        // usr_a: a managed call and a call with its own key on 1 January; usr_b: a call with
        // org_x's key in February (31 days later).
        conn.execute_batch(
            "INSERT INTO usage_records (usage_id, request_id, time, month, principal_id,
              credential_id, credential_owner, source, provider, model, input_tokens,
              output_tokens, cost_micros, cache_read_tokens) VALUES
             ('u1', 'r1', 1000, '1970-01', 'usr_a', 'c1', 'platform', 'managed', 'openai', 'gpt-4o', 10, 2, 7, 3),
             ('u2', 'r2', 2000, '1970-01', 'usr_a', 'c2', 'usr_a', 'byok', 'openai', 'gpt-4o', 5, 1, 3, 0),
             ('u3', 'r3', 2678400000, '1970-02', 'usr_b', 'c3', 'org_x', 'byok', 'anthropic', 'claude', 8, 8, 5, 0);",
        )
        .unwrap();

        assert_eq!(migrate(&mut conn, 5).unwrap(), latest());
        let spend = |owner: &str, month: &str| -> i64 {
            conn.query_row(
                "SELECT micros FROM spend_by_month WHERE owner_id = ?1 AND month = ?2",
                [owner, month],
                |row| row.get(0),
            )
            .unwrap()
        };
        assert_eq!(spend("usr_a", "1970-01"), 10);
        assert_eq!(spend("platform", "1970-01"), 7);
        assert_eq!(spend("usr_b", "1970-02"), 5);
        assert_eq!(spend("org_x", "1970-02"), 5);
        let lines: Vec<(String, String, i64, i64, i64)> = conn
            .prepare(
                "SELECT day, source, requests, input_tokens, cache_read_tokens FROM usage_daily
                 WHERE owner_id = 'usr_a' ORDER BY source",
            )
            .unwrap()
            .query_map([], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                ))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            lines,
            vec![
                ("1970-01-01".to_owned(), "byok".to_owned(), 1, 5, 0),
                ("1970-01-01".to_owned(), "managed".to_owned(), 1, 10, 3),
            ]
        );
    }
}
