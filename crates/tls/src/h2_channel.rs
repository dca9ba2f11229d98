//! A gRPC channel written directly on `h2`, for the hottest internal hop (the edge's calls to
//! a router). tonic's `Channel` puts a tower `Buffer` (a queue and a worker task) and hyper's
//! client (a dispatch queue and, per call, a task that pipes the request body) between a call
//! and its HTTP/2 stream. Here the call opens its stream and queues its whole request itself,
//! so HEADERS and DATA leave in one write, and the only task is the connection's, on the
//! runtime that made the connection.
//!
//! What callers that balance over several servers rely on is kept: a call that cannot have
//! reached the server fails with [`NotSent`] in its error's source chain (no connection could
//! be made, or the connection was already unusable, a GOAWAY included); h2's own GOAWAY and
//! REFUSED_STREAM errors for a stream come through unchanged; the connection is pinged, idle
//! or not, and dropped when a ping goes unanswered; a lost connection is made again by the
//! next call.

use std::error::Error as StdError;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use h2::Reason;
use h2::SendStream;
use h2::client::SendRequest;
use http::uri::{Authority, Scheme};
use http::{Request, Response, Uri};
use http_body::Body as _;
use tokio::io::{AsyncRead, AsyncWrite};
use tonic::body::Body;

use crate::client::{ClientTls, connect};
use crate::error::TlsError;
use crate::h2_recv::Recv;
use crate::identity::Identity;

type BoxError = Box<dyn StdError + Send + Sync>;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(20);
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// hyper's HTTP/2 client windows, which tonic's channels use: a large message is not held
/// back by flow control on a fast network.
const STREAM_WINDOW: u32 = 2 * 1024 * 1024;
const CONNECTION_WINDOW: u32 = 5 * 1024 * 1024;

/// A call failed before any of it was sent to `authority`: it may be sent elsewhere.
#[derive(Debug, thiserror::Error)]
#[error("not sent to {authority}: {source}")]
pub struct NotSent {
    authority: Authority,
    #[source]
    source: BoxError,
}

/// A lazily connecting gRPC channel over one HTTP/2 connection; see the module's doc. Cheap
/// to clone: clones share the connection.
#[derive(Clone)]
pub struct H2Channel {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for H2Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H2Channel")
            .field("authority", &self.inner.authority)
            .finish_non_exhaustive()
    }
}

struct Inner {
    authority: Authority,
    /// How often the connection is pinged, and how long a ping may go unanswered.
    keep_alive: KeepAlive,
    tls: Arc<ClientTls>,
    expected: Identity,
    /// The connection calls go on, while it lasts.
    current: Mutex<Option<Connected>>,
    /// Held while connecting, so that concurrent calls make one connection; counts them.
    connecting: tokio::sync::Mutex<u64>,
}

#[derive(Clone)]
struct Connected {
    generation: u64,
    sender: SendRequest<Bytes>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl H2Channel {
    /// A channel to `address` (`host:port`, with or without a scheme) that must be served by
    /// `expected`; nothing is connected until the first call.
    pub fn new(address: &str, tls: Arc<ClientTls>, expected: Identity) -> Result<Self, TlsError> {
        let bare = address
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/');
        let authority = bare
            .parse::<Authority>()
            .ok()
            .filter(|authority| authority.port_u16().is_some())
            .ok_or_else(|| TlsError::Endpoint {
                endpoint: address.to_owned(),
                reason: "expected host:port".to_owned(),
            })?;
        let keep_alive = KeepAlive {
            every: KEEP_ALIVE_INTERVAL,
            within: KEEP_ALIVE_TIMEOUT,
        };
        Ok(Self {
            inner: Arc::new(Inner::unconnected(authority, keep_alive, tls, expected)),
        })
    }

    /// The same channel, pinging its connection every `interval` and giving it up when a
    /// ping goes unanswered for `timeout` (20 s and 10 s unless set); before its first call.
    #[must_use]
    pub fn keep_alive(self, interval: Duration, timeout: Duration) -> Self {
        let mut channel = self.unconnected();
        if let Some(inner) = Arc::get_mut(&mut channel.inner) {
            inner.keep_alive = KeepAlive {
                every: interval,
                within: timeout,
            };
        }
        channel
    }

    /// A channel to the same server with the same settings and a connection of its own
    /// (made on its first call, on that call's runtime).
    #[must_use]
    pub fn unconnected(&self) -> Self {
        let inner = &self.inner;
        Self {
            inner: Arc::new(Inner::unconnected(
                inner.authority.clone(),
                inner.keep_alive,
                inner.tls.clone(),
                inner.expected.clone(),
            )),
        }
    }
}

impl tower::Service<Request<Body>> for H2Channel {
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Response<Body>, BoxError>>;

