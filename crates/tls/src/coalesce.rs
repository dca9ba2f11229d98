//! Frames written together go out together. h2 hands a frame's header and its payload to the
//! transport as separate writes, and a unary gRPC call over hyper's HTTP/2 client (tonic's
//! channels) writes its HEADERS at once and its DATA a moment later, from the body's task:
//! without help, several TLS records, several `writev`s, and often several wake-ups of the
//! server. [`Coalesced`] sits between HTTP/2 and TLS: it keeps what is written until a flush,
//! and on the first flush of a batch lets the runtime's other ready tasks (that body task, or
//! other calls on the same connection) run once before it writes the lot. HTTP/2 flushes
//! after every round of writes, so nothing waits longer than one turn of the runtime.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Above this many bytes kept, a write goes out before more is taken: large bodies gain
/// nothing from waiting.
const KEEP_AT_MOST: usize = 16 * 1024;

/// A stream whose writes are kept until flushed, see the module's doc.
#[derive(Debug)]
pub struct Coalesced<IO> {
    io: IO,
    kept: Vec<u8>,
    /// How much of `kept` is already written.
    written: usize,
    /// Whether this batch's flush already let other tasks run.
    yielded: bool,
}

impl<IO> Coalesced<IO> {
    pub fn new(io: IO) -> Self {
        Self {
            io,
            kept: Vec::new(),
            written: 0,
            yielded: false,
        }
    }

    #[cfg(test)]
    fn get_ref(&self) -> &IO {
        &self.io
    }
}

impl<IO: AsyncWrite + Unpin> Coalesced<IO> {
    /// Writes out everything kept.
    fn poll_write_kept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.kept.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.kept[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.kept.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Coalesced<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Coalesced<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.kept.len() + buf.len() > KEEP_AT_MOST {
            ready!(self.poll_write_kept(cx))?;
            if buf.len() > KEEP_AT_MOST {
                return Pin::new(&mut self.io).poll_write(cx, buf);
            }
        }
        self.kept.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let total: usize = bufs.iter().map(|buf| buf.len()).sum();
        if self.kept.len() + total > KEEP_AT_MOST {
            ready!(self.poll_write_kept(cx))?;
            if total > KEEP_AT_MOST {
                return Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
            }
        }
        for buf in bufs {
            self.kept.extend_from_slice(buf);
        }
        Poll::Ready(Ok(total))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.kept.len() > self.written && !self.yielded {
            self.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        ready!(self.poll_write_kept(cx))?;
        self.yielded = false;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_write_kept(cx))?;
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Counts the writes that reach it.
    #[derive(Default)]
    struct Counting {
        writes: usize,
        bytes: Vec<u8>,
    }

    impl AsyncWrite for Counting {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.writes += 1;
            self.bytes.extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// A call's HEADERS are written and flushed; its DATA comes from a task that is ready
    /// by then. Both reach the stream in one write.
    #[tokio::test]
    async fn a_flush_lets_ready_tasks_write_first_then_writes_once() {
        let stream = Arc::new(Mutex::new(Coalesced::new(Counting::default())));
        let write = |stream: &Arc<Mutex<Coalesced<Counting>>>, bytes: &'static [u8]| {
            let stream = stream.clone();
            std::future::poll_fn(move |cx| {
                Pin::new(&mut *stream.lock().unwrap()).poll_write(cx, bytes)
            })
        };
        write(&stream, b"headers ").await.unwrap();
        let body = tokio::spawn(write(&stream, b"data"));
        std::future::poll_fn(|cx| Pin::new(&mut *stream.lock().unwrap()).poll_flush(cx))
            .await
            .unwrap();
        body.await.unwrap().unwrap();
        let stream = stream.lock().unwrap();
        assert_eq!(stream.get_ref().bytes, b"headers data");
        assert_eq!(stream.get_ref().writes, 1);
        assert!(stream.kept.is_empty());
    }

    #[tokio::test]
    async fn everything_kept_is_written_by_the_flush_and_large_writes_pass_through() {
        let (client, mut server) = tokio::io::duplex(1 << 20);
        let mut stream = Coalesced::new(client);
        stream.write_all(b"one ").await.unwrap();
        stream.write_all(b"two").await.unwrap();
        assert_eq!(stream.kept.len(), 7, "kept until the flush");
        stream.flush().await.unwrap();
        assert!(stream.kept.is_empty());
        let large = vec![7u8; KEEP_AT_MOST + 1];
        stream.write_all(&large).await.unwrap();
        assert!(
            stream.kept.is_empty(),
            "a large write goes straight through"
        );
        stream.shutdown().await.unwrap();
        let mut received = Vec::new();
        server.read_to_end(&mut received).await.unwrap();
        assert_eq!(&received[..7], b"one two");
        assert_eq!(received.len(), 7 + KEEP_AT_MOST + 1);
    }
}
