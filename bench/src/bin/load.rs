//! `keyroute-load`: the HTTP/1.1 load generator of the side-by-side benchmark (`bench/run`),
//! made to see a tenth of a millisecond.
//!
//! Two modes, each over `--connections` keep-alive connections opened before the clock
//! starts (one hyper HTTP/1.1 connection per worker, reopened only if the server closes it):
//!
//! - `rate`: an open loop at `--rate` requests per second. A dedicated OS thread keeps the
//!   schedule: it sleeps until shortly before each instant (`--spin-us`) and spins the rest,
//!   then hands the request over a channel to the workers on a single-threaded runtime
//!   (tokio's timer has a 1 ms resolution, which is why it is not used). Latency is measured
//!   from each request's *scheduled* start, so a server that falls behind cannot hide the
//!   queueing it causes (no coordinated omission); how late requests left their schedule
//!   (`dispatch_*`, the generator's own delay plus waiting for a free connection) and the
//!   latency from the moment each was written (`service_*`, what oha reports by default) are
//!   printed beside it, with the stalls of the pacing thread itself (`pacer_stalls`, more
//!   than 2 ms late, and the worst, `pacer_worst_ms`; see `keyroute_bench::pace`): when the
//!   machine stops the generator, requests leave late whatever the target.
//! - `saturate`: each connection sends its next request as soon as the last one is answered.
//!
//! Streams are timed to the first body byte as well. Prints one JSON line at the end and,
//! with `--report-every`, one line per interval of completed requests while it runs.

use std::cell::RefCell;
use std::convert::Infallible;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use http_body::{Body, Frame, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use keyroute_bench::long_turn::long_turn;
use keyroute_bench::pace::{Stalls, pace};
use keyroute_bench::{Target, quantile_ns};
use serde_json::{Value, json};
use tokio::sync::{Mutex, mpsc};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Mode {
    Saturate,
    Rate,
}

/// What each request asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Request {
    /// One short user message (~90 bytes).
    Short,
    /// A long coding-agent turn (~105 KB: system prompt, 16 tools, 30 rounds of tool calls).
    LongTurn,
}

/// Load for one target.
#[derive(Debug, Parser)]
#[command(name = "keyroute-load")]
struct Args {
    /// The Chat Completions URL (plain `http://host:port/path`).
    #[arg(long)]
    url: String,
    /// Sent as `Authorization: Bearer` when not empty.
    #[arg(long, default_value = "")]
    token: String,
    #[arg(long, default_value = "gpt-4o-mini")]
    model: String,
    /// Ask for a stream (`"stream": true`).
    #[arg(long)]
    stream: bool,
    /// The request body: its model and `stream` are set from `--model` and `--stream`.
    #[arg(long, value_enum, default_value = "short")]
    body: Request,
    #[arg(long, value_enum)]
    mode: Mode,
    /// Keep-alive connections (requests in flight at most).
    #[arg(long, alias = "concurrency", default_value_t = 8)]
    connections: usize,
    /// Requests per second (rate).
    #[arg(long, default_value_t = 200)]
    rate: u32,
    /// Seconds measured, after the warm-up.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Seconds of load before measuring (sent, not counted).
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    /// The pacing thread spins for the last this many microseconds before each instant
    /// (a thread's sleep overshoots by 50 to 100 µs; each microsecond here costs
    /// `rate` microseconds of CPU per second).
    #[arg(long, default_value_t = 120)]
    spin_us: u64,
    /// Print the figures of the requests completed in each interval of this many seconds.
    #[arg(long, default_value_t = 0)]
    report_every: u64,
    /// Stop the schedule when a request leaves this many milliseconds late (the target is
    /// past its capacity and the queue only grows); the result then says `overloaded`.
    #[arg(long, default_value_t = 5000)]
    give_up_ms: u64,
    /// A request not answered in full within this many seconds is an error.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// A name for the target, echoed in the output.
    #[arg(long, default_value = "target")]
    label: String,
}

/// A request body sent whole in one frame.
#[derive(Debug)]
struct Once(Option<Bytes>);

impl Body for Once {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.take().map(|data| Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.0.as_ref().map_or(0, |b| b.len() as u64))
    }
}

/// The figures of a set of requests, in nanoseconds.
#[derive(Debug, Default)]
struct Samples {
    /// From the scheduled start to the last body byte.
    latency: Vec<u64>,
    /// From the scheduled start to the first body byte.
    first_byte: Vec<u64>,
    /// From the request's write to the last body byte.
    service: Vec<u64>,
    /// From the scheduled start to the request's write.
    dispatch: Vec<u64>,
    errors: u64,
}