    /// Always ready: each call waits for room on the connection itself.
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        Box::pin(self.inner.clone().send(request))
    }
}

impl Inner {
    fn unconnected(
        authority: Authority,
        keep_alive: KeepAlive,
        tls: Arc<ClientTls>,
        expected: Identity,
    ) -> Self {
        Self {
            authority,
            keep_alive,
            tls,
            expected,
            current: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(0),
        }
    }

    /// An `Unavailable` status (what gRPC clients say when the server cannot be reached)
    /// whose source is [`NotSent`].
    fn not_sent(&self, source: impl Into<BoxError>) -> BoxError {
        let not_sent = NotSent {
            authority: self.authority.clone(),
            source: source.into(),
        };
        let mut status = tonic::Status::unavailable(not_sent.to_string());
        status.set_source(Arc::new(not_sent));
        Box::new(status)
    }

    async fn send(self: Arc<Self>, request: Request<Body>) -> Result<Response<Body>, BoxError> {
        let (mut head, body) = request.into_parts();
        let mut uri = head.uri.into_parts();
        uri.scheme = Some(Scheme::HTTPS);
        uri.authority = Some(self.authority.clone());
        head.uri = Uri::from_parts(uri)?;
        head.version = http::Version::HTTP_2;
        let end = body.is_end_stream();

        let mut sender = self.ready_sender().await?;
        let (answer, stream) = match sender.send_request(Request::from_parts(head, ()), end) {
            Ok(sent) => sent,
            // The connection is unusable: the stream was never opened.
            Err(error) if error.is_io() || error.is_go_away() || error.reason().is_some() => {
                return Err(self.not_sent(error));
            }
            Err(error) => return Err(error.into()),
        };
        let mut answer = std::pin::pin!(answer);
        let mut pump = (!end).then(|| Pump {
            body,
            stream,
            held: None,
        });
        let response = poll_fn(|cx| {
            if let Some(sending) = &mut pump
                && let Poll::Ready(sent) = sending.poll_send(cx)
            {
                pump = None;
                sent?;
            }
            answer.as_mut().poll(cx).map_err(BoxError::from)
        })
        .await?;
        if let Some(pump) = pump {
            // Answered before the request ended (a streaming request): the rest of it
            // still goes.
            tokio::spawn(pump);
        }
        Ok(response.map(|stream| Body::new(Recv::new(stream))))
    }

    /// A sender with room for one more stream, connecting first if need be: once again if
    /// the current connection turns out to be unusable.
    async fn ready_sender(self: &Arc<Self>) -> Result<SendRequest<Bytes>, BoxError> {
        let current = lock(&self.current).clone();
        if let Some(connected) = current {
            match connected.sender.ready().await {
                Ok(sender) => return Ok(sender),
                Err(error) => {
                    tracing::debug!(server = %self.authority, %error, "connection unusable; connecting again");
                    self.forget(connected.generation);
                }
            }
        }
        let connected = self.connect().await?;
        connected
            .sender
            .ready()
            .await
            .map_err(|error| self.not_sent(error))
    }

