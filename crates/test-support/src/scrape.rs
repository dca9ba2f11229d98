//! What the metrics tests share: a global subscriber with an in-process OpenTelemetry tracer
//! (nothing exported), so that spans carry trace ids for exemplars, and reading one series'
//! value out of a scrape.

use opentelemetry::trace::TracerProvider as _;
use tracing_subscriber::layer::SubscriberExt;

/// Installs W3C propagation and a subscriber whose spans get OpenTelemetry contexts; once per
/// test binary (it sets the global default).
pub fn tracing_on(tracer: &'static str) {
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer(tracer)));
    tracing::subscriber::set_global_default(subscriber).unwrap();
}

/// The value of `series` (its name and labels exactly as written) in a Prometheus or
/// OpenMetrics scrape.
pub fn metric_value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?.strip_prefix(' ')?;
        rest.split(' ').next()?.parse().ok()
    })
}
