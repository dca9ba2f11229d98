//! Prometheus metrics for the router, served as text on a separate admin port: requests by
//! provider, model, key source and outcome; upstream and added latency; lease cache hits and
//! vault calls; key cooldowns, on the shared registry in `keyroute_telemetry::metrics`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use keyroute_telemetry::metrics::write_counter;
use keyroute_telemetry::metrics::{CounterFamily, Histogram, HistogramFamily, escape};

/// The router's metrics.
#[derive(Debug)]
pub struct Metrics {
    requests: CounterFamily,
    upstream_errors: CounterFamily,
    upstream_latency: HistogramFamily,
    added_latency: Histogram,
    pub cooldowns: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            requests: CounterFamily::new(
                "keyroute_router_requests_total",
                "Routed requests by provider, model, key source and outcome.",
            ),
            upstream_errors: CounterFamily::new(
                "keyroute_router_upstream_errors_total",
                "Failed upstream calls by provider and status.",
            ),
            upstream_latency: HistogramFamily::new(
                "keyroute_router_upstream_seconds",
                "Time waiting on providers.",
            ),
            added_latency: Histogram::default(),
            cooldowns: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// One routed request and how it ended (`ok`, `client_error`, `upstream_error`, ...).
    pub fn request(&self, provider: &str, model: &str, source: &str, outcome: &str) {
        let labels = format!(
            "provider=\"{}\",model=\"{}\",key_source=\"{source}\",outcome=\"{outcome}\"",
            escape(provider),
            escape(model)
        );
        self.requests.add(labels, 1);
    }

    pub fn upstream_error(&self, provider: &str, status: u16) {
        self.upstream_errors.add(
            format!("provider=\"{}\",status=\"{status}\"", escape(provider)),
            1,
        );
    }

    /// Time spent waiting on the provider, and the time keyroute added around it.
    pub fn latency(&self, provider: &str, upstream: Duration, total: Duration) {
        self.upstream_latency
            .observe(format!("provider=\"{}\"", escape(provider)), upstream);
        self.added_latency.observe(total.saturating_sub(upstream));
    }

    /// The exposition text; lease hits and vault calls come from the lease cache.
    pub fn render_with(&self, lease_hits: u64, vault_calls: u64) -> String {
        let mut out = String::with_capacity(4096);
        self.requests.render(&mut out);
        self.upstream_errors.render(&mut out);
        self.upstream_latency.render(&mut out);
        out.push_str("# HELP keyroute_router_added_seconds Time keyroute added to a request beyond the provider's.\n# TYPE keyroute_router_added_seconds histogram\n");
        self.added_latency
            .render("keyroute_router_added_seconds", "", &mut out);
        let gauges = [
            (
                "keyroute_router_lease_cache_hits_total",
                "Leases served from memory.",
                lease_hits,
            ),
            (
                "keyroute_router_vault_lease_calls_total",
                "Leases fetched from the vault.",
                vault_calls,
            ),
            (
                "keyroute_router_key_cooldowns_total",
                "Keys benched after an auth failure or rate limit.",
                self.cooldowns.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, value) in gauges {
            write_counter(&mut out, name, help, value);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_follows_the_text_format() {
        let metrics = Metrics::new();
        metrics.request("openai", "gpt-4o-mini", "byok", "ok");
        metrics.request("openai", "gpt-4o-mini", "byok", "ok");
        metrics.upstream_error("anthropic", 529);
        metrics.latency(
            "openai",
            Duration::from_millis(20),
            Duration::from_millis(21),
        );
        let text = metrics.render_with(7, 3);
        assert!(text.contains("keyroute_router_requests_total{provider=\"openai\",model=\"gpt-4o-mini\",key_source=\"byok\",outcome=\"ok\"} 2"), "{text}");
        assert!(text.contains(
            "keyroute_router_upstream_errors_total{provider=\"anthropic\",status=\"529\"} 1"
        ));
        assert!(text.contains(
            "keyroute_router_upstream_seconds_bucket{provider=\"openai\",le=\"0.025\"} 1"
        ));
        assert!(text.contains(
            "keyroute_router_upstream_seconds_bucket{provider=\"openai\",le=\"0.01\"} 0"
        ));
        assert!(text.contains("keyroute_router_added_seconds_bucket{le=\"0.001\"} 1"));
        assert!(text.contains("keyroute_router_added_seconds_count 1"));
        assert!(text.contains("keyroute_router_vault_lease_calls_total 3"));
    }
}
