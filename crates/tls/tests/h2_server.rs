//! `serve_h2` over mutual TLS, called by tonic's own client and by `H2Channel`: calls arrive
//! with the caller's identity; the caller's deadline ends the wait as tonic's server ends it;
//! a caller that gives up has its call dropped; bodies larger than every flow-control window
//! cross both ways whole; stopping lets the calls in flight finish and then ends.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use keyroute_tls::{
    AnswerBody, ClientTls, GrpcServices, H2Channel, Identity, PeerInfo, ServerTls, TestPki,
    incoming, serve_h2,
};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::body::Body;
use tonic::codegen::http::{Request, Response};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tower::ServiceExt;

/// Long enough for anything here to happen on a loaded machine; only a bound, never waited.
const BOUND: Duration = Duration::from_secs(20);

/// A server on a port of its own, serving `service` until `stop` is sent.
struct Served {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    /// Told when the server has taken the stop.
    stopping: oneshot::Receiver<()>,
    task: tokio::task::JoinHandle<()>,
}

async fn serve<S, B>(pki: &TestPki, service: S) -> Served
where
    S: GrpcServices<B>,
    B: AnswerBody,
{
    let tls = ServerTls::from_files(pki.paths("router")).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let (taken, stopping) = oneshot::channel::<()>();
    let task = tokio::spawn(serve_h2(incoming(listener, tls), service, async {
        let _ = stopped.await;
        let _ = taken.send(());
    }));
    Served {
        addr,
        stop: Some(stop),
        stopping,
        task,
    }
}

fn channel(pki: &TestPki, addr: SocketAddr) -> H2Channel {
    let tls = ClientTls::from_files(pki.paths("edge")).unwrap();
    H2Channel::new(&addr.to_string(), tls, Identity::parse("router").unwrap()).unwrap()
}

/// A service whose calls never answer, each telling `entered` it began and `dropped` when
/// it is dropped.
fn never_answers(
    entered: tokio::sync::mpsc::UnboundedSender<()>,
    dropped: tokio::sync::mpsc::UnboundedSender<()>,
) -> impl tower::Service<
    Request<Body>,
    Response = Response<Body>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<Body>, Infallible>> + Send,
> + Clone
+ Send
+ 'static {
    tower::service_fn(move |_request: Request<Body>| {
        let _ = entered.send(());
        let guard = DropSignal(dropped.clone());
        async move {
            let _guard = guard;
            std::future::pending::<Result<Response<Body>, Infallible>>().await
        }
    })
}

struct DropSignal(tokio::sync::mpsc::UnboundedSender<()>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

#[tokio::test]
async fn calls_are_answered_and_arrive_with_the_callers_identity() {
    let pki = TestPki::new();
    let seen = Arc::new(Mutex::new(Vec::<PeerInfo>::new()));
    let (_reporter, health) = tonic_health::server::health_reporter();
    let recorded = seen.clone();
    let service = tower::service_fn(move |request: Request<Body>| {
        recorded
            .lock()
            .unwrap()
            .push(request.extensions().get::<PeerInfo>().unwrap().clone());
        health.clone().oneshot(request)
    });
    let server = serve(&pki, service).await;

    // tonic's own client, and ours.
    let client_tls = ClientTls::from_files(pki.paths("edge")).unwrap();
    let router = Identity::parse("router").unwrap();
    let stock = keyroute_tls::channel(&server.addr.to_string(), client_tls, router).unwrap();
    let ours = channel(&pki, server.addr);
    let asked = HealthCheckRequest::default();
    let answer = HealthClient::new(stock).check(asked.clone()).await.unwrap();
    assert_eq!(answer.into_inner().status, 1, "serving");
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let (ours, asked) = (ours.clone(), asked.clone());
            async move { HealthClient::new(ours).check(asked).await }
        })
        .collect();
    for answer in futures::future::join_all(calls).await {
        assert_eq!(answer.unwrap().into_inner().status, 1, "serving");
    }

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 5);
    for peer in &seen {
        assert_eq!(peer.identity, Identity::parse("edge").unwrap());
        assert!(peer.remote_addr.is_some(), "{peer:?}");
    }
}