impl Samples {
    fn ok(&self) -> usize {
        self.latency.len()
    }

    fn push(&mut self, timing: &Timing) {
        self.latency.push(timing.latency);
        self.first_byte.push(timing.first_byte);
        self.service.push(timing.service);
        self.dispatch.push(timing.dispatch);
    }

    fn figures(mut self, seconds: f64) -> Value {
        for v in [
            &mut self.latency,
            &mut self.first_byte,
            &mut self.service,
            &mut self.dispatch,
        ] {
            v.sort_unstable();
        }
        let ms = |v: &[u64], q: f64| (quantile_ns(v, q) as f64 / 1e3).round() / 1e3;
        json!({
            "requests": self.ok(),
            "errors": self.errors,
            "rps": (self.ok() as f64 / seconds * 10.0).round() / 10.0,
            "p50_ms": ms(&self.latency, 0.5),
            "p99_ms": ms(&self.latency, 0.99),
            "p999_ms": ms(&self.latency, 0.999),
            "max_ms": ms(&self.latency, 1.0),
            "ttfb_p50_ms": ms(&self.first_byte, 0.5),
            "ttfb_p99_ms": ms(&self.first_byte, 0.99),
            "ttfb_p999_ms": ms(&self.first_byte, 0.999),
            "service_p50_ms": ms(&self.service, 0.5),
            "service_p99_ms": ms(&self.service, 0.99),
            "service_p999_ms": ms(&self.service, 0.999),
            "dispatch_p50_ms": ms(&self.dispatch, 0.5),
            "dispatch_p99_ms": ms(&self.dispatch, 0.99),
            "dispatch_p999_ms": ms(&self.dispatch, 0.999),
        })
    }
}

#[derive(Debug)]
struct Timing {
    latency: u64,
    first_byte: u64,
    service: u64,
    dispatch: u64,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// What the workers share (one thread: `Rc<RefCell>`, no locks on the request path).
#[derive(Debug)]
struct Recorder {
    /// Requests scheduled (rate) or sent (saturate) before this are the warm-up.
    measure_from: Instant,
    /// Requests scheduled or sent from this on are not counted (saturate: not sent).
    measure_until: Instant,
    total: Samples,
    interval: Samples,
    /// Successful answers that ended inside the measured window, whenever they were
    /// scheduled: the throughput achieved, which falls below the rate when the target
    /// cannot keep up (the rest arrive late, after the window).
    completed_in_window: u64,
    first_error: Option<String>,
}

impl Recorder {
    fn record(&mut self, scheduled: Instant, outcome: Result<Timing, String>) {
        let now = Instant::now();
        if outcome.is_ok() && now >= self.measure_from && now < self.measure_until {
            self.completed_in_window += 1;
        }
        if scheduled < self.measure_from || scheduled >= self.measure_until {
            return;
        }
        match outcome {
            Ok(timing) => {
                self.total.push(&timing);
                self.interval.push(&timing);
            }
            Err(error) => {
                self.total.errors += 1;
                self.interval.errors += 1;
                self.first_error.get_or_insert(error);
            }
        }
    }
}

/// One connection's requests.
struct Worker {
    target: Rc<Target>,
    body: Bytes,
    sender: Option<SendRequest<Once>>,
    timeout: Duration,
}

impl Worker {
    async fn connect(&mut self) -> Result<&mut SendRequest<Once>, String> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            let tcp = tokio::net::TcpStream::connect(&self.target.authority)
                .await
                .map_err(|e| format!("connect {}: {e}", self.target.authority))?;
            tcp.set_nodelay(true).map_err(|e| e.to_string())?;
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                .await
                .map_err(|e| e.to_string())?;
            tokio::task::spawn_local(async move {
                let _ = connection.await;
            });
            self.sender = Some(sender);
        }
        self.sender
            .as_mut()
            .ok_or_else(|| "no connection".to_owned())
    }

    /// One request, timed from `scheduled`.
    async fn request(&mut self, scheduled: Instant) -> Result<Timing, String> {
        let timeout = self.timeout;
        match tokio::time::timeout(timeout, self.exchange(scheduled)).await {
            Ok(outcome) => outcome.inspect_err(|_| self.sender = None),
            Err(_) => {
                self.sender = None;
                Err(format!("no whole answer in {timeout:?}"))
            }
        }
    }

    async fn exchange(&mut self, scheduled: Instant) -> Result<Timing, String> {
        let request = hyper::Request::post(&self.target.path)
            .header(hyper::header::HOST, &self.target.authority)
            .header(hyper::header::CONTENT_TYPE, "application/json");
        let request = match &self.target.authorization {
            Some(value) => request.header(hyper::header::AUTHORIZATION, value),
            None => request,
        };
        let request = request
            .body(Once(Some(self.body.clone())))
            .map_err(|e| e.to_string())?;
        let sender = self.connect().await?;
        sender.ready().await.map_err(|e| e.to_string())?;
        let sent = Instant::now();
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let mut body = response.into_body();
        let mut first = None;
        let mut text = Vec::new();
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            let frame = frame.map_err(|e| e.to_string())?;
            if let Some(data) = frame.data_ref() {
                first.get_or_insert_with(Instant::now);
                if !status.is_success() && text.len() < 300 {
                    text.extend_from_slice(data);
                }
            }
        }
        let done = Instant::now();
        if !status.is_success() {
            return Err(format!(
                "status {status}: {}",
                String::from_utf8_lossy(&text[..text.len().min(300)])
            ));
        }
        Ok(Timing {
            latency: nanos(done - scheduled),
            first_byte: nanos(first.unwrap_or(done) - scheduled),
            service: nanos(done - sent),
            dispatch: nanos(sent.saturating_duration_since(scheduled)),
        })
    }
}

