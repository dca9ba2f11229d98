//! A stream's received half as an HTTP body, for both ends of an `h2` connection: the
//! answer a channel reads and the request a server reads.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use h2::RecvStream;
use http_body::Frame;

/// A received body: its DATA frames (their flow-control window released as they are read),
/// then its trailers (a gRPC status).
pub(crate) struct Recv {
    stream: RecvStream,
    data_done: bool,
    done: bool,
}

impl Recv {
    pub(crate) fn new(stream: RecvStream) -> Self {
        Self {
            stream,
            data_done: false,
            done: false,
        }
    }
}

impl http_body::Body for Recv {
    type Data = Bytes;
    type Error = h2::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, h2::Error>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if !this.data_done {
            match std::task::ready!(this.stream.poll_data(cx)) {
                Some(Ok(data)) => {
                    // Only fails once the stream is gone, when the window no longer matters.
                    let _ = this.stream.flow_control().release_capacity(data.len());
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Some(Err(error)) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(error)));
                }
                None => this.data_done = true,
            }
        }
        let trailers = std::task::ready!(this.stream.poll_trailers(cx));
        this.done = true;
        match trailers {
            Ok(Some(trailers)) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
            Ok(None) => Poll::Ready(None),
            Err(error) => Poll::Ready(Some(Err(error))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}
