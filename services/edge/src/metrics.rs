//! The edge's Prometheus metrics: requests by route, status, provider and key source;
//! latency by route (a stream's whole duration); router and upstream errors by origin and
//! provider.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{HeaderMap, StatusCode};
use keyroute_proto::contract;
use keyroute_telemetry::metrics::{CounterFamily, HistogramFamily, escape};

/// Counters and histograms for every route.
#[derive(Debug)]
pub struct EdgeMetrics {
    requests: CounterFamily,
    latency: HistogramFamily,
    errors: CounterFamily,
    token_refusals: CounterFamily,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none")
}

impl EdgeMetrics {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            requests: CounterFamily::new(
                "keyroute_edge_requests_total",
                "HTTP requests by route, status, provider and key source.",
            ),
            latency: HistogramFamily::new(
                "keyroute_edge_request_seconds",
                "Time to answer, by route; for streams, until the last byte.",
            ),
            errors: CounterFamily::new(
                "keyroute_edge_errors_total",
                "Failed model calls by origin (client, upstream, keyroute) and provider.",
            ),
            token_refusals: CounterFamily::new(
                "keyroute_edge_token_refusals_total",
                "Gateway tokens refused, by reason: checked (the router or vault refused it), cached (refused again from the edge's memory, without asking), limited (the address failed too often).",
            ),
        })
    }

    fn request(&self, route: &str, status: StatusCode, headers: &HeaderMap, took: Duration) {
        let labels = format!(
            "route=\"{route}\",status=\"{}\",provider=\"{}\",key_source=\"{}\"",
            status.as_u16(),
            escape(header(headers, contract::header::PROVIDER)),
            escape(header(headers, contract::header::KEY_SOURCE)),
        );
        self.requests.add(labels, 1);
        self.latency.observe(format!("route=\"{route}\""), took);
    }

    /// A call the router answered.
    pub fn served(&self, route: &str, headers: &HeaderMap, took: Duration) {
        self.request(route, StatusCode::OK, headers, took);
    }

    /// A call the router refused or failed; its origin and provider come from the status.
    pub fn router_error(
        &self,
        route: &str,
        http: StatusCode,
        status: &tonic::Status,
        took: Duration,
    ) {
        let metadata = status.metadata();
        let origin = metadata
            .get(contract::header::ERROR_ORIGIN)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(if http.is_client_error() {
                "client"
            } else {
                "keyroute"
            });
        let provider = metadata
            .get(contract::header::PROVIDER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none");
        self.errors.add(
            format!(
                "route=\"{route}\",origin=\"{}\",provider=\"{}\"",
                escape(origin),
                escape(provider)
            ),
            1,
        );
        self.request(route, http, &HeaderMap::new(), took);
    }

    /// Any other answer (management API, refused input), by route and status.
    pub fn other(&self, route: &str, status: StatusCode, took: Duration) {
        self.request(route, status, &HeaderMap::new(), took);
    }

    /// A refused gateway token, by reason (`checked`, `cached` or `limited`).
    pub fn token_refused(&self, reason: &'static str) {
        self.token_refusals.add(format!("reason=\"{reason}\""), 1);
    }

    /// Counts a stream when dropped: when its body ends or the client goes away.
    pub fn stream_guard(
        self: &Arc<Self>,
        route: &'static str,
        headers: &HeaderMap,
        started: Instant,
    ) -> StreamDone {
        StreamDone {
            metrics: self.clone(),
            route,
            headers: headers.clone(),
            started,
        }
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        self.requests.render(&mut out);
        self.latency.render(&mut out);
        self.errors.render(&mut out);
        self.token_refusals.render(&mut out);
        out
    }
}

/// See [`EdgeMetrics::stream_guard`].
#[derive(Debug)]
pub struct StreamDone {
    metrics: Arc<EdgeMetrics>,
    route: &'static str,
    headers: HeaderMap,
    started: Instant,
}

impl Drop for StreamDone {
    fn drop(&mut self) {
        self.metrics
            .served(self.route, &self.headers, self.started.elapsed());
    }
}