/// Every `every`, the figures of the requests completed since the last line.
/// Adds the pacer's stalls that began in `from..until` to `line`.
fn with_stalls(line: &mut Value, stalls: &Stalls, from: Instant, until: Instant) {
    let (count, worst) = stalls.within(from, until);
    line["pacer_stalls"] = json!(count);
    line["pacer_worst_ms"] = json!((worst.as_secs_f64() * 1e6).round() / 1e3);
}

async fn reporter(
    recorder: Rc<RefCell<Recorder>>,
    stalls: Stalls,
    reported_until: Rc<std::cell::Cell<Instant>>,
    every: Duration,
    label: String,
) {
    let start = recorder.borrow().measure_from;
    tokio::time::sleep_until(start.into()).await;
    {
        // Requests completed during the warm-up are not counted anyway.
        let mut r = recorder.borrow_mut();
        r.interval = Samples::default();
    }
    let mut index = 0u64;
    let end = recorder.borrow().measure_until;
    loop {
        index += 1;
        let at = start + every * u32::try_from(index).unwrap_or(u32::MAX);
        if at > end {
            break;
        }
        tokio::time::sleep_until(at.into()).await;
        let window = std::mem::take(&mut recorder.borrow_mut().interval);
        let mut line = window.figures(every.as_secs_f64());
        with_stalls(&mut line, &stalls, at - every, at);
        reported_until.set(at);
        line["label"] = json!(label);
        line["interval"] = json!(index);
        line["at_s"] = json!((every * u32::try_from(index).unwrap_or(u32::MAX)).as_secs());
        println!("{line}");
    }
}

