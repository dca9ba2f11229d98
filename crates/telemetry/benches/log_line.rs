//! What one access line costs to log, from `tracing::info!` to the bytes handed to the writer
//! (a sink here): tracing-subscriber's formatters against ours, human and JSON. The event is
//! the edge's access line (services/edge/src/access.rs) for a served, streamed model call.

use std::fmt;

use criterion::{Criterion, criterion_group, criterion_main};
use keyroute_telemetry::log_format::{Human, Json};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{Layer, Registry};

type Boxed = Box<dyn Layer<Registry> + Send + Sync>;

/// A line of nothing: what logging costs besides formatting (the macro, the dispatch, the
/// layer's buffer), for scale.
struct Newline;

impl<S, N> FormatEvent<S, N> for Newline
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        _: &tracing::Event<'_>,
    ) -> fmt::Result {
        writer.write_char('\n')
    }
}

/// The edge's access line, its fields as a served model call fills them.
fn access_line() {
    let request_id = Some("req_01JQ8Z6Y3V1W2X3Y4Z5A6B7C8D");
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let method = "POST";
    let route = Some("/v1/chat/completions");
    let path: Option<&str> = None;
    let error_origin: Option<&str> = None;
    tracing::info!(
        target: "keyroute::access",
        request_id,
        trace_id = %trace_id,
        method = %method,
        endpoint = route,
        path,
        status = 200u16,
        dialect = Some("openai"),
        principal_id = Some("usr_01JQ8Z5K4M3N2P1Q0R9S8T7U6V"),
        model = Some("gpt-4o"),
        served_model = Some("gpt-4o-2024-08-06"),
        provider = Some("openai"),
        key_source = Some("byok"),
        attempts = Some(1u32),
        error_origin,
        input_tokens = Some(1_234u64),
        output_tokens = Some(567u64),
        cached_tokens = Some(0u64),
        cost_micros = Some(4_321i64),
        stream = Some(true),
        latency_ms = 1_234.567f64,
        ttfb_ms = Some(45.678f64),
        client_gone = false,
        "request"
    );
}

fn bench(c: &mut Criterion, name: &str, layer: Boxed) {
    // As in production: spans never reach the log layer.
    let layer = layer.with_filter(filter_fn(|meta| meta.is_event()));
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        c.bench_function(name, |b| b.iter(access_line));
    });
}

fn log_line(c: &mut Criterion) {
    let layer = tracing_subscriber::fmt::layer;
    bench(
        c,
        "log_line/no_format",
        layer()
            .event_format(Newline)
            .with_writer(std::io::sink)
            .boxed(),
    );
    bench(
        c,
        "log_line/human/tracing_subscriber",
        layer().with_ansi(false).with_writer(std::io::sink).boxed(),
    );
    bench(
        c,
        "log_line/human/ours",
        layer()
            .event_format(Human)
            .with_ansi(false)
            .with_writer(std::io::sink)
            .boxed(),
    );
    bench(
        c,
        "log_line/json/tracing_subscriber",
        layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_writer(std::io::sink)
            .boxed(),
    );
    bench(
        c,
        "log_line/json/ours",
        layer()
            .fmt_fields(JsonFields::new())
            .event_format(Json)
            .with_ansi(false)
            .with_writer(std::io::sink)
            .boxed(),
    );
}

criterion_group!(benches, log_line);
criterion_main!(benches);
