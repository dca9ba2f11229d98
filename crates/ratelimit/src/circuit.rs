//! Whether calls go to Redis: the circuit holds the live connection, or none while Redis is
//! down; then calls are decided locally without touching Redis, and one background probe
//! reconnects with growing backoff. Transitions are logged once each, never per call.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use redis::aio::MultiplexedConnection;
use tokio::sync::watch;

use crate::decision::Store;
use crate::error::StoreError;
use crate::limiter::Inner;
use crate::stats::bump;

/// The connection calls use, if Redis is believed up.
#[derive(Debug)]
pub(crate) struct Circuit {
    conn: ArcSwapOption<MultiplexedConnection>,
    /// A probe task is running (or being started).
    probing: AtomicBool,
    /// When Redis was lost; `None` while up, or before the first connection was tried.
    down_since: Mutex<Option<Instant>>,
    store: watch::Sender<Store>,
}

/// How the probe reports its first failure: a start that never reached Redis is announced
/// by the probe, a lost connection was announced when the circuit opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cause {
    Start,
    Lost,
}

impl Circuit {
    pub fn new(store: watch::Sender<Store>) -> Self {
        Self {
            conn: ArcSwapOption::empty(),
            probing: AtomicBool::new(false),
            down_since: Mutex::new(None),
            store,
        }
    }

    /// The connection to use, or `None`: decide locally.
    pub fn connection(&self) -> Option<Arc<MultiplexedConnection>> {
        self.conn.load_full()
    }

    fn mark_down(&self, err: &StoreError) {
        *self
            .down_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        self.store.send_replace(Store::Fallback);
        tracing::warn!(error = %err, "rate limit store unavailable, counting limits in this router");
    }

    /// Opens the circuit after `failed` failed, unless another call did already (or a probe
    /// put a new connection in since). Returns whether this call opened it.
    fn open(&self, failed: &Arc<MultiplexedConnection>, err: &StoreError) -> bool {
        let current = Some(Arc::clone(failed));
        let previous = self.conn.compare_and_swap(&current, None);
        let opened = previous
            .as_ref()
            .is_some_and(|previous| Arc::ptr_eq(previous, failed));
        if opened {
            self.mark_down(err);
        }
        opened
    }

    fn close(&self, conn: MultiplexedConnection) {
        // Published before probing ends: a call that fails on it meanwhile finds a probe
        // still marked running and starts none, but the next call finds no connection and
        // no probe, and starts one (`ensure_probe`).
        self.conn.store(Some(Arc::new(conn)));
        self.probing.store(false, Ordering::Release);
        self.store.send_replace(Store::Redis);
        match self
            .down_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            Some(since) => tracing::info!(
                down_ms = u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX),
                "rate limit store reachable again, limits shared across routers"
            ),
            None => tracing::info!("rate limit store connected, limits shared across routers"),
        }
    }

    fn is_probing(&self) -> bool {
        self.probing.load(Ordering::Acquire)
    }
}

/// Records a failed Redis call on `conn`: opens the circuit and starts the probe if this is
/// the first failure seen on that connection.
pub(crate) fn fail(inner: &Arc<Inner>, conn: &Arc<MultiplexedConnection>, err: &StoreError) {
    bump(&inner.stats.redis_errors);
    let Some(remote) = &inner.remote else { return };
    if remote.circuit.open(conn, err) {
        bump(&inner.stats.fallback_entries);
        start_probe(inner, inner.retry_backoff, Cause::Lost);
    }
}

/// Makes sure someone is bringing Redis back when no connection is held: normally a probe is
/// already running; after a start outside a tokio runtime, none was.
pub(crate) fn ensure_probe(inner: &Arc<Inner>) {
    if let Some(remote) = &inner.remote
        && !remote.circuit.is_probing()
    {
        start_probe(inner, Duration::ZERO, Cause::Start);
    }
}

/// Starts the background probe unless one runs; it stops when the limiter is dropped.
pub(crate) fn start_probe(inner: &Arc<Inner>, first_delay: Duration, cause: Cause) {
    let Some(remote) = &inner.remote else { return };
    if remote.circuit.probing.swap(true, Ordering::AcqRel) {
        return;
    }
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(probe(Arc::downgrade(inner), first_delay, cause));
        }
        // No runtime to run it on: the next call made inside one starts it.
        Err(_) => remote.circuit.probing.store(false, Ordering::Release),
    }
}

/// Marks the probe over if its task ends without reconnecting (its runtime shut down), so that
/// a later call starts another instead of waiting on one that is gone.
struct Running {
    inner: Weak<Inner>,
    armed: bool,
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.armed
            && let Some(inner) = self.inner.upgrade()
            && let Some(remote) = &inner.remote
        {
            remote.circuit.probing.store(false, Ordering::Release);
        }
    }
}

async fn probe(weak: Weak<Inner>, first_delay: Duration, cause: Cause) {
    let mut running = Running {
        inner: weak.clone(),
        armed: true,
    };
    let mut delay = first_delay;
    let mut attempt: u32 = 0;
    loop {
        tokio::time::sleep(delay).await;
        let Some(inner) = weak.upgrade() else { return };
        let Some(remote) = &inner.remote else { return };
        match remote.store.connect().await {
            Ok(conn) => {
                // `close` ends the probe; another may start at once, which this one's end
                // must not mark over.
                running.armed = false;
                remote.circuit.close(conn);
                return;
            }
            Err(err) => {
                attempt += 1;
                if attempt == 1 && cause == Cause::Start {
                    bump(&inner.stats.fallback_entries);
                    remote.circuit.mark_down(&err);
                } else {
                    tracing::debug!(error = %err, attempt, "rate limit store still unreachable");
                }
                delay = if delay.is_zero() {
                    inner.retry_backoff
                } else {
                    delay.saturating_mul(2).min(inner.max_retry_backoff)
                };
            }
        }
    }
}
