//! The router's added latency and throughput, in one run: the same chat request sent directly
//! to the mock upstream (HTTP/1.1, keep-alive) and through keyroute (mTLS gRPC to the router
//! with the edge's certificate, token and lease caches, translation, the same mock behind).
//!
//! `cargo bench -p keyroute-bench --bench router`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use keyroute_bench::quantile;
use keyroute_mock_providers::{Mock, MockServer};
use keyroute_proto::router::v1::router_service_client::RouterServiceClient;
use keyroute_proto::router::v1::*;
use keyroute_proto::vault::v1::CreateCredentialRequest;
use keyroute_router::server::{PreparedRouter, RouterSettings};
use keyroute_router::upstream::Timeouts;
use keyroute_test_support::{TestVault, with_token};
use keyroute_tls::{ClientTls, Identity};

const SEQUENTIAL: usize = 2000;
const CONCURRENT_TOTAL: usize = 5000;
const CONCURRENCY: usize = 64;

fn ask() -> ChatRequest {
    ChatRequest {
        model: "gpt-4o-mini".into(),
        messages: vec![Message {
            role: Role::User as i32,
            content: vec![ContentPart {
                part: Some(content_part::Part::Text("how fast is this gateway".into())),
                ..Default::default()
            }],
            name: String::new(),
        }],
        ..Default::default()
    }
}

fn report(name: &str, mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let (p50, p99) = (quantile(&samples, 0.5), quantile(&samples, 0.99));
    println!(
        "{name:<28} p50 {:>8.1} µs   p99 {:>8.1} µs",
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6
    );
    (p50, p99)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let vault = TestVault::start().await;
    let (user, token) = vault.user_with_token("bench").await;
    let mock = Mock::new();
    mock.add_key("openai", "sk-bench-0123456789abcdef");
    let server = MockServer::start(mock).await.unwrap();
    let credential = CreateCredentialRequest {
        owner_id: user,
        provider: "openai".into(),
        secret: "sk-bench-0123456789abcdef".into(),
        ..Default::default()
    };
    vault
        .client("edge")
        .create_credential(with_token(credential, &token))
        .await
        .unwrap();
    let settings = RouterSettings {
        listen: "127.0.0.1:0".parse().unwrap(),
        vault: vault.addr.to_string(),
        tls: vault.pki.paths("router"),
        base_urls: HashMap::from([("openai".to_owned(), server.base_url("openai"))]),
        egress: keyroute_egress::EgressPolicy::allowing_loopback(),
        catalog: None,
        token_cache_ttl: Duration::from_secs(600),
        timeouts: Timeouts::default(),
        tls_reload_interval: Duration::from_secs(3600),
        shutdown_grace: Duration::from_secs(5),
        connection_threads: None,
        metrics_listen: None,
        health_listen: None,
        rate_limits: keyroute_ratelimit::Settings::default(),
    };
    let prepared = PreparedRouter::prepare(settings).await.unwrap();
    let router_addr = prepared.local_addr().unwrap();
    tokio::spawn(async move { prepared.serve(std::future::pending()).await.unwrap() });
    let tls = ClientTls::from_files(vault.pki.paths("edge")).unwrap();
    let router = RouterServiceClient::new(
        keyroute_tls::channel(
            &router_addr.to_string(),
            tls,
            Identity::parse("router").unwrap(),
        )
        .unwrap(),
    );

    let http = reqwest::Client::new();
    let url = format!("{}/chat/completions", server.base_url("openai"));
    let body = serde_json::json!({ "model": "gpt-4o-mini", "messages": [{ "role": "user", "content": "how fast is this gateway" }] }).to_string();
    let direct = |http: reqwest::Client, url: String, body: String| async move {
        let response = http
            .post(url)
            .header("authorization", "Bearer sk-bench-0123456789abcdef")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap();
    };
    let routed = |mut client: RouterServiceClient<_>, token: String| async move {
        client
            .complete(with_token(
                CompleteRequest {
                    request: Some(ask()),
                },
                &token,
            ))
            .await
            .unwrap();
    };

    for _ in 0..200 {
        direct(http.clone(), url.clone(), body.clone()).await;
        routed(router.clone(), token.clone()).await;
    }

    let mut direct_samples = Vec::with_capacity(SEQUENTIAL);
    let mut routed_samples = Vec::with_capacity(SEQUENTIAL);
    for _ in 0..SEQUENTIAL {
        let started = Instant::now();
        direct(http.clone(), url.clone(), body.clone()).await;
        direct_samples.push(started.elapsed());
        let started = Instant::now();
        routed(router.clone(), token.clone()).await;
        routed_samples.push(started.elapsed());
    }
    println!("\nsequential, {SEQUENTIAL} requests each (non-streaming chat completion):");
    let (direct_p50, direct_p99) = report("direct to mock", direct_samples);
    let (routed_p50, routed_p99) = report("through keyroute router", routed_samples);
    println!(
        "{:<28} p50 {:>8.1} µs   p99 {:>8.1} µs",
        "added by keyroute",
        routed_p50.saturating_sub(direct_p50).as_secs_f64() * 1e6,
        routed_p99.saturating_sub(direct_p99).as_secs_f64() * 1e6
    );

    println!("\nthroughput, {CONCURRENT_TOTAL} requests at concurrency {CONCURRENCY}:");
    for path in ["direct to mock", "through keyroute router"] {
        let started = Instant::now();
        let per_worker = CONCURRENT_TOTAL / CONCURRENCY;
        let workers: Vec<_> = (0..CONCURRENCY)
            .map(|_| {
                let (http, url, body, router, token) = (
                    http.clone(),
                    url.clone(),
                    body.clone(),
                    router.clone(),
                    token.clone(),
                );
                let routed_path = path != "direct to mock";
                tokio::spawn(async move {
                    for _ in 0..per_worker {
                        if routed_path {
                            routed(router.clone(), token.clone()).await;
                        } else {
                            direct(http.clone(), url.clone(), body.clone()).await;
                        }
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.await.unwrap();
        }
        let rate = (per_worker * CONCURRENCY) as f64 / started.elapsed().as_secs_f64();
        println!("{path:<28} {rate:>9.0} requests/s");
    }
}
