//! Logging and tracing for every keyroute binary: human or JSON logs filtered by `RUST_LOG`,
//! OpenTelemetry export over OTLP/gRPC when `KEYROUTE_OTLP_ENDPOINT` is set (sampled per
//! `KEYROUTE_TRACE_SAMPLE_RATIO`, callers' decisions honoured), and W3C trace-context
//! propagation through HTTP headers and tonic metadata so one trace follows a request from the
//! edge through the router to the vault.

pub mod grpc;
pub mod http;
pub mod log_format;
mod log_writer;
pub mod metrics;
pub mod probes;
mod propagation;
pub mod startup;

pub use grpc::{GrpcTraceLayer, GrpcTraceService};
/// The OpenTelemetry API those attributes are made with.
pub use opentelemetry;
pub use propagation::{
    TraceContextService, TracedChannel, extract, inject_headers, inject_trace_context,
    new_request_id, propagate, request_id, traced, valid_request_id,
};
/// For services that set OpenTelemetry attributes tracing fields cannot carry (arrays).
pub use tracing_opentelemetry::OpenTelemetrySpanExt;

use std::io::IsTerminal;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;

use crate::log_writer::LogWriter;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{FilterExt, LevelFilter, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The environment variable naming the OTLP/gRPC collector endpoint.
pub const OTLP_ENDPOINT_ENV: &str = "KEYROUTE_OTLP_ENDPOINT";

/// The environment variable with the share of new traces kept, 0 to 1 (default 1: every
/// trace). It applies where a trace starts; a request that comes with a `traceparent` keeps
/// its caller's decision, so a trace is never kept in one service and dropped in the next.
pub const SAMPLE_RATIO_ENV: &str = "KEYROUTE_TRACE_SAMPLE_RATIO";

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Readable lines for a terminal.
    #[default]
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "human" | "text" => Ok(Self::Human),
            "json" => Ok(Self::Json),
            other => Err(format!(
                "unknown log format {other:?}; expected human or json"
            )),
        }
    }
}

/// Why telemetry could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("invalid RUST_LOG: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    #[error("cannot build the otlp exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    #[error("a global subscriber is already installed")]
    AlreadyInstalled,
    #[error("cannot start the log writer: {0}")]
    Writer(std::io::Error),
    #[error("{SAMPLE_RATIO_ENV} {0:?} is not a number from 0 to 1")]
    SampleRatio(String),
}

/// The share of new traces kept, from [`SAMPLE_RATIO_ENV`] (1 when unset).
fn sample_ratio() -> Result<f64, TelemetryError> {
    match std::env::var(SAMPLE_RATIO_ENV) {
        Ok(text) if !text.trim().is_empty() => parse_ratio(&text),
        _ => Ok(1.0),
    }
}

fn parse_ratio(text: &str) -> Result<f64, TelemetryError> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|ratio| (0.0..=1.0).contains(ratio))
        .ok_or_else(|| TelemetryError::SampleRatio(text.to_owned()))
}

/// Flushes and stops trace export when dropped; keep it alive for the life of `main`.
#[derive(Debug)]
#[must_use = "dropping the guard stops trace export"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
    /// Dropped after the provider: the export's last words are logged too.
    _logs: log_writer::LogFlush<std::io::Stderr>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("trace export shutdown failed: {error}");
        }
    }
}

/// Installs the global subscriber for `service` (the OpenTelemetry `service.name`).
/// The OTLP endpoint comes from `KEYROUTE_OTLP_ENDPOINT`; unset means no export.
pub fn init(service: &'static str, format: LogFormat) -> Result<TelemetryGuard, TelemetryError> {
    let endpoint = std::env::var(OTLP_ENDPOINT_ENV)
        .ok()
        .filter(|e| !e.is_empty());
    init_with(service, format, endpoint.as_deref())
}

/// Targets whose debug output quotes the values bound to database statements (token hashes,
/// sealed secrets, emails): never below info, whatever `RUST_LOG` asks.
const QUOTING_TARGETS: &[&str] = &["tokio_postgres", "postgres"];

/// The log filter: `RUST_LOG` (default `info`), with [`QUOTING_TARGETS`] held at info.
fn log_filter(rust_log: Option<&str>) -> Result<EnvFilter, TelemetryError> {
    let mut filter = match rust_log {
        Some(value) if !value.is_empty() => EnvFilter::try_new(value)?,
        _ => EnvFilter::new("info"),
    };
    for target in QUOTING_TARGETS {
        filter = filter.add_directive(format!("{target}=info").parse()?);
    }
    Ok(filter)
}