async fn run(args: Args, target: Target) -> Result<Value, String> {
    let mut body = match args.body {
        Request::Short => json!({
            "messages": [{ "role": "user", "content": "Say hello in one short sentence." }],
        }),
        Request::LongTurn => serde_json::from_str(&long_turn())
            .map_err(|error| format!("the long turn is not JSON: {error}"))?,
    };
    body["model"] = json!(args.model);
    if args.stream {
        body["stream"] = json!(true);
    } else if let Some(object) = body.as_object_mut() {
        object.remove("stream");
    }
    let body = Bytes::from(body.to_string());
    let target = Rc::new(target);
    let connections = args.connections.max(1);

    // Every connection is open before the clock starts.
    let mut workers = Vec::with_capacity(connections);
    for _ in 0..connections {
        let mut worker = Worker {
            target: target.clone(),
            body: body.clone(),
            sender: None,
            timeout: Duration::from_secs(args.timeout.max(1)),
        };
        worker.connect().await?;
        workers.push(worker);
    }

    let begin = Instant::now() + Duration::from_millis(20);
    let measure_from = begin + Duration::from_secs(args.warmup);
    let measure_until = measure_from + Duration::from_secs(args.seconds);
    let recorder = Rc::new(RefCell::new(Recorder {
        measure_from,
        measure_until,
        total: Samples::default(),
        interval: Samples::default(),
        completed_in_window: 0,
        first_error: None,
    }));
    let stalls = Stalls::default();
    let reported_until = Rc::new(std::cell::Cell::new(measure_from));
    let reporting = (args.report_every > 0).then(|| {
        tokio::task::spawn_local(reporter(
            recorder.clone(),
            stalls.clone(),
            reported_until.clone(),
            Duration::from_secs(args.report_every),
            args.label.clone(),
        ))
    });

    let mut tasks = Vec::with_capacity(connections);
    let mut pacer = None;
    let overloaded = Arc::new(AtomicBool::new(false));
    match args.mode {
        Mode::Rate => {
            let (jobs, queue) = mpsc::unbounded_channel();
            let count = u64::from(args.rate) * (args.warmup + args.seconds);
            pacer = Some(pace(
                begin,
                args.rate,
                count,
                Duration::from_micros(args.spin_us),
                jobs,
                overloaded.clone(),
                stalls.clone(),
            ));
            let queue = Rc::new(Mutex::new(queue));
            let give_up = Duration::from_millis(args.give_up_ms.max(1));
            for mut worker in workers {
                let (queue, recorder) = (queue.clone(), recorder.clone());
                let overloaded = overloaded.clone();
                tasks.push(tokio::task::spawn_local(async move {
                    loop {
                        let next = queue.lock().await.recv().await;
                        let Some(scheduled) = next else { break };
                        if overloaded.load(Ordering::Relaxed) {
                            continue;
                        }
                        if scheduled.elapsed() > give_up {
                            overloaded.store(true, Ordering::Relaxed);
                            continue;
                        }
                        let outcome = worker.request(scheduled).await;
                        recorder.borrow_mut().record(scheduled, outcome);
                    }
                }));
            }
        }
        Mode::Saturate => {
            tokio::time::sleep_until(begin.into()).await;
            for mut worker in workers {
                let recorder = recorder.clone();
                tasks.push(tokio::task::spawn_local(async move {
                    loop {
                        let start = Instant::now();
                        if start >= measure_until {
                            break;
                        }
                        let outcome = worker.request(start).await;
                        recorder.borrow_mut().record(start, outcome);
                    }
                }));
            }
        }
    }
    for task in tasks {
        task.await.map_err(|e| e.to_string())?;
    }
    if let Some(pacer) = pacer {
        pacer
            .join()
            .map_err(|_| "the pacing thread failed".to_owned())?;
    }
    let drained = Instant::now().saturating_duration_since(measure_until);
    if let Some(reporting) = reporting {
        reporting.abort();
        let last = std::mem::take(&mut recorder.borrow_mut().interval);
        if last.ok() > 0 || last.errors > 0 {
            let mut line = last.figures(args.report_every as f64);
            // From the end of the last interval printed (the reporter may be stopped before
            // it prints one ending with the run).
            with_stalls(&mut line, &stalls, reported_until.get(), measure_until);
            line["label"] = json!(args.label);
            line["interval"] = json!("last");
            println!("{line}");
        }
    }
    let (total, first_error, completed) = {
        let mut r = recorder.borrow_mut();
        (
            std::mem::take(&mut r.total),
            r.first_error.take(),
            r.completed_in_window,
        )
    };
    if let Some(error) = &first_error {
        eprintln!(
            "keyroute-load {}: {} failed requests, the first: {error}",
            args.label, total.errors
        );
    }
    let mut result = total.figures(args.seconds as f64);
    with_stalls(&mut result, &stalls, measure_from, measure_until);
    result["label"] = json!(args.label);
    result["mode"] = json!(if args.mode == Mode::Rate {
        "rate"
    } else {
        "saturate"
    });
    result["stream"] = json!(args.stream);
    result["connections"] = json!(connections);
    result["seconds"] = json!(args.seconds);
    if args.mode == Mode::Rate {
        result["target_rps"] = json!(args.rate);
    }
    result["achieved_rps"] = json!((completed as f64 / args.seconds as f64 * 10.0).round() / 10.0);
    result["drain_ms"] = json!(drained.as_millis());
    result["overloaded"] = json!(overloaded.load(Ordering::Relaxed));
    result["first_error"] = json!(first_error);
    Ok(result)
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let target = match Target::parse(&args.url, &args.token) {
        Ok(target) => target,
        Err(error) => {
            eprintln!("keyroute-load: {error}");
            return std::process::ExitCode::from(64);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("keyroute-load: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let local = tokio::task::LocalSet::new();
    match local.block_on(&runtime, run(args, target)) {
        Ok(result) => {
            println!("{result}");
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("keyroute-load: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
