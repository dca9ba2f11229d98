//! A gRPC server written directly on `h2`, for the hottest internal hop (a router answering
//! its edges): the counterpart of [`crate::H2Channel`]. tonic's server puts hyper's
//! connection (with protocol detection), a boxed tower stack (request mapping, error
//! recovery, the deadline layer) and an axum router between an HTTP/2 stream and the
//! generated service, and hyper adds a `date` header to every answer. Here each stream's
//! task calls the service and writes its answer itself.
//!
//! What tonic's server gave the services is kept: each request carries the caller's
//! [`PeerInfo`] (its certificate's identity) as an extension; the caller's `grpc-timeout`
//! bounds the wait for the answer's start (then CANCELLED, "Timeout expired", as tonic
//! answers); a call whose caller resets its stream is dropped, its answer unsent; answers
//! are sent within the caller's flow-control window, one frame ahead at most; hyper's HTTP/2
//! settings (windows, frame, header list and send buffer sizes, 200 concurrent streams).
//! Stopping sends every connection a GOAWAY (new calls are refused, with REFUSED_STREAM, and
//! may go elsewhere) and waits for the calls in flight.

use std::convert::Infallible;
use std::error::Error as StdError;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use h2::server::SendResponse;
use h2::{Reason, RecvStream, SendStream};
use http::{Request, Response};
use http_body::Body as HttpBody;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tonic::body::Body;

use crate::deadline::{grpc_timeout, timed_out};
use crate::h2_recv::Recv;
use crate::server::TlsConnection;

type BoxError = Box<dyn StdError + Send + Sync>;

/// hyper's HTTP/2 server settings, which tonic's server used.
const STREAM_WINDOW: u32 = 1024 * 1024;
const CONNECTION_WINDOW: u32 = 1024 * 1024;
const MAX_FRAME_SIZE: u32 = 16 * 1024;
const MAX_HEADER_LIST_SIZE: u32 = 16 * 1024;
const MAX_SEND_BUFFER_SIZE: usize = 400 * 1024;
const MAX_CONCURRENT_STREAMS: u32 = 200;
const MAX_LOCAL_ERROR_RESET_STREAMS: usize = 1024;
/// How long a connection may take to send HTTP/2's preface after its TLS handshake.
const PREFACE_TIMEOUT: Duration = Duration::from_secs(10);

/// What [`serve_h2`] serves: gRPC services (tonic's generated servers, or anything that
/// answers as they do), each call on a task of its own.
pub trait GrpcServices<B>:
    tower::Service<
        Request<Body>,
        Response = Response<B>,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static
{
}

impl<S, B> GrpcServices<B> for S where
    S: tower::Service<
            Request<Body>,
            Response = Response<B>,
            Error = Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + 'static
{
}

/// An answer's body as [`serve_h2`] sends it.
pub trait AnswerBody: HttpBody<Data = Bytes, Error: Into<BoxError>> + Send + 'static {}

impl<B> AnswerBody for B where B: HttpBody<Data = Bytes, Error: Into<BoxError>> + Send + 'static {}

