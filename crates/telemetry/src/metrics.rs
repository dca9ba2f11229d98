//! A small Prometheus text-format registry shared by the services: labelled counters and
//! histograms, an atomic add per observation, no allocation once a series exists beyond its
//! label string.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Histogram bucket bounds in seconds, from 1 ms to 60 s.
const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0,
];

/// A latency histogram in seconds.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    /// Sum in microseconds.
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, value: Duration) {
        let seconds = value.as_secs_f64();
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(
            u64::try_from(value.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Appends the series (without help and type lines) for `labels` (`a="b",c="d"`).
    pub fn render(&self, name: &str, labels: &str, out: &mut String) {
        let join = |extra: &str| {
            if labels.is_empty() {
                format!("{{{extra}}}")
            } else {
                format!("{{{labels},{extra}}}")
            }
        };
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            let _ = writeln!(
                out,
                "{name}_bucket{} {}",
                join(&format!("le=\"{bound}\"")),
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{} {count}", join("le=\"+Inf\""));
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(
            out,
            "{name}_sum{braces} {}",
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

/// Escapes a label value: quotes, backslashes and newlines. Borrowed when there is nothing
/// to escape, as for every provider id and route name.
pub fn escape(value: &str) -> std::borrow::Cow<'_, str> {
    if !value.contains(['\\', '"', '\n']) {
        return std::borrow::Cow::Borrowed(value);
    }
    std::borrow::Cow::Owned(
        value
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n"),
    )
}

/// Appends one unlabelled counter, with its help and type lines.
pub fn write_counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
    );
}

/// Series of one metric by label set.
#[derive(Debug)]
pub struct Family<T> {
    name: &'static str,
    help: &'static str,
    series: Mutex<BTreeMap<String, Arc<T>>>,
}

/// Counters by label set.
pub type CounterFamily = Family<AtomicU64>;
/// Histograms by label set.
pub type HistogramFamily = Family<Histogram>;

impl<T: Default> Family<T> {
    pub fn new(name: &'static str, help: &'static str) -> Self {
        Self {
            name,
            help,
            series: Mutex::new(BTreeMap::new()),
        }
    }

    /// The series for `labels` (`a="b",c="d"`, values escaped), created on first use.
    pub fn with(&self, labels: String) -> Arc<T> {
        self.series
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(labels)
            .or_default()
            .clone()
    }
}

impl CounterFamily {
    pub fn add(&self, labels: String, value: u64) {
        self.with(labels).fetch_add(value, Ordering::Relaxed);
    }

    /// Appends help, type and every series.
    pub fn render(&self, out: &mut String) {
        let name = self.name;
        let _ = writeln!(out, "# HELP {name} {}\n# TYPE {name} counter", self.help);
        for (labels, value) in self.series.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(out, "{name}{{{labels}}} {}", value.load(Ordering::Relaxed));
        }
    }
}

impl HistogramFamily {
    pub fn observe(&self, labels: String, value: Duration) {
        self.with(labels).observe(value);
    }

    /// Appends help, type and every series.
    pub fn render(&self, out: &mut String) {
        let name = self.name;
        let _ = writeln!(out, "# HELP {name} {}\n# TYPE {name} histogram", self.help);
        for (labels, histogram) in self.series.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            histogram.render(name, labels, out);
        }
    }
}

/// Serves `GET /metrics` on `listener` with the text `render` gives, until the task is
/// dropped or aborted: the one metrics endpoint every service exposes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    render: impl Fn() -> String + Clone + Send + Sync + 'static,
) {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let render = render.clone();
            async move {
                (
                    [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    render(),
                )
            }
        }),
    );
    if let Err(error) = axum::serve(listener, app).await {
        tracing::warn!(%error, "metrics server stopped");
    }
}

/// gRPC calls by method and status code, and their latency (to the response headers; for a
/// server stream, until it started), counted by [`GrpcMetricsLayer`].
#[derive(Debug)]
pub struct GrpcMetrics {
    calls: CounterFamily,
    latency: HistogramFamily,
}

impl GrpcMetrics {
    pub fn new(calls: &'static str, latency: &'static str) -> Arc<Self> {
        Arc::new(Self {
            calls: CounterFamily::new(calls, "gRPC calls by method and status code."),
            latency: HistogramFamily::new(latency, "gRPC call latency by method."),
        })
    }

    fn observe(&self, method: &str, code: &str, took: Duration) {
        let method = escape(method);
        self.calls
            .add(format!("method=\"{method}\",code=\"{}\"", escape(code)), 1);
        self.latency.observe(format!("method=\"{method}\""), took);
    }

    /// Appends both families.
    pub fn render(&self, out: &mut String) {
        self.calls.render(out);
        self.latency.render(out);
    }
}

/// The tower layer that feeds [`GrpcMetrics`].
#[derive(Debug, Clone)]
pub struct GrpcMetricsLayer(pub Arc<GrpcMetrics>);

impl<S> tower::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetricsService {
            inner,
            metrics: self.0.clone(),
        }
    }
}

/// See [`GrpcMetricsLayer`].
#[derive(Debug, Clone)]
pub struct GrpcMetricsService<S> {
    inner: S,
    metrics: Arc<GrpcMetrics>,
}

type BoxFuture<T, E> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, E>> + Send>>;

impl<S, B, R> tower::Service<http::Request<B>> for GrpcMetricsService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let started = std::time::Instant::now();
        let method = request
            .uri()
            .path()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let metrics = self.metrics.clone();
        let call = self.inner.call(request);
        Box::pin(async move {
            let response = call.await;
            // Errors come trailers-only, with grpc-status in the headers; a missing status
            // means the call went on to send a body (its status follows in trailers).
            let code = match &response {
                Ok(response) => response
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("0")
                    .to_owned(),
                Err(_) => "transport".to_owned(),
            };
            metrics.observe(&method, &code, started.elapsed());
            response
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_render_the_text_format() {
        let requests = CounterFamily::new("x_requests_total", "Requests.");
        requests.add("route=\"a\"".into(), 2);
        let latency = HistogramFamily::new("x_seconds", "Latency.");
        latency.observe("route=\"a\"".into(), Duration::from_millis(20));
        let mut out = String::new();
        requests.render(&mut out);
        latency.render(&mut out);
        assert!(out.contains("# TYPE x_requests_total counter\nx_requests_total{route=\"a\"} 2\n"));
        assert!(out.contains("x_seconds_bucket{route=\"a\",le=\"0.025\"} 1"));
        assert!(out.contains("x_seconds_bucket{route=\"a\",le=\"0.01\"} 0"));
        assert!(out.contains("x_seconds_count{route=\"a\"} 1"));
        assert_eq!(escape("a\"b\\c"), "a\\\"b\\\\c");
    }
}
