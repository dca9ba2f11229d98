//! The human line: what tracing-subscriber's default format (`Full`, with `DefaultFields`)
//! writes: `timestamp LEVEL spans: target: message key=value ...`, styled when the writer
//! takes ANSI, with the same `Debug` rendering of every value.

use std::error::Error;
use std::fmt::{self, Write as _};
use std::time::SystemTime;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_log::NormalizeEvent as _;
use tracing_subscriber::fmt::format::{DefaultFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use super::style::{BOLD, DIMMED, ITALIC, RESET};
use super::text::{
    Escaped, Sanitized, Sources, push_debug_f64, push_debug_str, push_i64, push_u64,
};
use super::timestamp::push_timestamp;
use super::{Painted, paint, with_line};

/// The human format: tracing-subscriber's `fmt::format::Full` (timestamp, level, target, no
/// thread or file) as `fmt::layer()` writes it, for the layer's default field formatter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Human;

/// The level as tracing-subscriber's `FmtLevel` writes it: five wide, colored under ANSI.
fn level(level: &Level, ansi: bool) -> &'static str {
    match (*level, ansi) {
        (Level::TRACE, false) => "TRACE",
        (Level::DEBUG, false) => "DEBUG",
        (Level::INFO, false) => " INFO",
        (Level::WARN, false) => " WARN",
        (Level::ERROR, false) => "ERROR",
        (Level::TRACE, true) => "\x1b[35mTRACE\x1b[0m",
        (Level::DEBUG, true) => "\x1b[34mDEBUG\x1b[0m",
        (Level::INFO, true) => "\x1b[32m INFO\x1b[0m",
        (Level::WARN, true) => "\x1b[33m WARN\x1b[0m",
        (Level::ERROR, true) => "\x1b[31mERROR\x1b[0m",
    }
}

impl<S> FormatEvent<S, DefaultFields> for Human
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, DefaultFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        // A `log` record's own target and level, as tracing-subscriber shows them.
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        let ansi = writer.has_ansi_escapes();
        let sanitize = writer.sanitizes_ansi_escapes();
        with_line(|line| {
            if ansi {
                line.push_str(DIMMED);
                push_timestamp(line, SystemTime::now());
                line.push_str(RESET);
            } else {
                push_timestamp(line, SystemTime::now());
            }
            line.push(' ');
            line.push_str(level(meta.level(), ansi));
            line.push(' ');
            // The spans the event is in, root first, with the fields the layer formatted
            // (none reach the layer while spans are filtered out of it).
            if let Some(scope) = ctx.event_scope() {
                let mut seen = false;
                for span in scope.from_root() {
                    paint(line, ansi, BOLD, span.metadata().name());
                    seen = true;
                    let extensions = span.extensions();
                    if let Some(fields) = extensions.get::<FormattedFields<DefaultFields>>()
                        && !fields.fields.is_empty()
                    {
                        paint(line, ansi, BOLD, "{");
                        line.push_str(&fields.fields);
                        paint(line, ansi, BOLD, "}");
                    }
                    paint(line, ansi, DIMMED, ":");
                }
                if seen {
                    line.push(' ');
                }
            }
            paint(line, ansi, DIMMED, meta.target());
            paint(line, ansi, DIMMED, ":");
            line.push(' ');
            let mut fields = HumanFields {
                line: &mut *line,
                ansi,
                sanitize,
                first: true,
                result: Ok(()),
            };
            event.record(&mut fields);
            fields.result?;
            line.push('\n');
            writer.write_str(line)
        })
    }
}

/// An event's fields as `DefaultFields`' visitor writes them: `key=value` separated by
/// spaces, the message bare (in its place among them), `log.` fields (a `log` record's metadata,
/// shown in the line's head) left out.
struct HumanFields<'a> {
    line: &'a mut String,
    ansi: bool,
    /// Whether the message and errors are written with ANSI controls escaped.
    sanitize: bool,
    first: bool,
    /// The first failure of a value's `Debug`: the line is not written.
    result: fmt::Result,
}

/// What a field starts as.
enum Start {
    /// Not written: log metadata, or an earlier value failed.
    Skip,
    /// The message: its value alone.
    Message,
    /// `key=` written: the value follows.
    Value,
}

impl HumanFields<'_> {
    fn start(&mut self, name: &str) -> Start {
        if self.result.is_err() || name.starts_with("log.") {
            return Start::Skip;
        }
        if self.first {
            self.first = false;
        } else {
            self.line.push(' ');
        }
        if name == "message" {
            return Start::Message;
        }
        let name = name.strip_prefix("r#").unwrap_or(name);
        if self.ansi {
            paint(self.line, true, ITALIC, name);
            paint(self.line, true, DIMMED, "=");
        } else {
            self.line.push_str(name);
            self.line.push('=');
        }
        Start::Value
    }
}

impl Visit for HumanFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        match self.start(field.name()) {
            Start::Skip => {}
            // The message is its text, `Display`ed.
            Start::Message if self.sanitize => {
                self.result = Sanitized(&mut *self.line).write_str(value);
            }
            Start::Message => self.line.push_str(value),
            Start::Value => push_debug_str(self.line, value),
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if !matches!(self.start(field.name()), Start::Skip) {
            push_u64(self.line, value);
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if !matches!(self.start(field.name()), Start::Skip) {
            push_i64(self.line, value);
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if !matches!(self.start(field.name()), Start::Skip) {
            self.line.push_str(if value { "true" } else { "false" });
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // Sanitizing leaves a float's `Debug` (digits, `.`, `-`, `e`, `inf`, `NaN`) alone.
        if !matches!(self.start(field.name()), Start::Skip) {
            push_debug_f64(self.line, value);
        }
    }

    /// Word for word `DefaultVisitor::record_error`: the error, then its sources.
    fn record_error(&mut self, field: &Field, value: &(dyn Error + 'static)) {
        let (ansi, sanitize) = (self.ansi, self.sanitize);
        if let Some(source) = value.source() {
            let italic = |text| Painted {
                ansi,
                style: ITALIC,
                text,
            };
            let equals = Painted {
                ansi,
                style: DIMMED,
                text: "=",
            };
            self.record_debug(
                field,
                &format_args!(
                    "{} {}{}{}{}",
                    Escaped(format_args!("{value}"), sanitize),
                    italic(field.name()),
                    italic(".sources"),
                    equals,
                    Sources(source, sanitize),
                ),
            );
        } else {
            self.record_debug(
                field,
                &format_args!("{}", Escaped(format_args!("{value}"), sanitize)),
            );
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.result = match self.start(field.name()) {
            Start::Skip => return,
            Start::Message if self.sanitize => write!(Sanitized(&mut *self.line), "{value:?}"),
            Start::Message | Start::Value => write!(self.line, "{value:?}"),
        };
    }
}
