//! Counters and gauges read when scraped, from state a service keeps anyway (a cache's hit
//! count, a queue's length): nothing is counted twice and the hot path is not touched.

use prometheus_client::encoding::{EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;

/// A counter or gauge whose value `read` gives at each scrape.
pub struct Sampled<F> {
    read: F,
    kind: MetricType,
}

impl<F> std::fmt::Debug for Sampled<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sampled").field("kind", &self.kind).finish()
    }
}

/// A counter read at scrape time; `read` must never go down.
pub fn sampled_counter<F: Fn() -> u64 + Send + Sync + 'static>(read: F) -> Sampled<F> {
    Sampled {
        read,
        kind: MetricType::Counter,
    }
}

/// A gauge read at scrape time.
pub fn sampled_gauge<F: Fn() -> u64 + Send + Sync + 'static>(read: F) -> Sampled<F> {
    Sampled {
        read,
        kind: MetricType::Gauge,
    }
}

impl<F: Fn() -> u64> EncodeMetric for Sampled<F> {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let value = (self.read)();
        match self.kind {
            MetricType::Counter => encoder
                .encode_counter::<prometheus_client::encoding::NoLabelSet, u64, u64>(&value, None),
            _ => encoder.encode_gauge(&i64::try_from(value).unwrap_or(i64::MAX)),
        }
    }

    fn metric_type(&self) -> MetricType {
        self.kind
    }
}

/// A metric written even before it has a series: its `HELP` and `TYPE` lines always appear
/// (a label family with no series is otherwise left out), so a scrape of a fresh process
/// lists every metric it has, and dashboards and alert rules can be checked against it.
#[derive(Debug, Clone)]
pub struct Listed<M>(pub M);

impl<M: EncodeMetric> EncodeMetric for Listed<M> {
    fn encode(&self, encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        self.0.encode(encoder)
    }

    fn metric_type(&self) -> MetricType {
        self.0.metric_type()
    }

    fn is_empty(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::registry::Registry;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn values_are_read_at_each_scrape() {
        let hits = Arc::new(AtomicU64::new(0));
        let mut registry = Registry::default();
        let read = hits.clone();
        registry.register(
            "x_hits",
            "Hits.",
            sampled_counter(move || read.load(Ordering::Relaxed)),
        );
        registry.register("x_queued", "Queued.", sampled_gauge(|| 3));
        let family = prometheus_client::metrics::family::Family::<
            Vec<(String, String)>,
            prometheus_client::metrics::counter::Counter,
        >::default();
        registry.register("x_empty", "Nothing yet.", Listed(family));
        hits.store(7, Ordering::Relaxed);
        let text = crate::metrics::Format::Prometheus.encode(&registry);
        assert!(
            text.contains("# TYPE x_hits_total counter\nx_hits_total 7\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE x_queued gauge\nx_queued 3\n"),
            "{text}"
        );
    }
}