    /// Makes the connection, unless a concurrent call just made one.
    async fn connect(self: &Arc<Self>) -> Result<Connected, BoxError> {
        let mut generation = self.connecting.lock().await;
        if let Some(connected) = lock(&self.current).clone() {
            return Ok(connected);
        }
        let host = self.authority.host();
        let port = self.authority.port_u16().unwrap_or(443);
        let io = tokio::time::timeout(
            CONNECT_TIMEOUT,
            connect(host, port, &self.tls, &self.expected),
        )
        .await
        .map_err(|_| self.not_sent(std::io::Error::from(std::io::ErrorKind::TimedOut)))?
        .map_err(|error| self.not_sent(error))?;
        let (sender, connection) = h2::client::Builder::new()
            .initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .enable_push(false)
            .handshake(io)
            .await
            .map_err(|error| self.not_sent(error))?;
        *generation += 1;
        let connected = Connected {
            generation: *generation,
            sender,
        };
        *lock(&self.current) = Some(connected.clone());
        let pings = self.keep_alive;
        tokio::spawn(drive(connection, Arc::downgrade(self), *generation, pings));
        Ok(connected)
    }

    /// Calls stop using connection `generation` (it ended or is unusable).
    fn forget(&self, generation: u64) {
        let mut current = lock(&self.current);
        if current.as_ref().is_some_and(|c| c.generation == generation) {
            *current = None;
        }
    }
}

/// When a connection is pinged, and how long the answer may take.
#[derive(Debug, Clone, Copy)]
struct KeepAlive {
    every: Duration,
    within: Duration,
}

/// Runs one connection, pinging it as `pings` says; ends it when a ping goes unanswered,
/// and when every channel and call using it is gone.
async fn drive<T>(
    mut connection: h2::client::Connection<T, Bytes>,
    channel: Weak<Inner>,
    generation: u64,
    pings: KeepAlive,
) where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut pinger = connection.ping_pong();
    let mut connection = std::pin::pin!(connection);
    let mut tick = tokio::time::interval(pings.every);
    tick.reset();
    let outcome: Result<(), String> = loop {
        tokio::select! {
            ended = connection.as_mut() => break ended.map_err(|e| e.to_string()),
            _ = tick.tick(), if pinger.is_some() => {
                let Some(pinger) = pinger.as_mut() else { continue };
                let pong = tokio::time::timeout(pings.within, pinger.ping(h2::Ping::opaque()));
                tokio::select! {
                    ended = connection.as_mut() => break ended.map_err(|e| e.to_string()),
                    answered = pong => match answered {
                        Ok(Ok(_)) => {}
                        Ok(Err(error)) => break Err(error.to_string()),
                        Err(_) => break Err("keep-alive ping unanswered".to_owned()),
                    },
                }
            }
        }
    };
    if let Some(channel) = channel.upgrade() {
        channel.forget(generation);
        if let Err(error) = outcome {
            tracing::debug!(server = %channel.authority, %error, "connection ended");
        }
    }
}

/// A request body being sent. Each data frame is held until the next is known, so that the
/// last goes out with END_STREAM (a unary request is one DATA frame).
struct Pump {
    body: Body,
    stream: SendStream<Bytes>,
    held: Option<Bytes>,
}

impl Pump {
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        loop {
            let frame = match Pin::new(&mut self.body).poll_frame(cx) {
                Poll::Ready(frame) => frame,
                Poll::Pending => {
                    if let Some(data) = self.held.take() {
                        self.stream.send_data(data, false)?;
                    }
                    return Poll::Pending;
                }
            };
            match frame {
                None => {
                    let last = self.held.take().unwrap_or_default();
                    self.stream.send_data(last, true)?;
                    return Poll::Ready(Ok(()));
                }
                Some(Err(status)) => {
                    self.stream.send_reset(Reason::CANCEL);
                    return Poll::Ready(Err(Box::new(status)));
                }
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => {
                        if let Some(previous) = self.held.replace(data) {
                            self.stream.send_data(previous, false)?;
                        }
                    }
                    Err(frame) => {
                        if let Some(data) = self.held.take() {
                            self.stream.send_data(data, false)?;
                        }
                        if let Ok(trailers) = frame.into_trailers() {
                            self.stream.send_trailers(trailers)?;
                            return Poll::Ready(Ok(()));
                        }
                    }
                },
            }
        }
    }
}

impl Future for Pump {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().poll_send(cx).map(|sent| {
            if let Err(error) = sent {
                tracing::debug!(%error, "request body not sent whole");
            }
        })
    }
}
