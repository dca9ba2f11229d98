//! gRPC calls by method and status code and their latency, counted by a tower layer that
//! wraps a server (the vault's RPCs) or a client channel (the router's calls to the vault,
//! where a failed call also marks the peer unreachable).

use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::{Interner, LATENCY_BUCKETS, Listed, histogram};

/// gRPC status codes as label values, by number; anything else is `unknown`.
const CODES: [&str; 17] = [
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
];

/// Method names are taken from the request path: a peer could send any, so at most this many
/// distinct ones become labels (the services have fewer RPCs than this).
const METHODS: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CallLabels {
    method: &'static str,
    code: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelSet)]
struct MethodLabel {
    method: &'static str,
}

/// The series [`GrpcMetricsLayer`] feeds: `<calls>_total{method,code}` and
/// `<latency>{method}` (to the response headers; for a server stream, until it started),
/// and for a client, `up`: 1 after the peer answered, 0 after a call failed to reach it.
#[derive(Debug)]
pub struct GrpcMetrics {
    calls: Family<CallLabels, Counter>,
    latency: Family<MethodLabel, Histogram>,
    methods: Interner,
    up: Gauge<i64, AtomicI64>,
}

impl GrpcMetrics {
    /// Registers the series under `calls` (a counter: `_total` is added) and `latency`.
    pub fn register(registry: &mut Registry, calls: &str, latency: &str) -> Arc<Self> {
        let metrics = Arc::new(Self {
            calls: Family::default(),
            latency: Family::new_with_constructor(|| histogram(&LATENCY_BUCKETS)),
            methods: Interner::new(METHODS),
            up: Gauge::default(),
        });
        registry.register(
            calls,
            "gRPC calls by method and status code (transport: the peer was not reached)",
            Listed(metrics.calls.clone()),
        );
        registry.register(
            latency,
            "gRPC call latency by method, in seconds",
            Listed(metrics.latency.clone()),
        );
        metrics
    }

    /// Also registers `name`, a gauge that is 1 while the peer answers and 0 after a call
    /// could not reach it (for a client's view of a server).
    pub fn register_up(&self, registry: &mut Registry, name: &str, help: &str) {
        self.up.set(1);
        registry.register(name, help, self.up.clone());
    }

    /// Metrics registered nowhere, for a client whose caller does not scrape it (tests).
    pub fn unregistered() -> Arc<Self> {
        Self::register(&mut Registry::default(), "unused_calls", "unused_seconds")
    }

    fn observe(&self, method: &'static str, code: Option<&str>, took: Duration) {
        let code = match code {
            None => "transport",
            Some(code) => code
                .parse::<usize>()
                .ok()
                .and_then(|n| CODES.get(n).copied())
                .unwrap_or("unknown"),
        };
        // Unavailable (14) comes from the client's own transport when the peer is down.
        self.up.set(i64::from(code != "transport" && code != "14"));
        self.calls.get_or_create(&CallLabels { method, code }).inc();
        self.latency
            .get_or_create(&MethodLabel { method })
            .observe(took.as_secs_f64());
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

impl<S> GrpcMetricsService<S> {
    /// `inner` counted in `metrics`.
    pub fn new(inner: S, metrics: Arc<GrpcMetrics>) -> Self {
        Self { inner, metrics }
    }
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
        let started = Instant::now();
        let metrics = self.metrics.clone();
        // The method is the path's last segment, interned (bounded): no copy once known.
        let method = metrics
            .methods
            .intern(request.uri().path().rsplit('/').next().unwrap_or_default());
        let call = self.inner.call(request);
        Box::pin(async move {
            let response = call.await;
            // Errors come trailers-only, with grpc-status in the headers; a missing status
            // means the call went on to send a body (its status follows in trailers).
            let code = match &response {
                Ok(response) => Some(
                    response
                        .headers()
                        .get("grpc-status")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("0"),
                ),
                Err(_) => None,
            };
            metrics.observe(method, code, started.elapsed());
            response
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Format;

    #[test]
    fn calls_are_counted_by_method_and_code() {
        let mut registry = Registry::default();
        let metrics = GrpcMetrics::register(&mut registry, "x_calls", "x_call_seconds");
        metrics.register_up(&mut registry, "x_up", "Reachable.");
        metrics.observe("Check", Some("0"), Duration::from_millis(3));
        metrics.observe("Check", Some("99"), Duration::from_millis(3));
        let text = Format::Prometheus.encode(&registry);
        assert!(
            text.contains("x_calls_total{method=\"Check\",code=\"0\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("x_calls_total{method=\"Check\",code=\"unknown\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("x_call_seconds_count{method=\"Check\"} 2"),
            "{text}"
        );
        assert!(text.contains("x_up 1\n"), "{text}");
        metrics.observe("Lease", None, Duration::from_millis(3));
        let text = Format::Prometheus.encode(&registry);
        assert!(
            text.contains("x_calls_total{method=\"Lease\",code=\"transport\"} 1"),
            "{text}"
        );
        assert!(text.contains("x_up 0\n"), "{text}");
    }
}