#[tokio::test]
async fn a_passed_deadline_ends_the_call_as_tonic_ends_it() {
    let pki = TestPki::new();
    let (entered, mut calls) = tokio::sync::mpsc::unbounded_channel();
    let (dropped, mut drops) = tokio::sync::mpsc::unbounded_channel();
    let server = serve(&pki, never_answers(entered, dropped)).await;
    let mut asked = tonic::Request::new(HealthCheckRequest::default());
    asked.set_timeout(Duration::from_millis(200));
    let answer = tokio::time::timeout(
        BOUND,
        HealthClient::new(channel(&pki, server.addr)).check(asked),
    )
    .await
    .expect("the deadline ends the call");
    let status = answer.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Cancelled, "{status:?}");
    assert_eq!(status.message(), "Timeout expired");
    calls.recv().await.unwrap();
    tokio::time::timeout(BOUND, drops.recv())
        .await
        .expect("the call is dropped");
}

#[tokio::test]
async fn a_caller_that_gives_up_has_its_call_dropped() {
    let pki = TestPki::new();
    let (entered, mut calls) = tokio::sync::mpsc::unbounded_channel();
    let (dropped, mut drops) = tokio::sync::mpsc::unbounded_channel();
    let server = serve(&pki, never_answers(entered, dropped)).await;
    let channel = channel(&pki, server.addr);
    let call = tokio::spawn({
        let channel = channel.clone();
        async move {
            HealthClient::new(channel)
                .check(HealthCheckRequest::default())
                .await
        }
    });
    calls.recv().await.unwrap();
    // Dropping the call resets its stream.
    call.abort();
    tokio::time::timeout(BOUND, drops.recv())
        .await
        .expect("the call is dropped when its caller resets it");
    // The connection still serves.
    assert!(drops.try_recv().is_err());
}

/// Echoes the request's bytes, then ends with an OK status.
async fn echo(request: Request<Body>) -> Result<Response<Body>, Infallible> {
    let received = request.into_body().collect().await.unwrap().to_bytes();
    let chunks: Vec<Result<http_body::Frame<Bytes>, tonic::Status>> = received
        .chunks(64 * 1024)
        .map(|chunk| Ok(http_body::Frame::data(Bytes::copy_from_slice(chunk))))
        .chain(std::iter::once(Ok(http_body::Frame::trailers({
            let mut trailers = http::HeaderMap::new();
            trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
            trailers
        }))))
        .collect();
    let body = http_body_util::StreamBody::new(futures::stream::iter(chunks));
    Ok(Response::new(Body::new(body)))
}

#[tokio::test]
async fn bodies_larger_than_every_window_cross_whole_both_ways() {
    let pki = TestPki::new();
    let server = serve(&pki, tower::service_fn(echo)).await;
    // Four times the server's windows, and twice the channel's connection window.
    let sent: Bytes = (0..10 * 1024 * 1024_u32)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<_>>()
        .into();
    let request = Request::builder()
        .method("POST")
        .uri("/test.Echo/Echo")
        .header("content-type", "application/grpc")
        .body(Body::new(http_body_util::Full::new(sent.clone())))
        .unwrap();
    let answer = tokio::time::timeout(BOUND, channel(&pki, server.addr).oneshot(request))
        .await
        .expect("answered")
        .unwrap();
    let collected = answer.into_body().collect().await.unwrap();
    let trailers = collected.trailers().cloned().expect("trailers");
    assert_eq!(trailers.get("grpc-status").unwrap(), "0");
    let received = collected.to_bytes();
    assert_eq!(received.len(), sent.len());
    assert!(received == sent, "the echo differs from what was sent");
}

#[tokio::test]
async fn stopping_lets_calls_in_flight_finish_then_ends() {
    let pki = TestPki::new();
    let (entered, mut calls) = tokio::sync::mpsc::unbounded_channel::<()>();
    let (open, gate) = tokio::sync::watch::channel(false);
    let (_reporter, health) = tonic_health::server::health_reporter();
    let service = tower::service_fn(move |request: Request<Body>| {
        let _ = entered.send(());
        let mut gate = gate.clone();
        let health = health.clone();
        async move {
            let _ = gate.wait_for(|open| *open).await;
            health.oneshot(request).await
        }
    });
    let mut server = serve(&pki, service).await;
    let client = HealthClient::new(channel(&pki, server.addr));
    let call = tokio::spawn(async move {
        let mut client = client;
        client.check(HealthCheckRequest::default()).await
    });
    calls.recv().await.unwrap();

    server.stop.take().unwrap().send(()).unwrap();
    server.stopping.await.unwrap();
    let task = server.task;
    assert!(
        !task.is_finished(),
        "the server ended with a call in flight"
    );
    open.send(true).unwrap();
    let answer = tokio::time::timeout(BOUND, call).await.unwrap().unwrap();
    assert_eq!(answer.unwrap().into_inner().status, 1, "serving");
    tokio::time::timeout(BOUND, task)
        .await
        .expect("the server ends once its calls have")
        .unwrap();
}
