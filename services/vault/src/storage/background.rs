//! Writes no request waits on (usage batches, pruning) run on threads of their own at a
//! lower CPU priority. A batch of 500 usage records is about 2 ms of CPU on SQLite; run at
//! the priority of the threads answering requests, each batch held up the requests that
//! shared its core on a busy machine (the p99 at 2,000 req/s fell from ~1.3 to ~0.9 ms when
//! these threads were reniced). Given less weight, the batch yields to them instead, and
//! still gets the CPU whenever they sleep.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use super::StoreError;

/// How much lower than the request threads (a `nice` increment): about a third of their
/// weight under Linux's scheduler. Ten (a tenth) would starve the ledger at saturation,
/// where every core is busy and usage records arrive fastest.
const NICENESS: i32 = 5;
/// Threads in the pool: writes serialize on SQLite anyway; on PostgreSQL two let a batch
/// commit while the next is written.
const THREADS: usize = 2;

type Job = Box<dyn FnOnce() + Send>;

/// The low-priority threads; they stop when the last handle is dropped.
#[derive(Debug)]
pub(super) struct Background {
    jobs: Mutex<mpsc::Sender<Job>>,
}

impl Background {
    /// Starts the threads. Failing to lower their priority is logged, not fatal: the writes
    /// are right either way.
    pub(super) fn start() -> Result<Arc<Self>, StoreError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..THREADS {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("vault-background-{index}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(poison) => poison.into_inner().recv(),
                        };
                        let Ok(job) = job else { return };
                        job();
                    }
                })
                .map_err(|error| StoreError::Task(format!("cannot start a thread: {error}")))?;
        }
        Ok(Arc::new(Self {
            jobs: Mutex::new(jobs),
        }))
    }

    /// Runs `work` on a background thread and waits for its answer.
    pub(super) async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, StoreError> + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = answer.send(work());
        });
        let sent = match self.jobs.lock() {
            Ok(jobs) => jobs.send(job),
            Err(poison) => poison.into_inner().send(job),
        };
        sent.map_err(|_| StoreError::Task("the background threads stopped".to_owned()))?;
        answered
            .await
            .map_err(|_| StoreError::Task("a background write was lost".to_owned()))?
    }
}

#[cfg(target_os = "linux")]
fn lower_priority() {
    let thread = rustix::thread::gettid();
    if let Err(error) = rustix::process::setpriority_process(Some(thread), NICENESS) {
        tracing::warn!(%error, "cannot lower the background writer's priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

#[cfg(test)]
mod tests {
    use super::Background;
    use crate::storage::StoreError;

    #[tokio::test]
    async fn work_runs_on_a_lower_priority_thread_and_answers() {
        let pool = Background::start().expect("threads start");
        let (name, nice) = pool
            .run(|| {
                let name = std::thread::current().name().map(str::to_owned);
                let nice = rustix::process::getpriority_process(Some(rustix::thread::gettid()));
                Ok((name, nice.ok()))
            })
            .await
            .expect("answered");
        assert!(name.is_some_and(|name| name.starts_with("vault-background-")));
        assert_eq!(nice, Some(super::NICENESS));
        let failed = pool
            .run(|| Err::<(), _>(StoreError::Conflict("no".into())))
            .await;
        assert!(matches!(failed, Err(StoreError::Conflict(_))));
    }
}
