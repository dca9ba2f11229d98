//! What every service's `/metrics` shares, on the maintained `prometheus-client` registry:
//! the two exposition formats (OpenMetrics for scrapers that ask for it, since only it carries
//! exemplars, and the Prometheus text format otherwise), exemplars naming the trace of the
//! request an observation came from, bucket bounds, a bounded label interner, counters and
//! gauges read at scrape time from state a service keeps anyway, and the per-RPC gRPC series.
//!
//! Hot-path rule: an observation allocates nothing once its series exists. Label sets are
//! small `Copy` structs of `&'static str` (provider ids, routes, outcomes, interned catalog
//! ids), looked up by reference; `Family::get_or_create` clones them only when creating.

mod grpc;
mod sampled;

use std::collections::HashSet;
use std::sync::RwLock;

pub use grpc::{GrpcMetrics, GrpcMetricsLayer, GrpcMetricsService};
pub use prometheus_client;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::exemplar::HistogramWithExemplars;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
pub use sampled::{Listed, Sampled, sampled_counter, sampled_gauge};

/// Latency bounds in seconds for whole calls (upstream, edge requests, RPCs): 1 ms to 60 s.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0,
];

/// Bounds in seconds for the time keyroute itself adds, which is meant to stay well under a
/// millisecond (the goal is 0.25 ms at p50): 50 µs to 1 s, so p50 and p99 are readable there.
pub const OVERHEAD_BUCKETS: [f64; 14] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
    1.0,
];

/// A classic histogram with `buckets`.
pub fn histogram(buckets: &[f64]) -> Histogram {
    Histogram::new(buckets.iter().copied())
}

/// A histogram whose buckets each keep the trace id of their latest observation.
pub type TracedHistogram = HistogramWithExemplars<TraceExemplar>;

/// A [`TracedHistogram`] with `buckets`.
pub fn traced_histogram(buckets: &[f64]) -> TracedHistogram {
    HistogramWithExemplars::new(buckets.iter().copied())
}

/// An exemplar's label set: `trace_id="<32 hex digits>"`, kept as the 16 bytes it is (no
/// string is made until a scrape writes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct TraceExemplar {
    trace_id: TraceId,
}

/// A trace id written as OpenTelemetry and W3C `traceparent` write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId(pub opentelemetry::trace::TraceId);

impl EncodeLabelValue for TraceId {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        use std::fmt::Write as _;
        write!(encoder, "{}", self.0)
    }
}

impl TraceExemplar {
    /// The exemplar for `trace_id`.
    pub fn new(trace_id: opentelemetry::trace::TraceId) -> Self {
        Self {
            trace_id: TraceId(trace_id),
        }
    }

    /// The trace id it carries.
    pub fn trace_id(&self) -> opentelemetry::trace::TraceId {
        self.trace_id.0
    }
}

/// The current span's trace, when there is one worth linking to: a valid span context that
/// is sampled (an unsampled trace was never exported, so an exemplar would point nowhere).
/// `None` when no OpenTelemetry layer is installed, cheaply.
pub fn current_trace() -> Option<TraceExemplar> {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let span = tracing::Span::current();
    if span.is_disabled() {
        return None;
    }
    let context = span.context();
    let span_context = context.span().span_context().clone();
    (span_context.is_valid() && span_context.is_sampled())
        .then(|| TraceExemplar::new(span_context.trace_id()))
}

/// The exposition format of one scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The Prometheus text format 0.0.4: what every scraper reads; no exemplars.
    Prometheus,
    /// OpenMetrics 1.0.0 text: exemplars included, ends with `# EOF`.
    OpenMetrics,
}

/// The OpenMetrics content type, answered to scrapers that accept it.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

impl Format {
    /// What an `Accept` header asks for: OpenMetrics when it is acceptable and preferred at
    /// least as much as plain text (Prometheus sends both, OpenMetrics first), else text.
    pub fn negotiate(accept: Option<&str>) -> Self {
        let Some(accept) = accept else {
            return Self::Prometheus;
        };
        let (mut openmetrics, mut text) = (0.0_f32, 0.0_f32);
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default().to_ascii_lowercase();
            let quality = parts
                .filter_map(|p| p.strip_prefix("q="))
                .find_map(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            match media.as_str() {
                "application/openmetrics-text" => openmetrics = openmetrics.max(quality),
                "text/plain" | "*/*" | "text/*" => text = text.max(quality),
                _ => {}
            }
        }
        if openmetrics > 0.0 && openmetrics >= text {
            Self::OpenMetrics
        } else {
            Self::Prometheus
        }
    }

    /// The `Content-Type` of an answer in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Prometheus => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            Self::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
        }
    }

    /// `registry` written in this format.
    pub fn encode(self, registry: &Registry) -> String {
        let mut out = String::with_capacity(8192);
        let written = match self {
            Self::Prometheus => {
                prometheus_client::encoding::prometheus_text::encode(&mut out, registry)
            }
            Self::OpenMetrics => prometheus_client::encoding::text::encode(&mut out, registry),
        };
        if let Err(error) = written {
            tracing::warn!(%error, "metrics could not be encoded");
        }
        out
    }
}

