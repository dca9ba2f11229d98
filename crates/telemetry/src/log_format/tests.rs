//! Our formats against tracing-subscriber's: every case is logged once through the layer the
//! binaries install and once through the tracing-subscriber layer they installed before, and
//! the bytes must be the same (timestamps masked: the two are taken a moment apart; their
//! format is checked in `timestamp`).

use std::error::Error;
use std::fmt;
use std::io;
use std::sync::{Arc, Mutex};

use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{Layer, Registry};

use crate::{LogFormat, log_layer};

type Boxed = Box<dyn Layer<Registry> + Send + Sync>;

/// Where a layer's lines go.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Sink {
    fn take(&self) -> String {
        String::from_utf8(std::mem::take(&mut *self.0.lock().unwrap())).unwrap()
    }
}

impl io::Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The layers tracing-subscriber formatted with before ours, configured as `init_with` did.
fn reference(format: LogFormat, ansi: bool, sink: Sink) -> Boxed {
    let layer = tracing_subscriber::fmt::layer().with_writer(move || sink.clone());
    match format {
        LogFormat::Human => layer.with_ansi(ansi).boxed(),
        LogFormat::Json => layer
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .boxed(),
    }
}

fn ours(format: LogFormat, ansi: bool, sink: Sink) -> Boxed {
    log_layer(format, ansi, move || sink.clone())
}

/// Replaces every `0000-00-00T00:00:00.000000Z` with `<time>`, and counts them.
fn mask(text: &str) -> (String, usize) {
    const SHAPE: &[u8] = b"0000-00-00T00:00:00.000000Z";
    let bytes = text.as_bytes();
    let fits = |at: usize| {
        bytes.get(at..at + SHAPE.len()).is_some_and(|window| {
            window.iter().zip(SHAPE).all(|(&byte, &shape)| {
                if shape == b'0' {
                    byte.is_ascii_digit()
                } else {
                    byte == shape
                }
            })
        })
    };
    let (mut masked, mut count, mut at, mut run) = (String::new(), 0, 0, 0);
    while at < bytes.len() {
        if fits(at) {
            masked.push_str(&text[run..at]);
            masked.push_str("<time>");
            count += 1;
            at += SHAPE.len();
            run = at;
        } else {
            at += 1;
        }
    }
    masked.push_str(&text[run..]);
    (masked, count)
}

/// Logs `case` through `layer` alone, spans filtered out of it as in `init_with` unless
/// `spans`, and returns what it wrote.
fn render(layer: Boxed, sink: &Sink, spans: bool, case: &dyn Fn()) -> String {
    let layer = layer.with_filter(filter_fn(move |meta| spans || meta.is_event()));
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), case);
    sink.take()
}

/// Asserts that every case writes the same bytes through both layers.
fn assert_same(format: LogFormat, ansi: bool, spans: bool, cases: &[(&str, fn())]) {
    for (name, case) in cases {
        let sink = Sink::default();
        let theirs = render(reference(format, ansi, sink.clone()), &sink, spans, case);
        let mine = render(ours(format, ansi, sink.clone()), &sink, spans, case);
        let ((theirs, stamped), (mine, ours_stamped)) = (mask(&theirs), mask(&mine));
        let setting = format!("{name} ({format:?}, ansi {ansi}, spans {spans})");
        assert!(stamped > 0, "{setting}: nothing written: {theirs:?}");
        assert_eq!(stamped, ours_stamped, "{setting}");
        assert_eq!(mine, theirs, "{setting}\nours:   {mine}\ntheirs: {theirs}");
    }
}

/// Every setting the binaries run with, and spans let through to the layer too.
fn assert_same_everywhere(cases: &[(&str, fn())]) {
    for spans in [false, true] {
        assert_same(LogFormat::Human, false, spans, cases);
        assert_same(LogFormat::Human, true, spans, cases);
        assert_same(LogFormat::Json, false, spans, cases);
    }
}

/// A `Display` that needs escaping.
struct Shown(&'static str);

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "shown <{}>", self.0)
    }
}

