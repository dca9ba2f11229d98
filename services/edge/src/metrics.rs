//! The edge's Prometheus metrics: requests by route, status, provider and key source; latency
//! by route, status and dialect (a stream's whole duration) and a stream's time to first
//! byte, each with the request's trace as exemplar; router and upstream errors by origin and
//! provider; refused gateway tokens.
//!
//! Every label is `&'static str` or a number: routes and reasons are constants, provider ids
//! from the router's metadata are interned (bounded), key sources are one of three words.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderName, StatusCode};
use keyroute_proto::contract;
use keyroute_telemetry::metrics::{
    Format, LATENCY_BUCKETS, Listed, TraceExemplar, TracedHistogram, current_trace,
    traced_histogram,
};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    status: u16,
    provider: &'static str,
    key_source: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelSet)]
struct LatencyLabels {
    route: &'static str,
    status: u16,
    dialect: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelSet)]
struct FirstByteLabels {
    route: &'static str,
    provider: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ErrorLabels {
    route: &'static str,
    origin: &'static str,
    provider: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

type TracedFamily<S> = Family<S, TracedHistogram, fn() -> TracedHistogram>;

fn latency_histogram() -> TracedHistogram {
    traced_histogram(&LATENCY_BUCKETS)
}

/// The API dialect a route speaks (`models` answers in both).
fn dialect(route: &str) -> &'static str {
    match route {
        "messages" | "count_tokens" => "anthropic",
        "chat_completions" | "fim_completions" | "responses" | "embeddings" => "openai",
        "models" => "any",
        _ => "management",
    }
}

/// Counters and histograms for every route, and the registry they are written from.
#[derive(Debug)]
pub struct EdgeMetrics {
    registry: Mutex<Registry>,
    requests: Family<RequestLabels, Counter>,
    latency: TracedFamily<LatencyLabels>,
    first_byte: TracedFamily<FirstByteLabels>,
    errors: Family<ErrorLabels, Counter>,
    token_refusals: Family<ReasonLabel, Counter>,
}

impl EdgeMetrics {
    pub fn new() -> Arc<Self> {
        let metrics = Self {
            registry: Mutex::new(Registry::default()),
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram as fn() -> _),
            first_byte: Family::new_with_constructor(latency_histogram as fn() -> _),
            errors: Family::default(),
            token_refusals: Family::default(),
        };
        {
            let mut registry = metrics.registry.lock().unwrap_or_else(|p| p.into_inner());
            registry.register(
                "keyroute_edge_requests",
                "HTTP requests by route, status, provider and key source",
                Listed(metrics.requests.clone()),
            );
            registry.register(
                "keyroute_edge_request_seconds",
                "Time to answer, by route, status and dialect; for streams, until the last byte",
                Listed(metrics.latency.clone()),
            );
            registry.register(
                "keyroute_edge_stream_first_byte_seconds",
                "Time from a streamed request's arrival to its first event sent, by route and provider",
                Listed(metrics.first_byte.clone()),
            );
            registry.register(
                "keyroute_edge_errors",
                "Failed model calls by origin (client, upstream, keyroute) and provider",
                Listed(metrics.errors.clone()),
            );
            registry.register(
                "keyroute_edge_token_refusals",
                "Gateway tokens refused, by reason: checked (the router or vault refused it), cached (refused again from the edge's memory, without asking), limited (the address failed too often)",
                Listed(metrics.token_refusals.clone()),
            );
        }
        Arc::new(metrics)
    }

