//! Where upstream connections are pooled: per thread on single-threaded runtimes (the
//! edge's connection threads), so that a request never uses a connection another thread
//! drives; shared on the work-stealing runtime, where tasks move between threads anyway.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::Method;

use super::super::Timeouts;
use keyroute_serve::PerThread;

use super::super::client::HttpClient;
use super::super::send::Outgoing;
use super::{counting_https_server, pki, plain_client, text};

/// Three HTTP/2 requests in turn with `pooled`'s client for this thread.
async fn three_requests(pooled: &PerThread<HttpClient>, port: u16) {
    for _ in 0..3 {
        let request = Outgoing {
            method: Method::GET,
            uri: format!("https://localhost:{port}/").parse().unwrap(),
            headers: &[],
            body: Bytes::new(),
            proxy_auth: None,
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let response = request
            .send(&pooled.get(), "test", deadline)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(text(response).await, "HTTP/2.0");
    }
}

/// Runs `work` on a thread of its own with a single-threaded runtime.
fn on_a_thread_of_its_own(
    work: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(work);
    })
}

#[test]
fn single_threaded_runtimes_pool_per_thread_and_the_work_stealing_one_shares() {
    let server = tokio::runtime::Runtime::new().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let pki = pki();
    let addr = server.block_on(counting_https_server(
        pki.server.clone(),
        &[b"h2"],
        accepted.clone(),
    ));
    let client_tls = pki.client.clone();
    let pooled = Arc::new(PerThread::new(move || {
        plain_client(&client_tls, Timeouts::default())
    }));

    // Each thread opens a connection of its own and keeps using it, even while the other
    // thread's connection is alive and idle (its runtime still running).
    let (first_done, first_finished) = tokio::sync::oneshot::channel();
    let (second_done, second_finished) = tokio::sync::oneshot::channel::<()>();
    let first = on_a_thread_of_its_own({
        let pooled = pooled.clone();
        async move {
            three_requests(&pooled, addr.port()).await;
            first_done.send(()).unwrap();
            second_finished.await.unwrap();
        }
    });
    let second = on_a_thread_of_its_own({
        let (pooled, accepted) = (pooled.clone(), accepted.clone());
        async move {
            first_finished.await.unwrap();
            assert_eq!(accepted.load(Ordering::SeqCst), 1);
            three_requests(&pooled, addr.port()).await;
            second_done.send(()).unwrap();
        }
    });
    second.join().unwrap();
    first.join().unwrap();
    assert_eq!(accepted.load(Ordering::SeqCst), 2);

    // The work-stealing runtime's tasks share one pool, whichever thread they run on
    // (one after the other: tasks racing to open the first connection would each open one).
    server.block_on(async {
        for _ in 0..4 {
            let pooled = pooled.clone();
            tokio::spawn(async move { three_requests(&pooled, addr.port()).await })
                .await
                .unwrap();
        }
    });
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
}
