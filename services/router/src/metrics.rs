//! Prometheus metrics for the router, served as text on a separate admin port: requests by
//! provider, model, key source and outcome; upstream and added latency; lease cache hits and
//! vault calls; key cooldowns. A small registry of its own: a label lookup and an atomic add
//! per observation, no allocation once a series exists.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Histogram bucket bounds in seconds, from 1 ms to 60 s.
const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0,
];

#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    /// Sum in microseconds.
    sum_micros: AtomicU64,
}

impl Histogram {
    fn observe(&self, value: Duration) {
        let seconds = value.as_secs_f64();
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(value.as_micros() as u64, Ordering::Relaxed);
    }

    fn render(&self, name: &str, labels: &str, out: &mut String) {
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

/// Label values are provider ids, model ids and fixed words; quotes and backslashes are
/// escaped all the same.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Appends one counter, with its help and type lines, in the text format.
pub fn write_counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
    );
}

/// The router's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
    upstream_errors: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
    upstream_latency: Mutex<BTreeMap<String, Arc<Histogram>>>,
    added_latency: Histogram,
    pub cooldowns: AtomicU64,
}

fn counter(map: &Mutex<BTreeMap<String, Arc<AtomicU64>>>, labels: String) -> Arc<AtomicU64> {
    map.lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(labels)
        .or_default()
        .clone()
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
        counter(&self.requests, labels).fetch_add(1, Ordering::Relaxed);
    }

    pub fn upstream_error(&self, provider: &str, status: u16) {
        counter(
            &self.upstream_errors,
            format!("provider=\"{}\",status=\"{status}\"", escape(provider)),
        )
        .fetch_add(1, Ordering::Relaxed);
    }

    /// Time spent waiting on the provider, and the time keyroute added around it.
    pub fn latency(&self, provider: &str, upstream: Duration, total: Duration) {
        let histogram = self
            .upstream_latency
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(format!("provider=\"{}\"", escape(provider)))
            .or_default()
            .clone();
        histogram.observe(upstream);
        self.added_latency.observe(total.saturating_sub(upstream));
    }

    /// The exposition text; lease hits and vault calls come from the lease cache.
    pub fn render_with(&self, lease_hits: u64, vault_calls: u64) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str("# HELP keyroute_router_requests_total Routed requests by provider, model, key source and outcome.\n# TYPE keyroute_router_requests_total counter\n");
        for (labels, value) in self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "keyroute_router_requests_total{{{labels}}} {}",
                value.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP keyroute_router_upstream_errors_total Failed upstream calls by provider and status.\n# TYPE keyroute_router_upstream_errors_total counter\n");
        for (labels, value) in self
            .upstream_errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "keyroute_router_upstream_errors_total{{{labels}}} {}",
                value.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP keyroute_router_upstream_seconds Time waiting on providers.\n# TYPE keyroute_router_upstream_seconds histogram\n");
        for (labels, histogram) in self
            .upstream_latency
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            histogram.render("keyroute_router_upstream_seconds", labels, &mut out);
        }
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
        assert_eq!(escape("a\"b\\c"), "a\\\"b\\\\c");
    }
}
