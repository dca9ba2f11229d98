//! Connection threads: one single-threaded tokio runtime per core the process may use, each
//! serving the connections it is handed. A connection, and whatever its requests call (the
//! router in `keyroute dev`, upstream connections, the edge's channel to a router), stays on
//! one thread. On tokio's work-stealing runtime each request woke other worker threads
//! several times, and on a virtual machine each such wake-up costs tens of microseconds
//! (measured at 2,000 req/s: ~170 µs of CPU per request against ~130 µs on one thread).
//!
//! Accepted connections are dealt out in turn as std sockets, so that each registers with
//! the reactor of the thread that serves it: registered with another runtime's, every read
//! would wake that runtime first. Background work (refreshes, usage reports, metrics) stays
//! on the work-stealing runtime.

use std::future::Future;
use std::net::SocketAddr;
use std::num::NonZeroUsize;

use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// An accepted connection as handed to a thread: the socket and the peer's address.
pub type Handed = (std::net::TcpStream, SocketAddr);

/// What a connection thread receives; ends when the threads are joined or dropped.
pub type HandedConnections = mpsc::UnboundedReceiver<Handed>;

/// The running threads, each serving what it is handed; `T` is what each thread's serving
/// ends with.
#[derive(Debug)]
pub struct ConnectionThreads<T> {
    hands: Vec<mpsc::UnboundedSender<Handed>>,
    next: usize,
    threads: Vec<std::thread::JoinHandle<T>>,
}

impl<T: Send + 'static> ConnectionThreads<T> {
    /// `count` threads (by default one per core the process may use, see
    /// [`default_count`]), named `{name}-{index}`, each running the future `serve` makes on
    /// a runtime of its own. The future is polled only there.
    pub fn start<Serving>(
        name: &str,
        count: Option<NonZeroUsize>,
        mut serve: impl FnMut(HandedConnections) -> Serving,
    ) -> std::io::Result<Self>
    where
        Serving: Future<Output = T> + Send + 'static,
    {
        let count = count.map_or_else(default_count, NonZeroUsize::get);
        let mut threads = Self {
            hands: Vec::with_capacity(count),
            next: 0,
            threads: Vec::with_capacity(count),
        };
        for index in 0..count {
            let (hand, handed) = mpsc::unbounded_channel();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let serving = serve(handed);
            let thread = std::thread::Builder::new()
                .name(format!("{name}-{index}"))
                .spawn(move || runtime.block_on(serving))?;
            threads.hands.push(hand);
            threads.threads.push(thread);
        }
        Ok(threads)
    }

    /// Gives an accepted connection to the next thread.
    pub fn hand_over(&mut self, tcp: TcpStream, remote: SocketAddr) {
        let tcp = match tcp.into_std() {
            Ok(tcp) => tcp,
            Err(error) => {
                tracing::debug!(%remote, %error, "cannot hand over a connection");
                return;
            }
        };
        self.next = (self.next + 1) % self.hands.len();
        if self.hands[self.next].send((tcp, remote)).is_err() {
            tracing::error!("a connection thread stopped; connection dropped");
        }
    }

    /// Stops handing over (each thread's [`HandedConnections`] ends) and waits for every
    /// thread to finish: what each ended with, `None` for one that panicked.
    pub async fn join(self) -> Vec<Option<T>> {
        let Self { hands, threads, .. } = self;
        drop(hands);
        let mut outcomes = Vec::with_capacity(threads.len());
        for thread in threads {
            let joined = tokio::task::spawn_blocking(move || thread.join().ok()).await;
            outcomes.push(joined.ok().flatten());
        }
        outcomes
    }
}

/// One per core the process may use: `available_parallelism`, so a container's CPU limit
/// or affinity counts. Each thread keeps its own upstream connections and router channels,
/// so on a host with many cores a smaller count (`--connection-threads`) keeps fewer.
pub fn default_count() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

/// Whether this code runs on a connection thread (a single-threaded runtime): clients that
/// keep connections per thread (so a call never wakes another thread) ask this.
pub fn on_connection_thread() -> bool {
    tokio::runtime::Handle::try_current().is_ok_and(|runtime| {
        runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use super::*;

    /// This process's threads whose name starts with `prefix`.
    fn threads_named(prefix: &str) -> usize {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
            .filter(|name| name.starts_with(prefix))
            .count()
    }

    /// Each thread registers what it is handed with its own runtime: the runtime that
    /// started the threads and accepted the connections is never driven while they are
    /// read. The threads end with their outcomes once joined.
    #[test]
    fn connections_are_dealt_out_served_on_their_thread_and_threads_end_when_joined() {
        let cores = default_count();
        let starter = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (read, reads) = std::sync::mpsc::channel();
        let (mut threads, listener) = starter.block_on(async {
            let threads = ConnectionThreads::start("serve-test", None, |mut handed| {
                let read = read.clone();
                async move {
                    let mut served = 0;
                    while let Some((tcp, _)) = handed.recv().await {
                        let mut tcp = TcpStream::from_std(tcp).unwrap();
                        let mut byte = [0u8; 1];
                        tokio::io::AsyncReadExt::read_exact(&mut tcp, &mut byte)
                            .await
                            .unwrap();
                        read.send((on_connection_thread(), byte[0])).unwrap();
                        served += 1;
                    }
                    (std::thread::current().name().unwrap().to_owned(), served)
                }
            });
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            (threads.unwrap(), listener)
        });
        assert!(!on_connection_thread());

        let addr = listener.local_addr().unwrap();
        let mut clients = Vec::new();
        for n in 0..2 * cores {
            let mut client = std::net::TcpStream::connect(addr).unwrap();
            std::io::Write::write_all(&mut client, &[u8::try_from(n).unwrap()]).unwrap();
            let (tcp, remote) = starter.block_on(listener.accept()).unwrap();
            threads.hand_over(tcp, remote);
            clients.push(client);
        }
        let mut all: Vec<u8> = (0..2 * cores)
            .map(|_| {
                let (on_thread, byte) = reads.recv_timeout(Duration::from_secs(10)).unwrap();
                assert!(on_thread);
                byte
            })
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..2 * cores).map(|n| n as u8).collect::<Vec<_>>());
        // Each has served, so each has named itself by now.
        assert_eq!(threads_named("serve-test-"), cores);

        let outcomes = starter.block_on(threads.join());
        assert_eq!(outcomes.len(), cores);
        for outcome in outcomes {
            let (name, served) = outcome.unwrap();
            assert!(name.starts_with("serve-test-"), "{name}");
            assert_eq!(served, 2, "dealt out in turn");
        }
    }

    #[test]
    fn as_many_threads_as_asked() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let threads =
            ConnectionThreads::start("serve-count", NonZeroUsize::new(3), |handed| async move {
                let mut handed = handed;
                while handed.recv().await.is_some() {}
            })
            .unwrap();
        let outcomes = runtime.block_on(threads.join());
        assert_eq!(outcomes.len(), 3);
        assert!(outcomes.iter().all(Option::is_some));
    }
}
