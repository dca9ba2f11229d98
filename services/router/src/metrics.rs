//! The router's Prometheus metrics, served on a separate admin port: requests by provider,
//! model, key source and outcome; tokens and cost by the same; upstream latency, the latency
//! keyroute adds and a stream's time to first byte, with exemplars naming the request's trace;
//! upstream errors, key cooldowns, and the router's calls to the vault (latency, failures,
//! reachability). Series read from the caches (lease hits, usage queue) are added by the
//! server with [`Metrics::register`].
//!
//! Labels are `&'static str`: provider ids and outcomes are constants, and the model label is
//! a catalog id interned once (anything else, a caller's own model name included, is
//! `other`), so a caller can never mint a series and an observation allocates nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use keyroute_telemetry::metrics::{
    Format, GrpcMetrics, Interner, LATENCY_BUCKETS, Listed, OVERHEAD_BUCKETS, TracedHistogram,
    sampled_counter, traced_histogram,
};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

mod served;

pub use served::Served;
use served::{SeriesByLabels, ServedLabels};

/// Distinct model labels kept: more than any catalog lists; past it, `other`.
const MODEL_LABELS: usize = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    provider: &'static str,
    model: &'static str,
    key_source: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TokenLabels {
    provider: &'static str,
    model: &'static str,
    key_source: &'static str,
    kind: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelSet)]
struct UpstreamErrorLabels {
    provider: &'static str,
    status: u16,
}

type TracedFamily = Family<ServedLabels, TracedHistogram, fn() -> TracedHistogram>;

fn latency_histogram() -> TracedHistogram {
    traced_histogram(&LATENCY_BUCKETS)
}

