//! PostgreSQL, for several vault replicas on one database. Every write transaction is
//! `SERIALIZABLE`: concurrent replicas get the outcome of some one-at-a-time order, which is
//! what SQLite's single writer gives, so balances, holds and budgets stay exact. A
//! transaction that loses a conflict (serialization failure, deadlock, a unique key taken by
//! a concurrent insert) is run again from the start, a few times, with a short backoff.
//! Reads run in `REPEATABLE READ READ ONLY` transactions: one consistent snapshot each.
//! Connections are plaintext or, with `sslmode=verify-full`, TLS ([`super::postgres_tls`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ::postgres::error::SqlState;
use ::postgres::fallible_iterator::FallibleIterator;
use ::postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use ::postgres::{Client, Config, IsolationLevel, Statement};
use bytes::BytesMut;

use super::StoreError;
use super::postgres_settings::PostgresSettings;
use super::postgres_tls::{self, MakeRustls};
use super::sql::{Param, Row, Tx, Value, numbered_for_postgres};

/// How many idle connections each replica keeps.
const POOL: usize = 8;
/// How many connections each replica has open at most: transactions past that wait for
/// one. Unbounded, a burst of concurrent calls (each transaction runs on a blocking thread
/// of its own) opened one connection per call until PostgreSQL refused more ("too many
/// clients"); past a few per core, more connections only add contention.
const MAX_OPEN: usize = 16;
/// How long a transaction waits for a connection before failing.
const CHECKOUT_WAIT: Duration = Duration::from_secs(30);
/// How many times a transaction that lost a conflict is run again before giving up.
const RETRIES: u32 = 12;

impl From<::postgres::Error> for StoreError {
    fn from(error: ::postgres::Error) -> Self {
        // The message and code only: a constraint's detail would quote the row's values.
        let Some(db) = error.as_db_error() else {
            return Self::Backend(error.to_string());
        };
        let text = format!("{} ({})", db.message(), db.code().code());
        let code = db.code();
        if *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
            || *code == SqlState::UNIQUE_VIOLATION
        {
            Self::Contention(text)
        } else {
            Self::Backend(text)
        }
    }
}

/// Idle connections, and how many are open in all (idle or in use).
#[derive(Default)]
struct Pool {
    idle: Vec<Connection>,
    open: usize,
}

/// A connection and the statements prepared on it.
struct Connection {
    client: Client,
    statements: HashMap<String, Statement>,
}

/// One transaction on a pooled connection.
pub(crate) struct PgTx<'a> {
    tx: ::postgres::Transaction<'a>,
    statements: &'a mut HashMap<String, Statement>,
}

