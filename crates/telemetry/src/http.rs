//! The SERVER span of one HTTP request (OpenTelemetry HTTP conventions: named
//! `{method} {route}`, with `http.request.method`, `http.route`, `url.path`,
//! `http.response.status_code`), continuing the caller's `traceparent`, and the trace context
//! the edge answers with and logs.

use std::fmt;

use opentelemetry::trace::{SpanId, TraceContextExt, TraceFlags, TraceId};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};
use tracing::Span;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// `POST /v1/chat/completions`, or the method alone when no route matched (the path would
/// make a name per URL).
struct SpanName<'a>(&'a http::Method, Option<&'a str>);

impl fmt::Display for SpanName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Some(route) => write!(f, "{} {route}", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

/// The span for one request: `route` is the matched route template (`/v1/models/{*id}`), not
/// the path; `path` carries no query string (where secrets could ride). The caller's
/// `traceparent` and `tracestate` in `headers` become its parent, its sampling decision
/// honoured. Fields recorded later: `http.response.status_code`, `error.type`,
/// `otel.status_code`, `keyroute.principal.id`.
pub fn server_span(
    method: &http::Method,
    route: Option<&str>,
    path: &str,
    version: http::Version,
    headers: &http::HeaderMap,
) -> Span {
    let user_agent = headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let span = tracing::info_span!(
        target: "keyroute::http",
        "http.server",
        otel.name = %SpanName(method, route),
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = %method,
        http.route = route,
        url.path = path,
        url.scheme = "http",
        network.protocol.version = protocol_version(version),
        user_agent.original = user_agent,
        http.response.status_code = Empty,
        "error.type" = Empty,
        keyroute.principal.id = Empty,
    );
    if !span.is_disabled() {
        let _ = span.set_parent(crate::propagation::extract(headers));
    }
    span
}

fn protocol_version(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_09 => "0.9",
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

/// Records the answer's status on a span from [`server_span`]; a 5xx marks it failed (a
/// 4xx is the caller's, not the server's, failure).
pub fn record_status(span: &Span, status: http::StatusCode) {
    // As i64: OpenTelemetry's integers (an unsigned field would arrive as text).
    span.record("http.response.status_code", i64::from(status.as_u16()));
    if status.is_server_error() {
        span.record("error.type", status.as_str());
        span.record("otel.status_code", "error");
    }
}

/// The trace a request belongs to, as the edge answers (`traceparent`) and logs it: its
/// server span's when traces are kept; otherwise the caller's trace id (a new one if none
/// came) with an id of its own, so that logs and answers still name the caller's trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    trace_id: TraceId,
    span_id: SpanId,
    flags: TraceFlags,
}

impl TraceParent {
    /// `span`'s context, or, when it has none (no OpenTelemetry layer), one made from the
    /// request's `headers`.
    pub fn of(span: &Span, headers: &http::HeaderMap) -> Self {
        let own = span.context();
        let context = own.span().span_context().clone();
        if context.is_valid() {
            return Self {
                trace_id: context.trace_id(),
                span_id: context.span_id(),
                flags: context.trace_flags(),
            };
        }
        let ids = RandomIdGenerator::default();
        let caller = crate::propagation::extract(headers);
        let caller = caller.span().span_context().clone();
        if caller.is_valid() {
            return Self {
                trace_id: caller.trace_id(),
                span_id: ids.new_span_id(),
                flags: caller.trace_flags(),
            };
        }
        Self {
            trace_id: ids.new_trace_id(),
            span_id: ids.new_span_id(),
            flags: TraceFlags::default(),
        }
    }

    /// The trace id, 32 lowercase hex digits.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The trace id as text, for a log line: written without `core::fmt`, whose 128-bit
    /// hex formatting costs more than the rest of the id's handling.
    pub fn trace_id_text(&self) -> TraceIdText {
        let mut text = [0; 32];
        hex_into(&mut text, &self.trace_id.to_bytes());
        TraceIdText(text)
    }

    /// The W3C `traceparent` value: `00-{trace id}-{span id}-{flags}`.
    pub fn header(&self) -> String {
        let mut text = *b"00-00000000000000000000000000000000-0000000000000000-00";
        hex_into(&mut text[3..35], &self.trace_id.to_bytes());
        hex_into(&mut text[36..52], &self.span_id.to_bytes());
        hex_into(&mut text[53..], &[self.flags.to_u8()]);
        ascii(&text).to_owned()
    }
}

/// A trace id's 32 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceIdText([u8; 32]);

impl TraceIdText {
    pub fn as_str(&self) -> &str {
        ascii(&self.0)
    }
}

/// Writes `bytes` as lowercase hex into `out` (twice their length).
fn hex_into(out: &mut [u8], bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (pair, byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = HEX[usize::from(byte >> 4)];
        pair[1] = HEX[usize::from(byte & 0xf)];
    }
}

/// Text made only of ASCII (hex digits and dashes), as a `str`.
fn ascii(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt;

    const CALLER: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    fn headers(traceparent: Option<&str>) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        if let Some(value) = traceparent {
            headers.insert("traceparent", value.parse().unwrap());
        }
        headers
    }

    fn span(headers: &http::HeaderMap) -> Span {
        server_span(
            &http::Method::POST,
            Some("/v1/chat/completions"),
            "/v1/chat/completions",
            http::Version::HTTP_11,
            headers,
        )
    }

    /// The hand-written hex is what `core::fmt` writes for the same ids.
    #[test]
    fn ids_are_written_as_fmt_writes_them() {
        for (trace, span, flags) in [
            (0u128, 0u64, 0u8),
            (1, 1, 1),
            (u128::MAX, u64::MAX, 0xff),
            (0x0af7651916cd43dd8448eb211c80319c, 0xb7ad6b7169203331, 1),
            (
                0x00f0_0000_0000_0000_0000_0000_0000_000a,
                0x0a00_0000_0000_00f0,
                0x10,
            ),
        ] {
            let parent = TraceParent {
                trace_id: TraceId::from(trace),
                span_id: SpanId::from(span),
                flags: TraceFlags::new(flags),
            };
            assert_eq!(
                parent.header(),
                format!("00-{trace:032x}-{span:016x}-{flags:02x}")
            );
            assert_eq!(parent.trace_id_text().as_str(), format!("{trace:032x}"));
            assert_eq!(
                parent.trace_id_text().as_str(),
                parent.trace_id().to_string()
            );
        }
    }

    #[test]
    fn the_span_continues_the_callers_trace() {
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, || {
            let given = headers(Some(CALLER));
            let parent = TraceParent::of(&span(&given), &given);
            let header = parent.header();
            assert!(
                header.starts_with("00-0af7651916cd43dd8448eb211c80319c-"),
                "{header}"
            );
            assert!(header.ends_with("-01"), "{header}");
            assert!(!header.contains("b7ad6b7169203331"), "a span of its own");

            let unsampled = headers(Some(
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
            ));
            let parent = TraceParent::of(&span(&unsampled), &unsampled);
            assert!(
                parent.header().ends_with("-00"),
                "the caller's decision holds"
            );
        });
    }

    #[test]
    fn without_tracing_the_callers_trace_id_is_still_named() {
        let given = headers(Some(CALLER));
        let parent = TraceParent::of(&Span::none(), &given);
        assert_eq!(
            parent.trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        let fresh = TraceParent::of(&Span::none(), &headers(None));
        assert_ne!(fresh.trace_id(), TraceId::INVALID);
        assert_eq!(fresh.header().len(), 55);
        let malformed = TraceParent::of(&Span::none(), &headers(Some("00-zz")));
        assert_ne!(malformed.trace_id(), TraceId::INVALID);
    }
}
