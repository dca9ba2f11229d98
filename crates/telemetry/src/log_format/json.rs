//! The JSON line: what tracing-subscriber's JSON format writes with `flatten_event(true)`,
//! `with_current_span(false)` and `with_span_list(false)`: `timestamp`, `level`, the event's
//! fields in order, `target`; strings escaped as serde_json escapes them.

use std::fmt::{self, Write as _};
use std::time::SystemTime;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_log::NormalizeEvent as _;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use super::text::{JsonEscaped, push_i64, push_json_f64, push_json_str_contents, push_u64};
use super::timestamp::push_timestamp;
use super::with_line;

/// The JSON format: one object per line, the event's fields flattened into it, no spans.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json;

impl<S, N> FormatEvent<S, N> for Json
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        // A `log` record's own target and level, as tracing-subscriber shows them (its
        // `log.` fields are written too, as tracing-subscriber writes them).
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        with_line(|line| {
            line.push_str("{\"timestamp\":\"");
            push_timestamp(line, SystemTime::now());
            line.push_str("\",\"level\":\"");
            line.push_str(meta.level().as_str());
            line.push('"');
            let mut fields = JsonFields {
                line: &mut *line,
                result: Ok(()),
            };
            event.record(&mut fields);
            fields.result?;
            line.push_str(",\"target\":\"");
            push_json_str_contents(line, meta.target());
            line.push_str("\"}\n");
            writer.write_str(line)
        })
    }
}

/// An event's fields as tracing-serde's map visitor serializes them: strings, integers,
/// floats and booleans as themselves, everything else as the string its `Debug` writes.
struct JsonFields<'a> {
    line: &'a mut String,
    /// The first failure of a value's `Debug`: the line is not written.
    result: fmt::Result,
}

impl JsonFields<'_> {
    /// Writes `,"name":` unless an earlier value failed.
    fn key(&mut self, field: &Field) -> bool {
        if self.result.is_err() {
            return false;
        }
        self.line.push_str(",\"");
        push_json_str_contents(self.line, field.name());
        self.line.push_str("\":");
        true
    }
}

impl Visit for JsonFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.key(field) {
            self.line.push('"');
            push_json_str_contents(self.line, value);
            self.line.push('"');
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.key(field) {
            push_u64(self.line, value);
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.key(field) {
            push_i64(self.line, value);
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.key(field) {
            self.line.push_str(if value { "true" } else { "false" });
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if self.key(field) && !push_json_f64(self.line, value) {
            // Not reached: a float is written in fewer bytes than `push_json_f64` keeps.
            self.result = Err(fmt::Error);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.key(field) {
            self.line.push('"');
            self.result = write!(JsonEscaped(&mut *self.line), "{value:?}");
            self.line.push('"');
        }
    }
}