impl PgTx<'_> {
    fn statement(&mut self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.tx.prepare(&numbered_for_postgres(sql))?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    pub(crate) fn execute_batch(&mut self, sql: &str) -> Result<(), StoreError> {
        Ok(self.tx.batch_execute(sql)?)
    }

    pub(crate) fn execute(
        &mut self,
        sql: &str,
        params: &[&dyn Param],
    ) -> Result<usize, StoreError> {
        let statement = self.statement(sql)?;
        let bound = bind(params);
        let changed = self.tx.execute(&statement, &refs(&bound))?;
        Ok(usize::try_from(changed).unwrap_or(usize::MAX))
    }

    pub(crate) fn each(
        &mut self,
        sql: &str,
        params: &[&dyn Param],
        each: &mut dyn FnMut(&Row<'_>) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let statement = self.statement(sql)?;
        let bound = bind(params);
        for row in self.tx.query(&statement, &refs(&bound))? {
            if !each(&Row::Postgres(&row))? {
                break;
            }
        }
        Ok(())
    }
}

fn bind<'a>(params: &'a [&'a dyn Param]) -> Vec<Bound<'a>> {
    params.iter().map(|param| Bound(param.value())).collect()
}

fn refs<'a>(bound: &'a [Bound<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    bound.iter().map(|b| b as &(dyn ToSql + Sync)).collect()
}

/// A parameter as PostgreSQL binds it: integers take the width the statement asks for.
#[derive(Debug)]
struct Bound<'a>(Value<'a>);

impl ToSql for Bound<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self.0 {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(int) => match *ty {
                Type::INT8 => int.to_sql(ty, out),
                Type::INT4 => i32::try_from(int)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(int)?.to_sql(ty, out),
                Type::BOOL => (int != 0).to_sql(ty, out),
                _ => Err(format!("an integer cannot be bound as {ty}").into()),
            },
            Value::Text(text) => text.to_sql(ty, out),
            Value::Blob(bytes) => bytes.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

pub(super) fn column<T>(
    row: &::postgres::Row,
    index: usize,
    convert: impl FnOnce(Value<'_>) -> Result<T, String>,
) -> Result<Result<T, String>, StoreError> {
    let Some(column) = row.columns().get(index) else {
        return Err(StoreError::Backend(format!("no column {index}")));
    };
    let ty = column.type_().clone();
    let value = match ty {
        Type::INT8 => row
            .try_get::<_, Option<i64>>(index)?
            .map_or(Value::Null, Value::Int),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(index)?
            .map_or(Value::Null, |int| Value::Int(i64::from(int))),
        Type::INT2 => row
            .try_get::<_, Option<i16>>(index)?
            .map_or(Value::Null, |int| Value::Int(i64::from(int))),
        Type::BOOL => row
            .try_get::<_, Option<bool>>(index)?
            .map_or(Value::Null, |b| Value::Int(i64::from(b))),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => row
            .try_get::<_, Option<&str>>(index)?
            .map_or(Value::Null, Value::Text),
        Type::BYTEA => row
            .try_get::<_, Option<&[u8]>>(index)?
            .map_or(Value::Null, Value::Blob),
        other => return Ok(Err(format!("unexpected column type {other}"))),
    };
    Ok(convert(value))
}

/// The shared database and this replica's connections to it.
pub(super) struct Postgres {
    /// As given, for logs (no password).
    url: String,
    /// verify-full's TLS; `None`: plaintext.
    tls: Option<MakeRustls>,
    config: Config,
    pool: Mutex<Pool>,
    /// Signalled when a connection is returned or closed.
    returned: std::sync::Condvar,
    /// Set when the store is dropped: the change listener stops.
    closed: Arc<AtomicBool>,
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::Relaxed);
        // Closing a connection blocks on its own runtime, which tokio forbids on an async
        // worker, where the last handle on the store may well be dropped.
        let idle = std::mem::take(
            &mut self
                .pool
                .get_mut()
                .unwrap_or_else(|poison| poison.into_inner())
                .idle,
        );
        if !idle.is_empty() {
            let _ = std::thread::Builder::new()
                .name("vault-close".into())
                .spawn(move || drop(idle));
        }
    }
}

impl Postgres {
    /// Connects and brings the schema up to date (one replica at a time). Blocking.
    pub(super) fn open(settings: &PostgresSettings, now: i64) -> Result<Self, StoreError> {
        let config = settings.config()?;
        let store = Self {
            url: settings.url.clone(),
            tls: settings.tls.clone(),
            config,
            pool: Mutex::new(Pool::default()),
            returned: std::sync::Condvar::new(),
            closed: Arc::new(AtomicBool::new(false)),
        };
        let mut conn = store.checkout()?;
        super::migrations::migrate_postgres(&mut conn.client, now)?;
        store.checkin(conn);
        Ok(store)
    }

    pub(super) fn url(&self) -> &str {
        &self.url
    }

    fn connect(&self) -> Result<Connection, StoreError> {
        Ok(Connection {
            client: postgres_tls::connect(&self.config, self.tls.as_ref())?,
            statements: HashMap::new(),
        })
    }

    fn pool(&self) -> std::sync::MutexGuard<'_, Pool> {
        self.pool
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// An idle connection, a new one while fewer than [`MAX_OPEN`] are open, or the first
    /// one returned within [`CHECKOUT_WAIT`].
    fn checkout(&self) -> Result<Connection, StoreError> {
        let deadline = std::time::Instant::now() + CHECKOUT_WAIT;
        let mut pool = self.pool();
        loop {
            match pool.idle.pop() {
                Some(conn) if conn.client.is_closed() => {
                    pool.open -= 1;
                    continue;
                }
                Some(conn) => return Ok(conn),
                None => {}
            }
            if pool.open < MAX_OPEN {
                pool.open += 1;
                drop(pool);
                return self.connect().inspect_err(|_| self.forget());
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return Err(StoreError::Backend(format!(
                    "no database connection free within {} s ({MAX_OPEN} in use)",
                    CHECKOUT_WAIT.as_secs()
                )));
            }
            pool = self
                .returned
                .wait_timeout(pool, deadline - now)
                .unwrap_or_else(|poison| poison.into_inner())
                .0;
        }
    }

    /// Returns a connection: kept idle, or closed when enough are idle or it is broken.
    fn checkin(&self, conn: Connection) {
        let mut pool = self.pool();
        if conn.client.is_closed() || pool.idle.len() >= POOL {
            pool.open -= 1;
        } else {
            pool.idle.push(conn);
        }
        drop(pool);
        self.returned.notify_one();
    }

    /// A connection counted open that was never made or is gone.
    fn forget(&self) {
        self.pool().open -= 1;
        self.returned.notify_one();
    }

    /// Runs `work` in one serializable transaction, again from the start when it loses a
    /// conflict with another transaction (this replica's or another's). Blocking.
    pub(super) fn write<T>(
        &self,
        work: &dyn Fn(&Tx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut attempt = 0;
        loop {
            let mut conn = self.checkout()?;
            let outcome = run(&mut conn, IsolationLevel::Serializable, false, work);
            self.checkin(conn);
            match outcome {
                Err(StoreError::Contention(reason)) if attempt < RETRIES => {
                    attempt += 1;
                    tracing::debug!(attempt, %reason, "transaction lost a conflict, running it again");
                    std::thread::sleep(backoff(attempt));
                }
                other => return other,
            }
        }
    }

    /// Runs `work` in a read-only snapshot. Blocking.
    pub(super) fn read<T>(
        &self,
        work: &dyn Fn(&Tx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.checkout()?;
        let outcome = run(&mut conn, IsolationLevel::RepeatableRead, true, work);
        self.checkin(conn);
        outcome
    }

    /// Tells every replica listening on `channel`, through the database. Blocking.
    pub(super) fn notify(&self, channel: &str, payload: &str) -> Result<(), StoreError> {
        let mut conn = self.checkout()?;
        let sent = conn
            .client
            .execute("SELECT pg_notify($1, $2)", &[&channel, &payload]);
        self.checkin(conn);
        sent.map(|_| ()).map_err(StoreError::from)
    }

    /// Listens on `channel` (when this returns, every later notification is heard), then
    /// starts a thread that calls `on_event` with each notification from any replica, and
    /// with `None` whenever it had to reconnect: notifications sent while it was away are
    /// lost, so the caller treats that as "anything may have changed". Blocking.
    pub(super) fn listen(
        &self,
        channel: &'static str,
        on_event: super::ChangeListener,
    ) -> Result<(), StoreError> {
        let tls = self.tls.clone();
        let mut client = postgres_tls::connect(&self.config, tls.as_ref())?;
        client.batch_execute(&format!("LISTEN {channel}"))?;
        let config = self.config.clone();
        let closed = self.closed.clone();
        std::thread::Builder::new()
            .name("vault-listen".into())
            .spawn(move || {
                listen_loop(
                    client,
                    (&config, tls.as_ref()),
                    channel,
                    &closed,
                    &*on_event,
                );
            })
            .map(|_| ())
            .map_err(|error| StoreError::Task(error.to_string()))
    }
}

fn run<T>(
    conn: &mut Connection,
    isolation: IsolationLevel,
    read_only: bool,
    work: &dyn Fn(&Tx<'_>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let Connection { client, statements } = conn;
    let tx = client
        .build_transaction()
        .isolation_level(isolation)
        .read_only(read_only)
        .start()?;
    let tx = Tx::Postgres(std::cell::RefCell::new(PgTx { tx, statements }));
    let value = work(&tx);
    let Tx::Postgres(cell) = tx else {
        return Err(StoreError::Backend("transaction changed kind".into()));
    };
    let pg = cell.into_inner();
    match value {
        Ok(value) => {
            pg.tx.commit()?;
            Ok(value)
        }
        Err(error) => {
            // A failed rollback leaves the connection closed; the pool drops it.
            let _ = pg.tx.rollback();
            Err(error)
        }
    }
}

/// 2, 4, 8 … ms, at most 100 ms, spread so that replicas that collided do not again.
fn backoff(attempt: u32) -> Duration {
    let base = 2_u64.saturating_pow(attempt.min(6)).min(100);
    let spread = u64::from(std::process::id() ^ attempt.wrapping_mul(2_654_435_761)) % base.max(1);
    Duration::from_millis(base + spread)
}

/// Where the listener connects: the config, and TLS when verify-full.
type Target<'a> = (&'a Config, Option<&'a MakeRustls>);

fn relisten((config, tls): Target<'_>, channel: &str) -> Result<Client, StoreError> {
    let mut client = postgres_tls::connect(config, tls)?;
    client.batch_execute(&format!("LISTEN {channel}"))?;
    Ok(client)
}

fn listen_loop(
    first: Client,
    target: Target<'_>,
    channel: &str,
    closed: &AtomicBool,
    on_event: &dyn Fn(Option<&str>),
) {
    let mut failures = 0_u32;
    let mut connected = Some(first);
    while !closed.load(Ordering::Relaxed) {
        let mut client = match connected.take() {
            Some(client) => client,
            None => match relisten(target, channel) {
                Ok(client) => {
                    tracing::info!(failures, "listening for changes again");
                    failures = 0;
                    on_event(None);
                    client
                }
                Err(error) => {
                    failures += 1;
                    tracing::warn!(%error, failures, "cannot listen for changes");
                    std::thread::sleep(backoff(failures).max(Duration::from_millis(200)));
                    continue;
                }
            },
        };
        loop {
            if closed.load(Ordering::Relaxed) {
                return;
            }
            let next = client
                .notifications()
                .timeout_iter(Duration::from_millis(500))
                .next();
            match next {
                Ok(Some(notification)) => on_event(Some(notification.payload())),
                Ok(None) if client.is_closed() => break,
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(error = %StoreError::from(error), "lost the change listener's connection");
                    break;
                }
            }
        }
        failures += 1;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::{MAX_OPEN, Postgres, PostgresSettings};

    /// Each transaction runs on a blocking thread of its own; a burst of them once opened a
    /// connection each until PostgreSQL refused more ("too many clients").
    #[test]
    fn a_burst_of_transactions_never_has_more_than_max_open_connections() {
        let db = keyroute_test_servers::postgres::database();
        let settings =
            PostgresSettings::new(&db.url(), Some(db.password().to_owned().into())).unwrap();
        let store = Arc::new(Postgres::open(&settings, 0).unwrap());
        let (running, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let threads: Vec<_> = (0..64)
            .map(|_| {
                let (store, running, peak) = (store.clone(), running.clone(), peak.clone());
                std::thread::spawn(move || {
                    store.read(&|_| {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(50));
                        running.fetch_sub(1, Ordering::SeqCst);
                        Ok(())
                    })
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap().unwrap();
        }
        let peak = peak.load(Ordering::SeqCst);
        assert!(peak <= MAX_OPEN, "{peak} connections in use at once");
        assert!(peak > 1, "the transactions never overlapped");
    }
}