#[derive(Debug)]
#[allow(dead_code)] // read by `Debug` only
struct Facts {
    name: &'static str,
    count: u32,
    tags: Vec<&'static str>,
    ratio: Option<f64>,
}

fn facts() -> Facts {
    Facts {
        name: "quote \" and \\ and\nnewline",
        count: 3,
        tags: vec!["a", "日本", "\u{1b}[1m"],
        ratio: Some(0.5),
    }
}

#[derive(Debug)]
struct Failure {
    why: &'static str,
    source: Option<Box<Failure>>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.why)
    }
}

impl Error for Failure {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn Error + 'static))
    }
}

fn failure() -> Failure {
    Failure {
        why: "upstream said \u{1b}[31mno\u{1b}[0m",
        source: Some(Box::new(Failure {
            why: "connection reset \u{9b}",
            source: Some(Box::new(Failure {
                why: "os error 104",
                source: None,
            })),
        })),
    }
}

/// The edge's access line (services/edge/src/access.rs), a served model call.
fn access_line() {
    let request_id = Some("req_01JQ8Z6Y3V1W2X3Y4Z5A6B7C8D");
    let path: Option<&str> = None;
    let error_origin: Option<&str> = None;
    tracing::info!(
        target: "keyroute::access",
        request_id,
        trace_id = %"4bf92f3577b34da6a3ce929d0e0e4736",
        method = %http::Method::POST,
        endpoint = Some("/v1/chat/completions"),
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
        cost_micros = Some(-4_321i64),
        stream = Some(true),
        latency_ms = 1_234.567f64,
        ttfb_ms = Some(45.678f64),
        client_gone = false,
        "request"
    );
}

#[test]
fn access_lines() {
    assert_same_everywhere(&[
        ("served", access_line),
        ("unmatched route", || {
            tracing::info!(
                target: "keyroute::access",
                request_id = "req_1",
                method = %http::Method::GET,
                path = "/nope?q=\"x\"",
                status = 404u16,
                error_origin = "client",
                latency_ms = 0.012f64,
                client_gone = true,
                "request"
            )
        }),
    ]);
}

#[test]
fn levels_targets_and_messages() {
    assert_same_everywhere(&[
        ("error", || tracing::error!("failed")),
        (
            "warn",
            || tracing::warn!(target: "keyroute_vault::storage", "slow"),
        ),
        ("info", || tracing::info!(target: "a::b::c", "info")),
        ("debug", || tracing::debug!("debug")),
        ("trace", || tracing::trace!("trace")),
        ("formatted", || {
            tracing::info!("value {} and {:?}", 42, "debug")
        }),
        ("message field str", || {
            tracing::info!(message = "as a field")
        }),
        ("message field debug", || tracing::info!(message = ?facts())),
        (
            "message field display",
            || tracing::info!(message = %Shown("x")),
        ),
        ("message field number", || tracing::warn!(message = 7u64)),
        ("message later", || {
            tracing::info!(before = 1, message = "m", after = 2)
        }),
        ("no message", || tracing::info!(alone = "field")),
        ("no fields", || tracing::info!("")),
        ("empty target", || tracing::info!(target: "", "x")),
        (
            "odd target",
            || tracing::info!(target: "odd \"target\"\\", "x"),
        ),
        (
            "unicode target",
            || tracing::info!(target: "ziel::größe", "x"),
        ),
        ("message escapes", || {
            tracing::info!(
                "clear \u{1b}[2J bell \u{7} bs \u{8} ff \u{c} del \u{7f} c1 \u{9b} nbsp \u{a0} é"
            )
        }),
        ("message newlines", || {
            tracing::info!("line one\nline two\r\n\ttab \"q\" \\")
        }),
        ("message str escapes", || {
            tracing::info!(message = "esc \u{1b}[31m c1 \u{85} \u{9f}")
        }),
        (
            "message debug escapes",
            || tracing::info!(message = ?"esc \u{1b} \u{9b}"),
        ),
        (
            "message display escapes",
            || tracing::info!(message = %Shown("\u{1b}[1m\u{90}")),
        ),
    ]);
}

