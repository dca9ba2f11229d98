//! Usage reporting: each served call becomes one ledger record, queued without waiting and
//! sent to the vault in batches. Records are idempotent by request id, so a batch whose reply
//! was lost is simply sent again. Shutdown drains the queue before the router exits, within
//! the time it is given: what the vault has not taken by then is counted as dropped and
//! logged, never lost without a count.
//!
//! A queued record wakes the sender only when it starts a batch or fills one: while a batch
//! is due, the sender sleeps on its timer and takes what has queued when it wakes. Woken for
//! every record, it cost each request a wake-up of another worker thread.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use keyroute_proto::vault::v1::{RecordUsageRequest, UsageRecord};
use std::sync::Arc;

use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use keyroute_telemetry::metrics::{sampled_counter, sampled_gauge};
use prometheus_client::registry::Registry;

use crate::vault::VaultClient;

/// How many records may wait for the vault before new ones are dropped (and counted).
const QUEUE: usize = 100_000;
/// Records per `RecordUsage` call; the vault takes at most 1,000.
const BATCH: usize = 500;
/// Attempts for one batch while the vault is unreachable, during shutdown.
const FINAL_ATTEMPTS: u32 = 3;
/// The longest one `RecordUsage` call may take (shutdown's remaining time may cut it short).
const RECORD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long past its deadline [`UsageTask::finish`] waits for the drain before aborting it:
/// the drain keeps to the deadline itself, so this only guards against one that does not.
const ABORT_MARGIN: Duration = Duration::from_secs(1);

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct UsageCounters {
    pub sent: AtomicU64,
    /// Lost to a full queue, or still unsent when shutdown's time ran out.
    pub dropped: AtomicU64,
    pub rejected: AtomicU64,
    /// Batches the vault could not be reached for (they stay queued and are sent again).
    pub failed_sends: AtomicU64,
}

/// The handle requests use; cheap to share.
#[derive(Debug)]
pub struct UsageReporter {
    queue: mpsc::Sender<UsageRecord>,
    /// Told when a whole batch waits, so that it goes out before its time.
    full: Arc<Notify>,
    pub counters: Arc<UsageCounters>,
}

/// The background sender; [`UsageTask::finish`] flushes and stops it.
#[derive(Debug)]
pub struct UsageTask {
    /// The shutdown's deadline, once it began.
    stop: watch::Sender<Option<Instant>>,
    task: JoinHandle<()>,
}

impl UsageReporter {
    /// Registers the reporter's series: records sent, dropped, refused, failed sends, and
    /// how many records wait in the queue right now (read at each scrape).
    pub fn register(&self, registry: &mut Registry) {
        for (name, help, read) in [
            (
                "keyroute_router_usage_records_sent",
                "Usage records the vault accepted",
                (|c: &UsageCounters| &c.sent) as fn(&UsageCounters) -> &AtomicU64,
            ),
            (
                "keyroute_router_usage_records_dropped",
                "Usage records lost: to a full queue, or unsent when shutdown's time ran out",
                |c| &c.dropped,
            ),
            (
                "keyroute_router_usage_records_rejected",
                "Usage records the vault refused",
                |c| &c.rejected,
            ),
            (
                "keyroute_router_usage_send_failures",
                "Usage batches not delivered because the vault was unreachable (retried)",
                |c| &c.failed_sends,
            ),
        ] {
            let counters = self.counters.clone();
            registry.register(
                name,
                help,
                sampled_counter(move || read(&counters).load(Ordering::Relaxed)),
            );
        }
        // A weak sender: the registry must not keep the queue open after shutdown.
        let queue = self.queue.downgrade();
        registry.register(
            "keyroute_router_usage_records_queued",
            "Usage records waiting to be sent to the vault",
            sampled_gauge(move || {
                queue
                    .upgrade()
                    .map_or(0, |queue| (queue.max_capacity() - queue.capacity()) as u64)
            }),
        );
    }
}

impl UsageReporter {
    /// Starts the sender. `interval` bounds how long a record waits when traffic is light.
    pub fn start(vault: VaultClient, interval: Duration) -> (Self, UsageTask) {
        let (queue, receiver) = mpsc::channel(QUEUE);
        let (stop, stopping) = watch::channel(None);
        let full = Arc::new(Notify::new());
        let counters = Arc::new(UsageCounters::default());
        let sender = Sender {
            vault,
            receiver,
            full: full.clone(),
            interval,
            counters: counters.clone(),
        };
        let task = tokio::spawn(sender.run(stopping));
        (
            Self {
                queue,
                full,
                counters,
            },
            UsageTask { stop, task },
        )
    }

    /// Queues a record; never waits. A full queue (the vault down for a long time) drops it.
    pub fn report(&self, record: UsageRecord) {
        if let Err(error) = self.queue.try_send(record) {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            let record = error.into_inner();
            tracing::error!(request_id = %record.request_id, principal = %record.principal_id, cost_micros = record.cost_micros, "usage queue full; record dropped");
            return;
        }
        if self.queue.max_capacity() - self.queue.capacity() >= BATCH {
            // Wakes the sender if it waits for this; otherwise only leaves it a permit.
            self.full.notify_one();
        }
    }
}

