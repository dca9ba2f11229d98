//! Log lines leave the request threads: each formatted line is handed to one writer thread,
//! which writes whatever has queued up in one go and flushes when the queue is empty. A
//! request thread never waits on stderr (a slow pipe, a paused `kubectl logs`), and a busy
//! gateway writes its access lines in a few large writes instead of one syscall per line.
//!
//! Nothing is dropped: when the queue is full, the logging thread waits for room, as it
//! would have waited on stderr itself. [`LogFlush`] (held by the telemetry guard) writes out
//! what is queued before `main` returns.

use std::io::{self, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// Lines that may wait for the writer thread before loggers wait for it.
const QUEUE_LINES: usize = 65_536;
/// The writer thread's buffer: lines that queued up together leave in writes this large.
const WRITE_BUFFER: usize = 64 * 1024;
/// How long [`LogFlush`] waits for queued lines to be written at exit.
const FLUSH_WAIT: Duration = Duration::from_secs(5);

enum Message {
    Line(Vec<u8>),
    /// Everything sent before it is written; acknowledged on the channel.
    Flush(SyncSender<()>),
}

/// The [`MakeWriter`] the log layer formats into; cheap to clone.
#[derive(Clone)]
pub struct LogWriter {
    queue: SyncSender<Message>,
}

/// Writes out queued lines when dropped.
pub struct LogFlush {
    queue: SyncSender<Message>,
}

impl std::fmt::Debug for LogFlush {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogFlush")
    }
}

impl LogWriter {
    /// A writer whose lines reach `out` on a thread of their own.
    pub fn spawn<W: Write + Send + 'static>(out: W) -> io::Result<(Self, LogFlush)> {
        let (queue, lines) = sync_channel(QUEUE_LINES);
        std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || write_lines(&lines, out))?;
        Ok((
            Self {
                queue: queue.clone(),
            },
            LogFlush { queue },
        ))
    }
}

/// The writer thread: blocks for a line, writes every line already queued behind it, then
/// flushes; until every sender is gone.
fn write_lines<W: Write>(lines: &Receiver<Message>, out: W) {
    let mut out = io::BufWriter::with_capacity(WRITE_BUFFER, out);
    while let Ok(first) = lines.recv() {
        let mut acks = Vec::new();
        let mut next = Some(first);
        while let Some(message) = next {
            match message {
                // A failed write (stderr closed) has nowhere to be reported.
                Message::Line(line) => {
                    let _ = out.write_all(&line);
                }
                Message::Flush(ack) => acks.push(ack),
            }
            next = lines.try_recv().ok();
        }
        let _ = out.flush();
        for ack in acks {
            let _ = ack.send(());
        }
    }
}

impl Drop for LogFlush {
    fn drop(&mut self) {
        let (ack, done) = sync_channel(1);
        if self.queue.send(Message::Flush(ack)).is_ok() {
            let _ = done.recv_timeout(FLUSH_WAIT);
        }
    }
}

/// One log line being formatted; sent whole to the writer thread.
pub struct Line<'a> {
    queue: &'a SyncSender<Message>,
    text: Vec<u8>,
}

impl Write for Line<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.text.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Line<'_> {
    fn drop(&mut self) {
        if !self.text.is_empty() {
            // The writer thread lives as long as the process: a send fails only if it
            // panicked, and then the line has nowhere to go.
            let _ = self
                .queue
                .send(Message::Line(std::mem::take(&mut self.text)));
        }
    }
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        Line {
            queue: &self.queue,
            text: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// An output the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            let mut shared = self.0.lock().unwrap();
            shared.extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_arrives_whole_and_in_order() {
        let out = Shared::default();
        let (writer, flush) = LogWriter::spawn(out.clone()).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..1_000 {
                        let mut line = writer.make_writer();
                        // The log layer writes a line in pieces; it must arrive whole.
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
        let text = out.0.lock().unwrap().clone();
        let text = String::from_utf8(text).unwrap();
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
    fn an_empty_line_writes_nothing() {
        let out = Shared::default();
        let (writer, flush) = LogWriter::spawn(out.clone()).unwrap();
        drop(writer.make_writer());
        drop(flush);
        assert!(out.0.lock().unwrap().is_empty());
    }
}