#[test]
fn field_types() {
    assert_same_everywhere(&[
        ("integers", || {
            tracing::info!(
                zero = 0u64,
                max = u64::MAX,
                min = i64::MIN,
                negative = -1i64,
                small = 7u8,
                signed = -128i8,
                port = 8080u16,
                attempts = 3u32,
                wide = u128::MAX,
                wide_negative = i128::MIN,
                size = 4096usize,
                offset = -3isize,
                "integers"
            )
        }),
        ("floats", || {
            tracing::info!(
                zero = 0.0f64,
                negative_zero = -0.0f64,
                whole = 3.0f64,
                tenth = 0.1f64,
                latency = 12.345f64,
                tiny = 1e-7f64,
                small = 0.0001f64,
                smaller = 0.00001f64,
                big = 1e15f64,
                bigger = 1e16f64,
                huge = 1.7976931348623157e308f64,
                least = 5e-324f64,
                nan = f64::NAN,
                infinite = f64::INFINITY,
                negative_infinite = f64::NEG_INFINITY,
                single = 0.1f32,
                "floats"
            )
        }),
        ("bools", || tracing::info!(yes = true, no = false, "bools")),
        ("options", || {
            let none: Option<u64> = None;
            tracing::info!(some = Some(5u64), none, text = Some("t"), "options")
        }),
        ("bytes", || {
            tracing::info!(bytes = &b"\x00\x01ab\xff"[..], "bytes")
        }),
        ("display and debug", || {
            tracing::info!(
                shown = %Shown("a \"b\"\n"),
                debugged = ?facts(),
                pretty_list = ?vec![1, 2, 3],
                text_debug = ?"quoted",
                option = ?Some("x"),
                unit = ?(),
                char_value = ?'\'',
                "display and debug"
            )
        }),
        ("raw and dotted names", || {
            tracing::info!(
                r#type = "raw",
                "http.method" = "GET",
                "key with space" = 1,
                "quote\"key" = 2,
                level = "a field named level",
                target = "a field named target",
                timestamp = "a field named timestamp",
                "names"
            )
        }),
        ("errors", || {
            let failure = failure();
            let alone = Failure {
                why: "alone \u{1b}[0m",
                source: None,
            };
            tracing::error!(
                error = &failure as &(dyn Error + 'static),
                single = &alone as &(dyn Error + 'static),
                shown = %failure,
                "errors"
            )
        }),
    ]);
}

#[test]
fn strings() {
    assert_same_everywhere(&[
        ("plain", || {
            tracing::info!(value = "plain text 123 !#$%&'()*+,-./:;<=>?@[]^_`{|}~")
        }),
        ("empty", || tracing::info!(value = "", other = "")),
        ("quotes", || {
            tracing::info!(value = "say \"hi\"", single = "it's")
        }),
        ("backslashes", || {
            tracing::info!(value = "C:\\path\\to", trailing = "\\")
        }),
        ("newlines", || tracing::info!(value = "a\nb\r\nc\td")),
        ("unicode", || {
            tracing::info!(value = "日本語 größe ñ 😀 e\u{301}", rtl = "\u{202e}abc")
        }),
        ("invisible", || {
            tracing::info!(bom = "\u{feff}x", zwj = "a\u{200d}b", nbsp = "a\u{a0}b")
        }),
        ("controls", || {
            tracing::info!(
                nul = "\0",
                esc = "\u{1b}[31mred\u{1b}[0m",
                bell = "\u{7}",
                del = "\u{7f}",
                c1 = "\u{85}\u{9b}",
                unit_separator = "\u{1f}",
                "controls"
            )
        }),
        ("long", || {
            let long = "abcdefghij".repeat(200);
            let escaped = "\"quoted\"\n".repeat(100);
            tracing::info!(long = long.as_str(), escaped = escaped.as_str(), "long")
        }),
    ]);
}

#[test]
fn spans() {
    assert_same_everywhere(&[
        ("in a span", || {
            let span = tracing::info_span!("request", method = "GET", id = 7u64);
            let _entered = span.enter();
            tracing::info!(status = 200u16, "inside")
        }),
        ("in nested spans", || {
            let outer = tracing::info_span!("outer", user = "u \"1\"");
            let _outer = outer.enter();
            let inner = tracing::debug_span!("inner");
            let _inner = inner.enter();
            tracing::warn!("nested")
        }),
        ("explicit parent", || {
            let parent = tracing::info_span!("parent", n = 1);
            tracing::info!(parent: &parent, "child")
        }),
        ("explicit root", || {
            let span = tracing::info_span!("ignored");
            let _entered = span.enter();
            tracing::info!(parent: None, "root")
        }),
        ("recorded later", || {
            let span = tracing::info_span!("late", status = tracing::field::Empty);
            span.record("status", 503u16);
            let _entered = span.enter();
            tracing::error!("after record")
        }),
        ("access line in its request span", || {
            let span = tracing::info_span!("HTTP request", otel.kind = "server");
            let _entered = span.enter();
            access_line()
        }),
    ]);
}

#[test]
fn log_records() {
    // What tracing-subscriber's `try_init` makes of the `log` crate's records (rustls,
    // postgres): events with their own target, and `log.` fields.
    assert_same_everywhere(&[
        ("log record", || {
            tracing_log::format_trace(
                &tracing_log::log::Record::builder()
                    .args(format_args!("handshake {} \"done\"", 1))
                    .level(tracing_log::log::Level::Warn)
                    .target("rustls::client")
                    .module_path_static(Some("rustls::client::hs"))
                    .file_static(Some("src/client/hs.rs"))
                    .line(Some(42))
                    .build(),
            )
            .unwrap()
        }),
        ("log record without location", || {
            tracing_log::format_trace(
                &tracing_log::log::Record::builder()
                    .args(format_args!("connected"))
                    .level(tracing_log::log::Level::Info)
                    .target("tokio_postgres::connection")
                    .build(),
            )
            .unwrap()
        }),
    ]);
}

/// A `Debug` that fails: tracing-subscriber writes no line (its JSON format panics, in
/// serde_json's `collect_str`; ours writes no line either).
struct Broken;

impl fmt::Debug for Broken {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        Err(fmt::Error)
    }
}

#[test]
fn a_failing_value_writes_no_line() {
    let case = || tracing::info!(before = "x", broken = ?Broken, after = 1, "m");
    for (format, ansi) in [(LogFormat::Human, false), (LogFormat::Human, true)] {
        let sink = Sink::default();
        assert_eq!(
            render(reference(format, ansi, sink.clone()), &sink, false, &case),
            ""
        );
        assert_eq!(
            render(ours(format, ansi, sink.clone()), &sink, false, &case),
            ""
        );
    }
    let sink = Sink::default();
    assert_eq!(
        render(
            ours(LogFormat::Json, false, sink.clone()),
            &sink,
            false,
            &case
        ),
        ""
    );
    // The line after is whole.
    let line = render(
        ours(LogFormat::Json, false, sink.clone()),
        &sink,
        false,
        &|| tracing::info!("next"),
    );
    assert!(
        line.ends_with(
            ",\"message\":\"next\",\"target\":\"keyroute_telemetry::log_format::tests\"}\n"
        ),
        "{line}"
    );
}

/// A value whose `Debug` logs: the inner line is written whole, then the outer one.
struct Chatty;

impl fmt::Debug for Chatty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        tracing::info!(inner = "nested", "logged while formatting");
        f.write_str("chatty")
    }
}

#[test]
fn logging_while_formatting() {
    assert_same_everywhere(&[("nested event", || tracing::info!(value = ?Chatty, "outer"))]);
}

#[test]
fn masking_finds_timestamps() {
    let (masked, count) = mask("2024-05-06T07:08:09.123456Z  INFO x: a=\"2024-05-06T07:08:09Z\"\n");
    assert_eq!(masked, "<time>  INFO x: a=\"2024-05-06T07:08:09Z\"\n");
    assert_eq!(count, 1);
}