/// Serves `service` on every connection `incoming` yields, until `shutdown` completes; then
/// tells each connection GOAWAY and returns once the calls in flight have ended.
pub async fn serve_h2<S, B>(
    incoming: impl Stream<Item = Result<TlsConnection, io::Error>>,
    service: S,
    shutdown: impl Future<Output = ()>,
) where
    S: GrpcServices<B>,
    B: AnswerBody,
{
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut incoming = std::pin::pin!(incoming);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            next = incoming.next() => match next {
                Some(Ok(tls)) => {
                    connections.spawn(connection(tls, service.clone(), stopping.clone()));
                }
                Some(Err(error)) => tracing::debug!(%error, "connection not taken"),
                None => break,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    let _ = stop.send(true);
    while connections.join_next().await.is_some() {}
}

/// One connection's calls, each on a task of its own, until the caller closes it or, once
/// `stopping`, its last call ends.
async fn connection<S, B>(tls: TlsConnection, service: S, mut stopping: watch::Receiver<bool>)
where
    S: GrpcServices<B>,
    B: AnswerBody,
{
    let peer = tls.peer().clone();
    let handshake = h2::server::Builder::new()
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_frame_size(MAX_FRAME_SIZE)
        .max_header_list_size(MAX_HEADER_LIST_SIZE)
        .max_send_buffer_size(MAX_SEND_BUFFER_SIZE)
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .max_local_error_reset_streams(Some(MAX_LOCAL_ERROR_RESET_STREAMS))
        .handshake::<_, Bytes>(tls);
    let mut connection = match tokio::time::timeout(PREFACE_TIMEOUT, handshake).await {
        Ok(Ok(connection)) => connection,
        Ok(Err(error)) => {
            tracing::debug!(remote = ?peer.remote_addr, %error, "http/2 handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(remote = ?peer.remote_addr, "no http/2 preface in time");
            return;
        }
    };
    let mut going_away = false;
    loop {
        let accepted = if going_away {
            connection.accept().await
        } else {
            tokio::select! {
                accepted = connection.accept() => accepted,
                _ = stopping.wait_for(|stop| *stop) => {
                    connection.graceful_shutdown();
                    going_away = true;
                    continue;
                }
            }
        };
        match accepted {
            Some(Ok((request, respond))) => {
                let (mut head, stream) = request.into_parts();
                head.extensions.insert(peer.clone());
                tokio::spawn(call(head, stream, respond, service.clone()));
            }
            Some(Err(error)) => {
                if !error.is_go_away() && !error.is_io() {
                    tracing::debug!(remote = ?peer.remote_addr, %error, "connection failed");
                }
                return;
            }
            None => return,
        }
    }
}

/// One call: the service's answer (within the caller's deadline, given up if the caller
/// resets the stream), then its body.
async fn call<S, B>(
    head: http::request::Parts,
    stream: RecvStream,
    mut respond: SendResponse<Bytes>,
    mut service: S,
) where
    S: tower::Service<Request<Body>, Response = Response<B>, Error = Infallible>,
    B: HttpBody<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let deadline = grpc_timeout(&head.headers);
    let request = Request::from_parts(head, Body::new(Recv::new(stream)));
    let Ok(()) = poll_fn(|cx| service.poll_ready(cx)).await;
    let answer = service.call(request);
    let answered = async {
        match deadline {
            None => Some(answer.await),
            Some(limit) => tokio::time::timeout(limit, answer).await.ok(),
        }
    };
    let answered = tokio::select! {
        answered = answered => answered,
        // The caller gave up: the call is dropped.
        _ = poll_fn(|cx| respond.poll_reset(cx)) => return,
    };
    let Some(Ok(response)) = answered else {
        let (head, ()) = timed_out().into_http::<()>().into_parts();
        let _ = respond.send_response(Response::from_parts(head, ()), true);
        return;
    };
    let (head, body) = response.into_parts();
    let end = body.is_end_stream();
    let sending = match respond.send_response(Response::from_parts(head, ()), end) {
        Ok(sending) => sending,
        Err(error) => {
            tracing::debug!(%error, "answer not sent");
            respond.send_reset(Reason::INTERNAL_ERROR);
            return;
        }
    };
    if !end {
        let sent = SendBody {
            body: std::pin::pin!(body),
            stream: sending,
            waiting: None,
        }
        .await;
        if let Err(error) = sent {
            tracing::debug!(%error, "answer not sent whole");
        }
    }
}

/// An answer's body being sent: each DATA frame once the caller's window has room for some
/// of it (h2 holds the rest until it does), so that at most one frame waits in memory.
struct SendBody<'a, B> {
    body: Pin<&'a mut B>,
    stream: SendStream<Bytes>,
    /// A frame taken from the body, waiting for room in the window.
    waiting: Option<Bytes>,
}

impl<B> Future for SendBody<'_, B>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Output = Result<(), BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            // The caller gave up: the rest of the answer is dropped.
            if let Poll::Ready(reason) = this.stream.poll_reset(cx)? {
                return Poll::Ready(Err(h2::Error::from(reason).into()));
            }
            if let Some(data) = this.waiting.take() {
                while this.stream.capacity() == 0 {
                    let room = match this.stream.poll_capacity(cx) {
                        Poll::Ready(room) => room,
                        Poll::Pending => {
                            this.waiting = Some(data);
                            return Poll::Pending;
                        }
                    };
                    match room {
                        Some(Ok(_)) => {}
                        Some(Err(error)) => return Poll::Ready(Err(error.into())),
                        None => return Poll::Ready(Err("stream closed while sending".into())),
                    }
                }
                this.stream.send_data(data, false)?;
                continue;
            }
            let frame = match ready!(this.body.as_mut().poll_frame(cx)) {
                Some(Ok(frame)) => frame,
                Some(Err(error)) => {
                    this.stream.send_reset(Reason::INTERNAL_ERROR);
                    return Poll::Ready(Err(error.into()));
                }
                None => {
                    this.stream.send_data(Bytes::new(), true)?;
                    return Poll::Ready(Ok(()));
                }
            };
            match frame.into_data() {
                Ok(data) if data.is_empty() => {}
                Ok(data) => {
                    // A claim on the window, not the frame's size: h2 raises it to what is
                    // buffered, and a large claim would hold the connection's window.
                    this.stream.reserve_capacity(1);
                    this.waiting = Some(data);
                }
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        this.stream.reserve_capacity(0);
                        this.stream.send_trailers(trailers)?;
                        return Poll::Ready(Ok(()));
                    }
                }
            }
        }
    }
}