/// The router's metrics and the registry they are written from.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<RequestLabels, Counter>,
    upstream_errors: Family<UpstreamErrorLabels, Counter>,
    upstream_latency: TracedFamily,
    added_latency: TracedHistogram,
    first_byte: TracedFamily,
    tokens: Family<TokenLabels, Counter>,
    cost: Family<ServedLabels, Counter>,
    /// Each served label set's series, found once (see [`served`]).
    served_series: SeriesByLabels,
    /// Keys benched after an auth failure or rate limit.
    pub cooldowns: Arc<AtomicU64>,
    /// mTLS connections accepted on the gRPC port (an in-process edge makes none).
    pub connections: Arc<AtomicU64>,
    /// The router's calls to the vault, counted by the vault client's channel.
    pub vault: Arc<GrpcMetrics>,
    models: Interner,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let metrics = Self {
            requests: Family::default(),
            upstream_errors: Family::default(),
            upstream_latency: Family::new_with_constructor(latency_histogram as fn() -> _),
            added_latency: traced_histogram(&OVERHEAD_BUCKETS),
            first_byte: Family::new_with_constructor(latency_histogram as fn() -> _),
            tokens: Family::default(),
            cost: Family::default(),
            served_series: SeriesByLabels::default(),
            cooldowns: Arc::new(AtomicU64::new(0)),
            connections: Arc::new(AtomicU64::new(0)),
            vault: GrpcMetrics::register(
                &mut registry,
                "keyroute_router_vault_calls",
                "keyroute_router_vault_call_seconds",
            ),
            models: Interner::new(MODEL_LABELS),
            registry: Mutex::new(Registry::default()),
        };
        metrics.vault.register_up(
            &mut registry,
            "keyroute_router_vault_up",
            "1 while the vault answers the router's calls, 0 after a call could not reach it",
        );
        metrics.register_own(&mut registry);
        *metrics.registry.lock().unwrap_or_else(|p| p.into_inner()) = registry;
        metrics
    }
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn register_own(&self, registry: &mut Registry) {
        registry.register(
            "keyroute_router_requests",
            "Routed requests by provider, model (catalog id or other), key source and outcome",
            Listed(self.requests.clone()),
        );
        registry.register(
            "keyroute_router_upstream_errors",
            "Failed upstream attempts by provider and HTTP status",
            Listed(self.upstream_errors.clone()),
        );
        registry.register(
            "keyroute_router_upstream_seconds",
            "Time waiting on providers for a whole answer, failed attempts included",
            Listed(self.upstream_latency.clone()),
        );
        registry.register(
            "keyroute_router_added_seconds",
            "Time keyroute added to a whole (non-streamed) answer beyond the provider's",
            self.added_latency.clone(),
        );
        registry.register(
            "keyroute_router_stream_first_byte_seconds",
            "Time from a stream's request to its first event from the provider",
            Listed(self.first_byte.clone()),
        );
        registry.register(
            "keyroute_router_tokens",
            "Tokens charged, by kind: input, output, cached_read, cache_write, reasoning",
            Listed(self.tokens.clone()),
        );
        registry.register(
            "keyroute_router_cost_micros",
            "Estimated cost charged, in micro-dollars (catalog prices)",
            Listed(self.cost.clone()),
        );
        let cooldowns = self.cooldowns.clone();
        registry.register(
            "keyroute_router_key_cooldowns",
            "Keys benched after an auth failure or rate limit",
            sampled_counter(move || cooldowns.load(Ordering::Relaxed)),
        );
        let connections = self.connections.clone();
        registry.register(
            "keyroute_router_connections",
            "mTLS connections accepted on the gRPC port (edges keep theirs open; platforms too)",
            sampled_counter(move || connections.load(Ordering::Relaxed)),
        );
    }

    /// Adds series kept elsewhere (caches, the usage queue) to what `/metrics` writes.
    pub fn register(&self, add: impl FnOnce(&mut Registry)) {
        add(&mut self.registry.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// The exposition text in `format`.
    pub fn render(&self, format: Format) -> String {
        format.encode(&self.registry.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// One routed request and how it ended (`ok`, `no_route`, `unavailable`, ...); an empty
    /// provider or key source (nothing served it) is `none`.
    pub fn request(
        &self,
        provider: &'static str,
        model: &str,
        source: &'static str,
        outcome: &'static str,
    ) {
        let none = |value: &'static str| if value.is_empty() { "none" } else { value };
        self.requests
            .get_or_create(&RequestLabels {
                provider: none(provider),
                model: self.models.intern(model),
                key_source: none(source),
                outcome,
            })
            .inc();
    }

    /// A failed upstream attempt.
    pub fn upstream_error(&self, provider: &'static str, status: u16) {
        self.upstream_errors
            .get_or_create(&UpstreamErrorLabels { provider, status })
            .inc();
    }
}

/// The rate limiter's counts as series, read at each scrape: where decisions were made,
/// refusals, Redis failures and fallbacks, settlements lost, and whether Redis is in use.
pub fn register_rate_limits(registry: &mut Registry, limiter: &keyroute_ratelimit::Limiter) {
    use keyroute_ratelimit::{Stats, Store};
    use keyroute_telemetry::metrics::sampled_gauge;
    type Series = (&'static str, &'static str, fn(&Stats) -> u64);
    let counters: [Series; 7] = [
        (
            "keyroute_router_rate_limit_redis_decisions",
            "Calls admitted or refused in Redis, shared with every router",
            |s| s.redis_decisions,
        ),
        (
            "keyroute_router_rate_limit_fallback_decisions",
            "Calls decided in this router alone because Redis was unreachable or slow",
            |s| s.fallback_decisions,
        ),
        (
            "keyroute_router_rate_limit_local_decisions",
            "Calls decided in this router because no Redis is configured",
            |s| s.local_decisions,
        ),
        (
            "keyroute_router_rate_limit_refusals",
            "Calls refused by a rate limit",
            |s| s.refusals,
        ),
        (
            "keyroute_router_rate_limit_redis_errors",
            "Redis calls that failed or timed out",
            |s| s.redis_errors,
        ),
        (
            "keyroute_router_rate_limit_fallback_entries",
            "Times this router stopped asking Redis and decided alone",
            |s| s.fallback_entries,
        ),
        (
            "keyroute_router_rate_limit_settlements_lost",
            "Token settlements Redis did not take (the estimate stood)",
            |s| s.settlements_lost,
        ),
    ];
    for (name, help, read) in counters {
        let limiter = limiter.clone();
        registry.register(name, help, sampled_counter(move || read(&limiter.stats())));
    }
    let configured = limiter.clone();
    registry.register(
        "keyroute_router_rate_limit_redis_configured",
        "1 when this router is given a Redis to count rate limits in (alert on redis_up only then)",
        sampled_gauge(move || u64::from(configured.store() != Store::Local)),
    );
    let limiter = limiter.clone();
    registry.register(
        "keyroute_router_rate_limit_redis_up",
        "1 while calls are counted in Redis; 0 when deciding alone (no Redis, or it is down)",
        sampled_gauge(move || u64::from(limiter.store() == Store::Redis)),
    );
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use keyroute_proto::router::v1::Usage;

    use super::*;

    #[tokio::test]
    async fn the_rate_limit_gauges_tell_no_redis_from_redis_down() {
        let render = |limiter: &keyroute_ratelimit::Limiter| {
            let mut registry = Registry::default();
            register_rate_limits(&mut registry, limiter);
            let mut text = String::new();
            prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
            text
        };
        let alone = keyroute_ratelimit::Limiter::new(Default::default()).unwrap();
        let text = render(&alone);
        assert!(
            text.contains("keyroute_router_rate_limit_redis_configured 0"),
            "{text}"
        );
        assert!(
            text.contains("keyroute_router_rate_limit_redis_up 0"),
            "{text}"
        );
        // A Redis nobody listens on: configured, and down.
        let unreachable = keyroute_ratelimit::Limiter::new(
            keyroute_ratelimit::Settings::with_redis("redis://127.0.0.1:9"),
        )
        .unwrap();
        let text = render(&unreachable);
        assert!(
            text.contains("keyroute_router_rate_limit_redis_configured 1"),
            "{text}"
        );
        assert!(
            text.contains("keyroute_router_rate_limit_redis_up 0"),
            "{text}"
        );
    }

    #[test]
    fn exposition_follows_the_text_format() {
        let metrics = Metrics::new();
        metrics.request("openai", "gpt-4o-mini", "byok", "ok");
        metrics.request("openai", "gpt-4o-mini", "byok", "ok");
        metrics.request("", "other", "", "no_route");
        metrics.upstream_error("anthropic", 529);
        let served = metrics.served("openai", "gpt-4o-mini", "byok");
        metrics.latency(
            &served,
            Duration::from_millis(20),
            Duration::from_micros(20_400),
        );
        metrics.charged(
            &served,
            &Usage {
                input_tokens: 10,
                output_tokens: 5,
                ..Usage::default()
            },
            42,
        );
        let text = metrics.render(Format::Prometheus);
        assert!(text.contains("keyroute_router_requests_total{provider=\"openai\",model=\"gpt-4o-mini\",key_source=\"byok\",outcome=\"ok\"} 2"), "{text}");
        assert!(text.contains("keyroute_router_requests_total{provider=\"none\",model=\"other\",key_source=\"none\",outcome=\"no_route\"} 1"), "{text}");
        assert!(
            text.contains(
                "keyroute_router_upstream_errors_total{provider=\"anthropic\",status=\"529\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains(
            "keyroute_router_upstream_seconds_bucket{provider=\"openai\",model=\"gpt-4o-mini\",key_source=\"byok\",le=\"0.025\"} 1"
        ), "{text}");
        assert!(
            text.contains("keyroute_router_added_seconds_bucket{le=\"0.0005\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("keyroute_router_added_seconds_bucket{le=\"0.00025\"} 0"),
            "{text}"
        );
        assert!(text.contains("keyroute_router_tokens_total{provider=\"openai\",model=\"gpt-4o-mini\",key_source=\"byok\",kind=\"output\"} 5"), "{text}");
        assert!(text.contains("keyroute_router_cost_micros_total{provider=\"openai\",model=\"gpt-4o-mini\",key_source=\"byok\"} 42"), "{text}");
        assert!(text.contains("keyroute_router_vault_up 1\n"), "{text}");
        assert!(
            text.contains("keyroute_router_key_cooldowns_total 0\n"),
            "{text}"
        );
    }
}