/// [`init`] with an explicit endpoint.
pub fn init_with(
    service: &'static str,
    format: LogFormat,
    otlp_endpoint: Option<&str>,
) -> Result<TelemetryGuard, TelemetryError> {
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let filter = log_filter(std::env::var("RUST_LOG").ok().as_deref())?;
    let provider = otlp_endpoint
        .map(|endpoint| build_provider(service, endpoint, sample_ratio()?))
        .transpose()?;
    // Spans reach the exporter whatever `RUST_LOG` says: it filters log lines only.
    let otel = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer(service))
            .with_filter(LevelFilter::INFO)
    });
    // Log lines carry their own fields; spans are for the trace exporter. Formatting every
    // request's spans for a line that seldom comes was a tenth of the CPU under load.
    let filter = filter.and(filter_fn(|meta| meta.is_event()));
    let (writer, flush) = LogWriter::spawn(std::io::stderr(), log_writer::Limits::default())
        .map_err(TelemetryError::Writer)?;
    let logs = log_layer(format, std::io::stderr().is_terminal(), writer)
        .with_filter(filter)
        .boxed();
    // Without an exporter no layer is added for it: an absent (`None`) layer still counts as
    // interested in every span, and the registry would make and drop each one for nobody.
    let registry = tracing_subscriber::registry().with(logs);
    match otel {
        Some(otel) => registry.with(otel).try_init(),
        None => registry.try_init(),
    }
    .map_err(|_| TelemetryError::AlreadyInstalled)?;
    if let Some(endpoint) = otlp_endpoint {
        tracing::info!(endpoint, service, "exporting traces over otlp");
    }
    Ok(TelemetryGuard {
        provider,
        _logs: flush,
    })
}

/// The layer writing log lines in `format` (styled when `ansi` and human) to `writer`: our
/// formats (see [`log_format`]) on tracing-subscriber's fmt layer, which wrote them before.
fn log_layer<S, W>(format: LogFormat, ansi: bool, writer: W) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    match format {
        LogFormat::Human => tracing_subscriber::fmt::layer()
            .event_format(log_format::Human)
            .with_ansi(ansi)
            .with_writer(writer)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(log_format::Json)
            .with_ansi(false)
            .with_writer(writer)
            .boxed(),
    }
}

fn build_provider(
    service: &'static str,
    endpoint: &str,
    ratio: f64,
) -> Result<SdkTracerProvider, TelemetryError> {
    use opentelemetry_otlp::WithExportConfig;
    use opentelemetry_sdk::trace::Sampler;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()?;
    Ok(SdkTracerProvider::builder()
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            ratio,
        ))))
        .with_batch_exporter(exporter)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name(service)
                .build(),
        )
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_ratios_are_shares() {
        assert_eq!(parse_ratio("0.25").unwrap(), 0.25);
        assert_eq!(parse_ratio(" 1 ").unwrap(), 1.0);
        assert_eq!(parse_ratio("0").unwrap(), 0.0);
        assert!(parse_ratio("1.5").is_err());
        assert!(parse_ratio("-0.1").is_err());
        assert!(parse_ratio("half").is_err());
        assert!(parse_ratio("NaN").is_err());
    }

    #[test]
    fn database_clients_never_log_bound_values_whatever_rust_log_says() {
        use tracing_subscriber::layer::SubscriberExt;

        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        let sink = lines.clone();
        for rust_log in [None, Some("debug"), Some("trace,tokio_postgres=trace")] {
            let sink = sink.clone();
            let subscriber = tracing_subscriber::registry().with(
                tracing_subscriber::fmt::layer()
                    .with_writer(move || WriteTo(sink.clone()))
                    .with_filter(log_filter(rust_log).unwrap()),
            );
            tracing::subscriber::with_default(subscriber, || {
                tracing::debug!(target: "tokio_postgres::query", "parameters: canary-bound-value");
                tracing::info!(target: "tokio_postgres::connection", "connected");
                tracing::debug!(target: "keyroute_vault::storage", "kept");
            });
        }
        let text = String::from_utf8(lines.lock().unwrap().clone()).unwrap();
        assert!(!text.contains("canary-bound-value"), "{text}");
        assert_eq!(text.matches("connected").count(), 3, "{text}");
        assert_eq!(text.matches("kept").count(), 2, "{text}");
    }

    struct WriteTo(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for WriteTo {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