impl UsageTask {
    /// Sends everything queued, then stops. What the vault has not taken within `within`
    /// (a batch in flight included) is counted as dropped and logged.
    pub async fn finish(self, within: Duration) {
        let deadline = Instant::now() + within;
        let _ = self.stop.send(Some(deadline));
        let mut task = self.task;
        if tokio::time::timeout_at(deadline + ABORT_MARGIN, &mut task)
            .await
            .is_err()
        {
            tracing::error!(within = ?within, "usage flush did not finish; unsent records are lost");
            task.abort();
        }
    }
}

/// The background half: takes queued records in batches and sends them.
struct Sender {
    vault: VaultClient,
    receiver: mpsc::Receiver<UsageRecord>,
    full: Arc<Notify>,
    interval: Duration,
    counters: Arc<UsageCounters>,
}

impl Sender {
    async fn run(mut self, mut stopping: watch::Receiver<Option<Instant>>) {
        let mut batch = Vec::with_capacity(BATCH);
        // When the batch goes out next: `interval` after its first record, at once when a
        // whole batch waits, or after a backoff when the vault could not be reached.
        let mut due: Option<Instant> = None;
        let mut backing_off = false;
        let mut backoff = Duration::from_millis(100);
        loop {
            let Some(at) = due else {
                // Nothing waits: the next record starts a batch.
                tokio::select! {
                    _ = stopping.wait_for(Option::is_some) => break,
                    received = self.receiver.recv_many(&mut batch, BATCH) => {
                        if received == 0 {
                            break;
                        }
                        due = Some(Instant::now() + self.interval);
                    }
                }
                continue;
            };
            // A batch is due: sleep until then, or until a whole batch waits (not while
            // backing off: the vault is unreachable and records only wait longer).
            tokio::select! {
                _ = stopping.wait_for(Option::is_some) => break,
                _ = tokio::time::sleep_until(at) => {}
                _ = self.full.notified(), if !backing_off => {}
            }
            self.take_queued(&mut batch);
            // A shutdown does not wait for a batch in flight: the drain sends again what it
            // holds, within the shutdown's time (the vault takes a record once).
            let sent = tokio::select! {
                sent = send(&mut self.vault, &mut batch, &self.counters) => sent,
                _ = stopping.wait_for(Option::is_some) => break,
            };
            if sent.is_ok() {
                (backing_off, backoff) = (false, Duration::from_millis(100));
                // What queued meanwhile: at once when it makes a whole batch, else in turn.
                let waiting = self.receiver.len();
                due = match waiting {
                    0 => None,
                    n if n >= BATCH => Some(Instant::now()),
                    _ => Some(Instant::now() + self.interval),
                };
            } else {
                due = Some(Instant::now() + backoff);
                backing_off = true;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
        // Ended by the last reporter going away rather than by `finish`: no deadline.
        let deadline = *stopping.borrow();
        self.drain(batch, deadline).await;
    }

    /// Moves queued records into `batch` until it is whole, without waiting.
    fn take_queued(&mut self, batch: &mut Vec<UsageRecord>) {
        while batch.len() < BATCH {
            match self.receiver.try_recv() {
                Ok(record) => batch.push(record),
                Err(_) => break,
            }
        }
    }

    /// Shutdown: no new records are accepted, everything queued goes out until `deadline`;
    /// what is left then is counted as dropped.
    async fn drain(mut self, mut waiting: Vec<UsageRecord>, deadline: Option<Instant>) {
        self.receiver.close();
        while let Some(record) = self.receiver.recv().await {
            waiting.push(record);
        }
        let mut lost = 0;
        for chunk in waiting.chunks(BATCH) {
            let mut chunk = chunk.to_vec();
            for attempt in 1..=FINAL_ATTEMPTS {
                let within = deadline.map_or(Some(RECORD_TIMEOUT), |deadline| {
                    deadline.checked_duration_since(Instant::now())
                });
                let Some(within) = within.filter(|w| !w.is_zero()) else {
                    break;
                };
                let send = send(&mut self.vault, &mut chunk, &self.counters);
                if let Ok(Ok(())) = tokio::time::timeout(within, send).await {
                    break;
                }
                if attempt < FINAL_ATTEMPTS {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            lost += chunk.len();
        }
        if lost > 0 {
            self.counters
                .dropped
                .fetch_add(lost as u64, Ordering::Relaxed);
            tracing::error!(
                records = lost,
                "usage records not delivered to the vault at shutdown; lost"
            );
        }
        tracing::info!(
            sent = self.counters.sent.load(Ordering::Relaxed),
            "usage reporter stopped"
        );
    }
}

/// Sends `batch`, emptying it unless the vault could not be reached. A batch the vault
/// refuses is split so that only the bad records are dropped. Cancel-safe: dropped at any
/// point, `batch` holds every record the vault has not answered for.
async fn send(
    vault: &mut VaultClient,
    batch: &mut Vec<UsageRecord>,
    counters: &UsageCounters,
) -> Result<(), ()> {
    if batch.is_empty() {
        return Ok(());
    }
    match record(vault, batch.clone()).await {
        Ok(()) => {
            counters
                .sent
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            batch.clear();
            Ok(())
        }
        Err(status) if transient(&status) => {
            counters.failed_sends.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(code = ?status.code(), message = status.message(), records = batch.len(), "usage batch not delivered; will retry");
            Err(())
        }
        Err(status) => {
            tracing::warn!(code = ?status.code(), message = status.message(), records = batch.len(), "vault refused a usage batch; sending one by one");
            let mut at = 0;
            while let Some(one) = batch.get(at).cloned() {
                match record(vault, vec![one.clone()]).await {
                    Ok(()) => {
                        counters.sent.fetch_add(1, Ordering::Relaxed);
                        batch.remove(at);
                    }
                    Err(status) if transient(&status) => at += 1,
                    Err(status) => {
                        tracing::error!(request_id = %one.request_id, principal = %one.principal_id, message = status.message(), "usage record refused; dropped");
                        counters.rejected.fetch_add(1, Ordering::Relaxed);
                        batch.remove(at);
                    }
                }
            }
            if batch.is_empty() { Ok(()) } else { Err(()) }
        }
    }
}

async fn record(vault: &mut VaultClient, records: Vec<UsageRecord>) -> Result<(), tonic::Status> {
    let mut request = tonic::Request::new(RecordUsageRequest { records });
    request.set_timeout(RECORD_TIMEOUT);
    vault.record_usage(request).await.map(|_| ())
}

fn transient(status: &tonic::Status) -> bool {
    use tonic::Code;
    matches!(
        status.code(),
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Unknown
            | Code::Cancelled
            | Code::Internal
            | Code::ResourceExhausted
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use keyroute_proto::vault::v1::{UsageRecord, UsageSource};
    use keyroute_test_support::TestVault;
    use keyroute_tls::ClientTls;

    use super::{BATCH, UsageReporter};

    fn record(n: usize, principal: &str) -> UsageRecord {
        UsageRecord {
            usage_id: format!("usage-{n}"),
            request_id: format!("request-{n}"),
            principal_id: principal.into(),
            credential_id: "cred_own".into(),
            credential_owner_id: principal.into(),
            source: UsageSource::Byok as i32,
            provider: "openai".into(),
            model: "gpt-4o-mini".into(),
            input_tokens: 10,
            output_tokens: 2,
            ..UsageRecord::default()
        }
    }

    /// A whole batch goes out before its interval (an hour here), without a record waking
    /// the sender each; the rest waits for the interval or, as here, the shutdown.
    #[tokio::test]
    async fn a_whole_batch_goes_out_at_once_and_the_rest_at_shutdown() {
        let vault = TestVault::start().await;
        let (user, _) = vault.user_with_token("ada").await;
        let tls = ClientTls::from_files(vault.pki.issue("router")).unwrap();
        let client = crate::vault::connect(&vault.addr.to_string(), tls).unwrap();
        let (reporter, task) = UsageReporter::start(client, Duration::from_secs(3600));

        for n in 0..BATCH + 7 {
            reporter.report(record(n, &user));
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while reporter.counters.sent.load(Ordering::Relaxed) < BATCH as u64 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the whole batch was not sent"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(reporter.counters.sent.load(Ordering::Relaxed), BATCH as u64);

        task.finish(Duration::from_secs(10)).await;
        assert_eq!(
            reporter.counters.sent.load(Ordering::Relaxed),
            BATCH as u64 + 7
        );
        assert_eq!(reporter.counters.dropped.load(Ordering::Relaxed), 0);
        assert_eq!(reporter.counters.rejected.load(Ordering::Relaxed), 0);
    }

    /// A vault that takes connections and never answers: shutdown gives up on time, the
    /// batch that was in flight included, and counts every record it could not deliver.
    /// (Before, one call's own timeout spent the whole shutdown and the records went
    /// uncounted.)
    #[tokio::test]
    async fn what_the_vault_has_not_taken_when_time_runs_out_is_counted() {
        let hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = hole.local_addr().unwrap();
        let (accepted, mut accepting) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((connection, _)) = hole.accept().await {
                let _ = accepted.send(connection);
            }
        });
        let pki = keyroute_tls::TestPki::new();
        let tls = ClientTls::from_files(pki.issue("router")).unwrap();
        let client = crate::vault::connect(&address.to_string(), tls).unwrap();
        let (reporter, task) = UsageReporter::start(client, Duration::from_secs(3600));

        for n in 0..BATCH + 7 {
            reporter.report(record(n, "ada"));
        }
        // The whole batch went out at once: its call is in flight, on a connection held.
        let _held = accepting.recv().await.unwrap();

        task.finish(Duration::from_secs(1)).await;
        assert_eq!(reporter.counters.sent.load(Ordering::Relaxed), 0);
        assert_eq!(
            reporter.counters.dropped.load(Ordering::Relaxed),
            BATCH as u64 + 7
        );
    }
}