/// Turns label values that are not `'static` (catalog model ids, gRPC method names) into
/// `&'static str` so label sets stay `Copy` and lookups allocate nothing. Each distinct value
/// is leaked once; past `limit` distinct values everything else is `"other"`, so neither a
/// reloaded catalog nor a caller can grow it without bound.
#[derive(Debug)]
pub struct Interner {
    limit: usize,
    known: RwLock<HashSet<&'static str, foldhash::fast::RandomState>>,
}

impl Interner {
    /// An interner that keeps at most `limit` values.
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            known: RwLock::new(HashSet::default()),
        }
    }

    /// `value` as a `'static` label, or `"other"` once the limit is reached.
    pub fn intern(&self, value: &str) -> &'static str {
        if let Some(known) = self
            .known
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(value)
        {
            return known;
        }
        let mut known = self.known.write().unwrap_or_else(|p| p.into_inner());
        if let Some(found) = known.get(value) {
            return found;
        }
        if known.len() >= self.limit {
            return "other";
        }
        let leaked: &'static str = Box::leak(value.to_owned().into_boxed_str());
        known.insert(leaked);
        leaked
    }
}

/// Serves `GET /metrics` on `listener` with what `render` gives for the format the scraper
/// asked for, until the task is dropped or aborted: the one metrics endpoint every service
/// exposes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    render: impl Fn(Format) -> String + Clone + Send + Sync + 'static,
) {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move |headers: http::HeaderMap| {
            let render = render.clone();
            async move { answer(&headers, render) }
        }),
    );
    if let Err(error) = axum::serve(listener, app).await {
        tracing::warn!(%error, "metrics server stopped");
    }
}

/// A `/metrics` answer for a request with `headers`: the format it accepts, with its type.
pub fn answer(
    headers: &http::HeaderMap,
    render: impl Fn(Format) -> String,
) -> ([(http::header::HeaderName, &'static str); 1], String) {
    let accept = headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let format = Format::negotiate(accept);
    (
        [(http::header::CONTENT_TYPE, format.content_type())],
        render(format),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::family::Family;

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelSet)]
    struct Route {
        route: &'static str,
    }

    #[test]
    fn both_formats_carry_the_series_and_only_openmetrics_the_exemplars() {
        let mut registry = Registry::default();
        let requests = Family::<Route, Counter>::default();
        registry.register("x_requests", "Requests.", requests.clone());
        let latency = Family::<Route, TracedHistogram>::new_with_constructor(|| {
            traced_histogram(&LATENCY_BUCKETS)
        });
        registry.register("x_seconds", "Latency.", latency.clone());
        requests.get_or_create(&Route { route: "a" }).inc_by(2);
        let trace = opentelemetry::trace::TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736")
            .unwrap_or(opentelemetry::trace::TraceId::INVALID);
        latency.get_or_create(&Route { route: "a" }).observe(
            0.02,
            Some(TraceExemplar::new(trace)),
            None,
        );

        let text = Format::Prometheus.encode(&registry);
        assert!(text.contains("# TYPE x_requests_total counter\n"), "{text}");
        assert!(text.contains("x_requests_total{route=\"a\"} 2\n"), "{text}");
        assert!(
            text.contains("x_seconds_bucket{le=\"0.025\",route=\"a\"} 1\n")
                || text.contains("x_seconds_bucket{route=\"a\",le=\"0.025\"} 1\n"),
            "{text}"
        );
        assert!(!text.contains("trace_id"), "{text}");

        let open = Format::OpenMetrics.encode(&registry);
        assert!(
            open.contains("trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\""),
            "{open}"
        );
        assert!(open.ends_with("# EOF\n"), "{open}");
    }

    #[test]
    fn scrapers_get_openmetrics_only_when_they_ask_for_it() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(Format::negotiate(None), Format::Prometheus);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Prometheus);
        assert_eq!(
            Format::negotiate(Some("text/plain;version=0.0.4")),
            Format::Prometheus
        );
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text;q=0")),
            Format::Prometheus
        );
    }

    #[test]
    fn the_interner_is_bounded() {
        let interner = Interner::new(2);
        let a = interner.intern("gpt-4o");
        assert!(std::ptr::eq(a, interner.intern("gpt-4o")));
        assert_eq!(interner.intern("claude"), "claude");
        assert_eq!(interner.intern("made-up"), "other");
        assert_eq!(interner.intern("gpt-4o"), "gpt-4o");
    }

    #[test]
    fn no_trace_without_an_opentelemetry_layer() {
        let span = tracing::info_span!("request");
        let _entered = span.enter();
        assert_eq!(current_trace(), None);
    }
}
