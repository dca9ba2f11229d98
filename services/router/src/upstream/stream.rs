//! An upstream stream as canonical events, decoded chunk by chunk as the body arrives, with
//! two clocks: the idle limit runs between events (bytes that complete no event do not reset
//! it, so a drip cannot hold a call open), and the total limit bounds the whole stream.

use std::collections::VecDeque;
use std::pin::Pin;

use futures::Stream;
use hyper::body::Incoming;
use keyroute_wire::canonical::{StreamDecoder, StreamEvent, error_event};
use keyroute_wire::error::WireError;
use tokio::time::{Duration, Instant};

use super::body::{Response, next_chunk};

/// Canonical events from one upstream stream, decoded as the body arrives.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<StreamEvent, WireError>> + Send>>;

struct Decoding {
    body: Incoming,
    decoder: Box<dyn StreamDecoder + Send>,
    pending: VecDeque<StreamEvent>,
    done: bool,
    provider: &'static str,
    idle: Duration,
    last_event: Instant,
    ends_by: Instant,
}

fn stalled(provider: &'static str, what: &str) -> WireError {
    WireError::from_status(provider, 504, "timeout", what.to_owned())
}

impl Decoding {
    /// The next chunk, or why none will come in time.
    async fn next_chunk(&mut self) -> Result<Option<bytes::Bytes>, WireError> {
        let idle_by = self.last_event + self.idle;
        let deadline = idle_by.min(self.ends_by);
        match tokio::time::timeout_at(deadline, next_chunk(&mut self.body)).await {
            Err(_) if deadline == self.ends_by => Err(stalled(
                self.provider,
                "the stream went on longer than allowed",
            )),
            Err(_) => Err(stalled(self.provider, "the stream stalled")),
            Ok(Some(Ok(bytes))) => Ok(Some(bytes)),
            Ok(Some(Err(error))) => Err(WireError::truncated(
                self.provider,
                &format!("its end ({error})"),
            )),
            Ok(None) => Ok(None),
        }
    }

    async fn next_event(&mut self) -> Option<Result<StreamEvent, WireError>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                self.last_event = Instant::now();
                return Some(Ok(event));
            }
            if self.done {
                return None;
            }
            let mut out = Vec::new();
            let result = match self.next_chunk().await {
                Ok(Some(bytes)) => self.decoder.feed(&bytes, &mut out),
                Ok(None) => {
                    self.done = true;
                    self.decoder.finish(&mut out)
                }
                Err(error) => Err(error),
            };
            self.pending.extend(out);
            if let Err(error) = result {
                self.done = true;
                let error = super::scrubbed(error);
                if self.pending.is_empty() {
                    return Some(Err(error));
                }
                // Deliver what decoded before the failure, then the failure.
                self.pending.push_back(error_event(error));
            }
        }
    }
}

/// Decodes `response` with `decoder`; `idle` between events, `total` for the whole stream.
pub fn decode(
    response: Response,
    decoder: Box<dyn StreamDecoder + Send>,
    provider: &'static str,
    idle: Duration,
    total: Duration,
) -> EventStream {
    let now = Instant::now();
    let state = Decoding {
        body: response.into_body(),
        decoder,
        pending: VecDeque::new(),
        done: false,
        provider,
        idle,
        last_event: now,
        ends_by: now + total,
    };
    Box::pin(futures::stream::unfold(state, |mut state| async move {
        let item = state.next_event().await?;
        Some((item, state))
    }))
}