    /// A provider id from the router's metadata as a label: the registry's own `'static` id
    /// (`none` when absent, `other` for an id the registry does not know).
    fn provider(value: Option<&str>) -> &'static str {
        value.map_or("none", |v| {
            keyroute_wire::registry::provider(v).map_or("other", |provider| provider.id)
        })
    }

    fn served_by(&self, headers: &HeaderMap) -> (&'static str, &'static str) {
        let value = |name: &HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
        let source = match value(&contract::header_name::KEY_SOURCE) {
            Some("byok") => "byok",
            Some("managed") => "managed",
            _ => "none",
        };
        (
            Self::provider(value(&contract::header_name::PROVIDER)),
            source,
        )
    }

    fn request(
        &self,
        route: &'static str,
        status: StatusCode,
        served: (&'static str, &'static str),
        took: Duration,
        trace: Option<TraceExemplar>,
    ) {
        let (provider, key_source) = served;
        let status = status.as_u16();
        self.requests
            .get_or_create(&RequestLabels {
                route,
                status,
                provider,
                key_source,
            })
            .inc();
        self.latency
            .get_or_create(&LatencyLabels {
                route,
                status,
                dialect: dialect(route),
            })
            .observe(took.as_secs_f64(), trace, None);
    }

    /// A call the router answered.
    pub fn served(&self, route: &'static str, headers: &HeaderMap, took: Duration) {
        let served = self.served_by(headers);
        self.request(route, StatusCode::OK, served, took, current_trace());
    }

    /// A call the router refused or failed; its origin and provider come from the status.
    pub fn router_error(
        &self,
        route: &'static str,
        http: StatusCode,
        status: &tonic::Status,
        took: Duration,
    ) {
        let metadata = status.metadata();
        let origin = match metadata
            .get(contract::header::ERROR_ORIGIN)
            .and_then(|v| v.to_str().ok())
        {
            Some("client") => "client",
            Some("upstream") => "upstream",
            Some(_) => "keyroute",
            None if http.is_client_error() => "client",
            None => "keyroute",
        };
        let provider = Self::provider(
            metadata
                .get(contract::header::PROVIDER)
                .and_then(|v| v.to_str().ok()),
        );
        self.errors
            .get_or_create(&ErrorLabels {
                route,
                origin,
                provider,
            })
            .inc();
        self.request(route, http, ("none", "none"), took, current_trace());
    }

    /// Any other answer (management API, refused input), by route and status.
    pub fn other(&self, route: &'static str, status: StatusCode, took: Duration) {
        self.request(route, status, ("none", "none"), took, current_trace());
    }

    /// A refused gateway token, by reason (`checked`, `cached` or `limited`).
    pub fn token_refused(&self, reason: &'static str) {
        self.token_refusals
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    /// Counts a stream: its first event when [`StreamDone::first_event`] is called, the whole
    /// when dropped (its body ended or the client went away). The exemplar is the trace
    /// current now, the request's.
    pub fn stream_guard(
        self: &Arc<Self>,
        route: &'static str,
        headers: &HeaderMap,
        started: Instant,
    ) -> StreamDone {
        StreamDone {
            metrics: self.clone(),
            route,
            served: self.served_by(headers),
            started,
            trace: current_trace(),
            first_sent: false,
        }
    }

    /// The exposition text in `format`.
    pub fn render(&self, format: Format) -> String {
        format.encode(&self.registry.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// See [`EdgeMetrics::stream_guard`].
#[derive(Debug)]
pub struct StreamDone {
    metrics: Arc<EdgeMetrics>,
    route: &'static str,
    served: (&'static str, &'static str),
    started: Instant,
    trace: Option<TraceExemplar>,
    first_sent: bool,
}

impl StreamDone {
    /// An event is about to go to the client: the first one sets the time to first byte.
    pub fn first_event(&mut self) {
        if self.first_sent {
            return;
        }
        self.first_sent = true;
        self.metrics
            .first_byte
            .get_or_create(&FirstByteLabels {
                route: self.route,
                provider: self.served.0,
            })
            .observe(self.started.elapsed().as_secs_f64(), self.trace, None);
    }
}

impl Drop for StreamDone {
    fn drop(&mut self) {
        self.metrics.request(
            self.route,
            StatusCode::OK,
            self.served,
            self.started.elapsed(),
            self.trace,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_count_their_first_byte_once_and_their_whole_when_done() {
        let metrics = EdgeMetrics::new();
        let mut headers = HeaderMap::new();
        headers.insert(
            contract::header::PROVIDER,
            "openai"
                .parse()
                .unwrap_or_else(|_| http::HeaderValue::from_static("x")),
        );
        headers.insert(
            contract::header::KEY_SOURCE,
            http::HeaderValue::from_static("byok"),
        );
        let mut done = metrics.stream_guard("chat_completions", &headers, Instant::now());
        done.first_event();
        done.first_event();
        drop(done);
        metrics.token_refused("cached");
        let text = metrics.render(Format::Prometheus);
        assert!(text.contains("keyroute_edge_stream_first_byte_seconds_count{route=\"chat_completions\",provider=\"openai\"} 1"), "{text}");
        assert!(text.contains("keyroute_edge_requests_total{route=\"chat_completions\",status=\"200\",provider=\"openai\",key_source=\"byok\"} 1"), "{text}");
        assert!(text.contains("keyroute_edge_request_seconds_count{route=\"chat_completions\",status=\"200\",dialect=\"openai\"} 1"), "{text}");
        assert!(
            text.contains("keyroute_edge_token_refusals_total{reason=\"cached\"} 1"),
            "{text}"
        );
    }
}
