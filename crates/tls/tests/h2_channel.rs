//! `H2Channel` against a real tonic server over mutual TLS: calls share one connection and
//! reach the server with our identity; every failure that sent nothing is `Unavailable` and
//! says so (`NotSent`), so that a caller may send the call elsewhere; a stopped server's
//! successor on the same address is reached by the next call; a connection whose pings go
//! unanswered is given up.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use futures::StreamExt;
use keyroute_tls::{ClientTls, H2Channel, Identity, NotSent, ServerTls, TestPki, incoming};
use support::{serve, serve_on};
use tokio::net::TcpListener;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

fn channel(pki: &TestPki, addr: std::net::SocketAddr, expected: &str) -> H2Channel {
    let tls = ClientTls::from_files(pki.paths("edge")).unwrap();
    H2Channel::new(&addr.to_string(), tls, Identity::parse(expected).unwrap()).unwrap()
}

async fn check(channel: &H2Channel) -> Result<(), tonic::Status> {
    HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .map(|_| ())
}

/// Whether `NotSent` is in the status's source chain.
fn not_sent(status: &tonic::Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(error) = source {
        if error.is::<NotSent>() {
            return true;
        }
        source = error.source();
    }
    false
}

#[tokio::test]
async fn calls_share_one_connection_and_reach_the_server_as_us() {
    let pki = TestPki::new();
    let server = serve(pki.paths("router")).await;
    let channel = channel(&pki, server.addr, "router");
    let calls: Vec<_> = (0..8).map(|_| check(&channel)).collect();
    for outcome in futures::future::join_all(calls).await {
        outcome.unwrap();
    }
    check(&channel).await.unwrap();
    let remotes = server.remotes.lock().unwrap().clone();
    assert_eq!(remotes.len(), 9);
    assert!(
        remotes.iter().all(|remote| *remote == remotes[0]),
        "{remotes:?}"
    );
    let seen = server.seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .all(|id| *id == Identity::parse("edge").unwrap())
    );
}

#[tokio::test]
async fn a_server_not_listening_is_not_sent() {
    let pki = TestPki::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let error = check(&channel(&pki, addr, "router")).await.unwrap_err();
    assert_eq!(error.code(), tonic::Code::Unavailable, "{error}");
    assert!(not_sent(&error), "{error:?}");
}

#[tokio::test]
async fn a_server_with_the_wrong_identity_is_not_sent() {
    let pki = TestPki::new();
    let server = serve(pki.paths("vault")).await;
    let error = check(&channel(&pki, server.addr, "router"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), tonic::Code::Unavailable, "{error}");
    assert!(not_sent(&error), "{error:?}");
    assert!(server.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn after_a_server_stops_the_next_call_connects_again() {
    let pki = TestPki::new();
    let first = serve(pki.paths("router")).await;
    let addr = first.addr;
    let channel = channel(&pki, addr, "router");
    check(&channel).await.unwrap();
    first.stop().await;

    // Nobody listens: the old connection is gone or going away, and no new one is made.
    let error = check(&channel).await.unwrap_err();
    assert!(not_sent(&error), "{error:?}");

    let second = serve_on(pki.paths("router"), addr).await;
    check(&channel).await.unwrap();
    assert_eq!(second.remotes.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_connection_whose_pings_go_unanswered_is_given_up() {
    let pki = TestPki::new();
    // A server that completes the TLS handshake and then reads and answers nothing.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut connections = incoming(
        listener,
        ServerTls::from_files(pki.paths("router")).unwrap(),
    );
    let (accepted, mut accepts) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Some(connection) = connections.next().await {
            held.push(connection.unwrap());
            let _ = accepted.send(held.len());
        }
    });
    let channel = channel(&pki, addr, "router")
        .keep_alive(Duration::from_millis(50), Duration::from_millis(100));

    // The call waits on a silent server until the unanswered ping ends its connection.
    let error = tokio::time::timeout(Duration::from_secs(10), check(&channel))
        .await
        .expect("the call still waits: the dead connection was kept")
        .unwrap_err();
    assert!(!not_sent(&error), "it was sent: {error:?}");
    assert_eq!(accepts.recv().await, Some(1));

    // The next call makes a new connection.
    let next = tokio::spawn({
        let channel = channel.clone();
        async move { check(&channel).await }
    });
    assert_eq!(accepts.recv().await, Some(2));
    next.abort();
}
