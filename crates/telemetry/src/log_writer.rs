//! Log lines leave the request threads: a formatted line is appended to a shared buffer, and
//! one writer thread writes what has gathered every few milliseconds. A request thread never
//! waits on stderr (a slow pipe, a paused `kubectl logs`), a busy gateway writes its access
//! lines in a few large writes instead of one syscall per line, and a line costs its logger
//! no wake-up of another thread while the writer is already due.
//!
//! Nothing is dropped: when the buffer passes [`Limits::cap`] bytes (stderr not keeping up),
//! the logging thread writes it out itself, as it would have waited on stderr without this.
//! [`LogFlush`] (held by the telemetry guard) writes out what is left before `main` returns.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::Thread;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// When the writer writes, and how much may wait for it.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long lines gather before the writer takes them.
    pub window: Duration,
    /// Buffered bytes at which the writer is woken before its window ends.
    pub wake: usize,
    /// Buffered bytes at which a logging thread writes them itself.
    pub cap: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            window: Duration::from_millis(10),
            wake: 256 * 1024,
            cap: 8 * 1024 * 1024,
        }
    }
}

/// Lines waiting for the writer, and whether it is parked waiting for one.
struct Pending {
    lines: Vec<u8>,
    parked: bool,
}

struct Shared<W> {
    pending: Mutex<Pending>,
    /// Held while lines are taken and written, so that they leave in the order they came.
    out: Mutex<W>,
    writer: Thread,
    limits: Limits,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<W: Write> Shared<W> {
    /// Writes every pending line. A failed write (stderr closed) has nowhere to be reported.
    fn drain(&self) {
        let mut out = lock(&self.out);
        let lines = std::mem::take(&mut lock(&self.pending).lines);
        if !lines.is_empty() {
            let _ = out.write_all(&lines);
            let _ = out.flush();
        }
    }

    fn push(&self, line: &[u8]) {
        let mut pending = lock(&self.pending);
        pending.lines.extend_from_slice(line);
        let size = pending.lines.len();
        let wake = std::mem::take(&mut pending.parked) || size >= self.limits.wake;
        drop(pending);
        if size >= self.limits.cap {
            self.drain();
        } else if wake {
            self.writer.unpark();
        }
    }
}

/// The [`MakeWriter`] the log layer formats into; cheap to clone.
pub struct LogWriter<W> {
    shared: Arc<Shared<W>>,
}

impl<W> Clone for LogWriter<W> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

/// Writes out pending lines when dropped.
pub struct LogFlush<W: Write> {
    shared: Arc<Shared<W>>,
}

impl<W: Write> std::fmt::Debug for LogFlush<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogFlush")
    }
}

impl<W: Write> Drop for LogFlush<W> {
    fn drop(&mut self) {
        self.shared.drain();
    }
}

impl<W: Write + Send + 'static> LogWriter<W> {
    /// A writer whose lines reach `out` from a thread of their own.
    pub fn spawn(out: W, limits: Limits) -> io::Result<(Self, LogFlush<W>)> {
        let (tx, rx) = std::sync::mpsc::channel::<Arc<Shared<W>>>();
        let writer = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || {
                if let Ok(shared) = rx.recv() {
                    write_lines(&shared);
                }
            })?;
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending {
                lines: Vec::new(),
                parked: false,
            }),
            out: Mutex::new(out),
            writer: writer.thread().clone(),
            limits,
        });
        // The thread only ends if this send fails, which it cannot: `rx` lives in it.
        let _ = tx.send(shared.clone());
        Ok((
            Self {
                shared: shared.clone(),
            },
            LogFlush { shared },
        ))
    }
}

/// The writer thread: writes what gathered, waits one window, and parks when nothing came.
/// It lives as long as the process (the subscriber holding the other end is global).
fn write_lines<W: Write>(shared: &Shared<W>) {
    loop {
        shared.drain();
        std::thread::sleep(shared.limits.window);
        let mut pending = lock(&shared.pending);
        if pending.lines.is_empty() {
            pending.parked = true;
            drop(pending);
            // A line pushed after the unlock unparks us; an unpark before the park makes
            // it return at once. Spurious returns only cost an empty drain.
            std::thread::park();
        }
    }
}

/// One log line being formatted; appended whole when dropped.
pub struct Line<'a, W: Write> {
    shared: &'a Shared<W>,
    text: Vec<u8>,
}

impl<W: Write> Write for Line<'_, W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.text.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<W: Write> Drop for Line<'_, W> {
    fn drop(&mut self) {
        if !self.text.is_empty() {
            self.shared.push(&self.text);
        }
    }
}

impl<'a, W: Write + 'a> MakeWriter<'a> for LogWriter<W> {
    type Writer = Line<'a, W>;

    fn make_writer(&'a self) -> Self::Writer {
        Line {
            shared: &self.shared,
            text: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output the test can read back.
    #[derive(Clone, Default)]
    struct Output(Arc<Mutex<Vec<u8>>>);

    impl Write for Output {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Output {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    /// Four threads log 1,000 lines each, every line in two writes.
    fn log_from_threads(limits: Limits) -> String {
        let out = Output::default();
        let (writer, flush) = LogWriter::spawn(out.clone(), limits).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..1_000 {
                        let mut line = writer.make_writer();
                        write!(line, "thread {t} ").unwrap();
                        writeln!(line, "line {i}").unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        drop(flush);
        out.text()
    }

    fn assert_whole_and_in_order(text: &str) {
        assert_eq!(text.lines().count(), 4_000);
        for t in 0..4 {
            let prefix = format!("thread {t} line ");
            let order: Vec<usize> = text
                .lines()
                .filter_map(|line| line.strip_prefix(&prefix))
                .map(|i| i.parse().unwrap())
                .collect();
            assert_eq!(order, (0..1_000).collect::<Vec<_>>(), "thread {t}");
        }
    }

    #[test]
    fn every_line_arrives_whole_and_in_order() {
        assert_whole_and_in_order(&log_from_threads(Limits::default()));
    }

    #[test]
    fn past_the_cap_loggers_write_themselves_and_keep_the_order() {
        let limits = Limits {
            window: Duration::from_secs(3600),
            wake: usize::MAX,
            cap: 100,
        };
        assert_whole_and_in_order(&log_from_threads(limits));
    }

    #[test]
    fn a_parked_writer_is_woken_by_the_next_line() {
        let out = Output::default();
        let limits = Limits {
            window: Duration::from_millis(1),
            ..Limits::default()
        };
        let (writer, _flush) = LogWriter::spawn(out.clone(), limits).unwrap();
        for i in 0..3 {
            writeln!(writer.make_writer(), "line {i}").unwrap();
            // No flush: the writer thread alone must write it out.
            let expected = format!("line {i}\n");
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while !out.text().contains(&expected) {
                assert!(
                    std::time::Instant::now() < deadline,
                    "line {i} never written"
                );
                std::thread::yield_now();
            }
        }
    }

    #[test]
    fn an_empty_line_writes_nothing() {
        let out = Output::default();
        let (writer, flush) = LogWriter::spawn(out.clone(), Limits::default()).unwrap();
        drop(writer.make_writer());
        drop(flush);
        assert!(out.text().is_empty());
    }
}
