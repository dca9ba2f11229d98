//! The series a served call writes, found once per label set. A served call counts its
//! request, latency, tokens (five kinds) and cost: looked up family by family, that was eight
//! hashes of the same labels per call (about 4% of the router's instructions per request).
//! Each label set's series are resolved at their first use and kept, so a call hashes its
//! labels once, with a fast hasher, and then only increments.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use keyroute_proto::router::v1::Usage;
use keyroute_telemetry::metrics::{TracedHistogram, current_trace};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;

use super::{Metrics, RequestLabels, TokenLabels};

/// Who served a call: the label set of latency, token and cost series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct ServedLabels {
    pub(super) provider: &'static str,
    pub(super) model: &'static str,
    pub(super) key_source: &'static str,
}

/// Who served a call, with the series it writes; cheap to clone.
#[derive(Debug, Clone)]
pub struct Served {
    labels: ServedLabels,
    series: Arc<ServedSeries>,
}

/// The token kinds counted, in the order of [`Charged::tokens`].
const TOKEN_KINDS: [&str; 5] = ["input", "output", "cached_read", "cache_write", "reasoning"];

/// One label set's series, each created in its family at its first use (so that no empty
/// series is written for what never happened).
#[derive(Debug, Default)]
pub(super) struct ServedSeries {
    requests_ok: OnceLock<Counter>,
    upstream_latency: OnceLock<TracedHistogram>,
    first_byte: OnceLock<TracedHistogram>,
    charged: OnceLock<Charged>,
}

#[derive(Debug)]
struct Charged {
    tokens: [Counter; 5],
    cost: Counter,
}

/// The label sets seen so far and their series: at most providers × catalog models (the
/// model label is interned and bounded) × key sources.
pub(super) type SeriesByLabels =
    std::sync::RwLock<HashMap<ServedLabels, Arc<ServedSeries>, foldhash::fast::RandomState>>;

impl Metrics {
    /// The label set of a call `provider` served with a key from `key_source`, and its
    /// series; `model` is the catalog id (`other` for anything else).
    pub fn served(&self, provider: &'static str, model: &str, key_source: &'static str) -> Served {
        let labels = ServedLabels {
            provider,
            model: self.models.intern(model),
            key_source,
        };
        let known = self
            .served_series
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&labels)
            .cloned();
        let series = known.unwrap_or_else(|| {
            self.served_series
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .entry(labels)
                .or_default()
                .clone()
        });
        Served { labels, series }
    }

    /// One request `served` answered (outcome `ok`).
    pub fn served_ok(&self, served: &Served) {
        let ServedLabels {
            provider,
            model,
            key_source,
        } = served.labels;
        served
            .series
            .requests_ok
            .get_or_init(|| {
                self.requests
                    .get_or_create(&RequestLabels {
                        provider,
                        model,
                        key_source,
                        outcome: "ok",
                    })
                    .clone()
            })
            .inc();
    }

    /// A whole answer: time spent waiting on the provider, and the time keyroute added
    /// around it, each with the current trace as exemplar.
    pub fn latency(&self, served: &Served, upstream: Duration, total: Duration) {
        let trace = current_trace();
        served
            .series
            .upstream_latency
            .get_or_init(|| self.upstream_latency.get_or_create(&served.labels).clone())
            .observe(upstream.as_secs_f64(), trace, None);
        self.added_latency
            .observe(total.saturating_sub(upstream).as_secs_f64(), trace, None);
    }

    /// A stream's time to its first event (routing, leasing and the provider's first byte).
    pub fn first_byte(&self, served: &Served, took: Duration) {
        served
            .series
            .first_byte
            .get_or_init(|| self.first_byte.get_or_create(&served.labels).clone())
            .observe(took.as_secs_f64(), current_trace(), None);
    }

    /// What one call was charged: its tokens by kind and its cost.
    pub fn charged(&self, served: &Served, usage: &Usage, cost_micros: u64) {
        let charged = served.series.charged.get_or_init(|| {
            let ServedLabels {
                provider,
                model,
                key_source,
            } = served.labels;
            Charged {
                tokens: TOKEN_KINDS.map(|kind| {
                    self.tokens
                        .get_or_create(&TokenLabels {
                            provider,
                            model,
                            key_source,
                            kind,
                        })
                        .clone()
                }),
                cost: self.cost.get_or_create(&served.labels).clone(),
            }
        });
        let cache_write = usage.cache_write_tokens.max(usage.cache_write_1h_tokens);
        let counts = [
            usage.input_tokens,
            usage.output_tokens,
            usage.cache_read_tokens,
            cache_write,
            usage.reasoning_tokens,
        ];
        // Every kind is written once per served label set, zero included, so a query over
        // kinds sees them all.
        for (series, count) in charged.tokens.iter().zip(counts) {
            series.inc_by(count);
        }
        charged.cost.inc_by(cost_micros);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyroute_telemetry::metrics::Format;

    #[test]
    fn kept_series_write_to_the_families_they_came_from() {
        let metrics = Metrics::new();
        let usage = Usage {
            input_tokens: 10,
            output_tokens: 5,
            ..Usage::default()
        };
        for _ in 0..3 {
            let served = metrics.served("openai", "gpt-4o-mini", "byok");
            metrics.served_ok(&served);
            metrics.charged(&served, &usage, 42);
        }
        let other = metrics.served("anthropic", "gpt-4o-mini", "managed");
        metrics.served_ok(&other);
        assert_eq!(metrics.served_series.read().unwrap().len(), 2);

        let text = metrics.render(Format::Prometheus);
        let labels = "provider=\"openai\",model=\"gpt-4o-mini\",key_source=\"byok\"";
        for line in [
            format!("keyroute_router_requests_total{{{labels},outcome=\"ok\"}} 3"),
            format!("keyroute_router_tokens_total{{{labels},kind=\"input\"}} 30"),
            format!("keyroute_router_tokens_total{{{labels},kind=\"output\"}} 15"),
            format!("keyroute_router_tokens_total{{{labels},kind=\"reasoning\"}} 0"),
            format!("keyroute_router_cost_micros_total{{{labels}}} 126"),
            "keyroute_router_requests_total{provider=\"anthropic\",model=\"gpt-4o-mini\",key_source=\"managed\",outcome=\"ok\"} 1".to_owned(),
        ] {
            assert!(text.contains(&line), "{line} missing from\n{text}");
        }
        // Nothing that did not happen is written: no latency or stream series yet.
        assert!(
            !text.contains("keyroute_router_upstream_seconds_bucket"),
            "{text}"
        );
        assert!(!text.contains("first_byte_seconds_bucket"), "{text}");
        assert!(!text.contains("key_source=\"managed\",kind="), "{text}");
    }
}
