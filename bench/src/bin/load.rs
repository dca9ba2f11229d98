//! `keyroute-load`: an HTTP load generator for the side-by-side benchmark (`bench/run`).
//! Two modes over keep-alive HTTP/1.1 connections: `saturate` (N concurrent clients in a
//! loop, for throughput) and `rate` (an open-loop schedule at R requests per second, with
//! latency measured from each request's scheduled start, so a slow server cannot hide its
//! queueing). For streams it also measures time to the first body byte. Prints one JSON
//! line of results.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use futures::StreamExt;
use keyroute_bench::quantile;
use tokio::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Mode {
    Saturate,
    Rate,
}

/// Load for one target.
#[derive(Debug, Parser)]
#[command(name = "keyroute-load")]
struct Args {
    /// The Chat Completions URL.
    #[arg(long)]
    url: String,
    /// Sent as `Authorization: Bearer`.
    #[arg(long, default_value = "")]
    token: String,
    #[arg(long, default_value = "gpt-4o-mini")]
    model: String,
    #[arg(long)]
    stream: bool,
    #[arg(long, value_enum)]
    mode: Mode,
    /// Concurrent clients (saturate).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Requests per second (rate).
    #[arg(long, default_value_t = 200)]
    rate: u32,
    /// Seconds of load after a one-second warm-up.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// A name for the target, echoed in the output.
    #[arg(long, default_value = "target")]
    label: String,
}

#[derive(Default)]
struct Samples {
    latency: Vec<Duration>,
    first_byte: Vec<Duration>,
    errors: u64,
}

/// One request; the time to its first body byte and to its end, from `start`.
async fn one(
    http: &reqwest::Client,
    args: &Args,
    body: &bytes::Bytes,
    start: Instant,
) -> Result<(Duration, Duration), String> {
    let response = http
        .post(&args.url)
        .bearer_auth(&args.token)
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("status {}", response.status()));
    }
    let mut stream = response.bytes_stream();
    let mut first = None;
    while let Some(chunk) = stream.next().await {
        chunk.map_err(|e| e.to_string())?;
        first.get_or_insert_with(|| start.elapsed());
    }
    let total = start.elapsed();
    Ok((first.unwrap_or(total), total))
}

fn record(samples: &mut Samples, outcome: Result<(Duration, Duration), String>) {
    match outcome {
        Ok((first, total)) => {
            samples.first_byte.push(first);
            samples.latency.push(total);
        }
        Err(_) => samples.errors += 1,
    }
}

async fn saturate(
    http: reqwest::Client,
    args: Arc<Args>,
    body: bytes::Bytes,
) -> (Samples, Duration) {
    let samples = Arc::new(Mutex::new(Samples::default()));
    let warm_until = Instant::now() + Duration::from_secs(1);
    let measure = Duration::from_secs(args.seconds);
    let mut clients = Vec::new();
    for _ in 0..args.concurrency {
        let (http, args, body, samples) =
            (http.clone(), args.clone(), body.clone(), samples.clone());
        clients.push(tokio::spawn(async move {
            let mut local = Samples::default();
            while Instant::now() < warm_until {
                let _ = one(&http, &args, &body, Instant::now()).await;
            }
            let end = warm_until + measure;
            while Instant::now() < end {
                record(&mut local, one(&http, &args, &body, Instant::now()).await);
            }
            let mut all = samples.lock().await;
            all.latency.extend(local.latency);
            all.first_byte.extend(local.first_byte);
            all.errors += local.errors;
        }));
    }
    for client in clients {
        let _ = client.await;
    }
    let samples = std::mem::take(&mut *samples.lock().await);
    (samples, measure)
}

async fn rate(http: reqwest::Client, args: Arc<Args>, body: bytes::Bytes) -> (Samples, Duration) {
    let samples = Arc::new(Mutex::new(Samples::default()));
    let period = Duration::from_secs_f64(1.0 / f64::from(args.rate.max(1)));
    let total = u64::from(args.rate) * (args.seconds + 1);
    let warm = u64::from(args.rate);
    let begin = Instant::now();
    let mut tasks = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for i in 0..total {
        let scheduled = begin + period.mul_f64(i as f64);
        tokio::time::sleep_until(scheduled.into()).await;
        let (http, args, body, samples) =
            (http.clone(), args.clone(), body.clone(), samples.clone());
        tasks.push(tokio::spawn(async move {
            let outcome = one(&http, &args, &body, scheduled).await;
            if i >= warm {
                record(&mut *samples.lock().await, outcome);
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let samples = std::mem::take(&mut *samples.lock().await);
    (samples, Duration::from_secs(args.seconds))
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

#[tokio::main]
async fn main() {
    let args = Arc::new(Args::parse());
    // reqwest carries `rustls-no-provider` in this workspace; ring, as everywhere.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut body = serde_json::json!({
        "model": args.model,
        "messages": [{ "role": "user", "content": "Say hello in one short sentence." }],
    });
    if args.stream {
        body["stream"] = serde_json::json!(true);
    }
    let body = bytes::Bytes::from(body.to_string());
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency.max(256))
        .tcp_nodelay(true)
        .build()
        .unwrap_or_default();
    let (mut samples, took) = match args.mode {
        Mode::Saturate => saturate(http, args.clone(), body).await,
        Mode::Rate => rate(http, args.clone(), body).await,
    };
    samples.latency.sort_unstable();
    samples.first_byte.sort_unstable();
    let done = samples.latency.len();
    let result = serde_json::json!({
        "label": args.label,
        "mode": if args.mode == Mode::Saturate { "saturate" } else { "rate" },
        "stream": args.stream,
        "requests": done,
        "errors": samples.errors,
        "rps": (done as f64 / took.as_secs_f64() * 10.0).round() / 10.0,
        "p50_ms": millis(quantile(&samples.latency, 0.5)),
        "p99_ms": millis(quantile(&samples.latency, 0.99)),
        "ttfb_p50_ms": millis(quantile(&samples.first_byte, 0.5)),
        "ttfb_p99_ms": millis(quantile(&samples.first_byte, 0.99)),
    });
    println!("{result}");
}
