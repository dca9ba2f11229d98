//! The log line formats: [`Human`] and [`Json`] write byte for byte what tracing-subscriber's
//! default (`Full`) format and its flattened JSON format wrote, but each line is built straight
//! into one buffer: strings that need no escaping are copied, integers, booleans and the
//! timestamp are written without `core::fmt`. Formatting the access line through
//! tracing-subscriber's formatters (every field through `Debug`, JSON through serde's map
//! serializer) was 4% of the CPU of a saturated edge.

mod human;
mod json;
mod text;
mod timestamp;

#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::fmt;

pub use human::Human;
pub use json::Json;

/// Lines are built in a buffer kept per thread, so that a line costs no allocation.
const KEPT_CAPACITY: usize = 64 * 1024;

thread_local! {
    static LINE: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Runs `build` with an empty line buffer: this thread's, or a new one when it is taken (an
/// event logged while a line is being built, by a value's `Debug`) or gone (thread exit).
fn with_line(build: impl FnOnce(&mut String) -> fmt::Result) -> fmt::Result {
    let mut build = Some(build);
    let kept = LINE.try_with(|cell| {
        let mut line = cell.try_borrow_mut().ok()?;
        let build = build.take()?;
        line.clear();
        let result = build(&mut line);
        // One huge line must not hold its memory for the life of the thread.
        if line.capacity() > KEPT_CAPACITY {
            *line = String::new();
        }
        Some(result)
    });
    match (kept, build) {
        (Ok(Some(result)), _) => result,
        (_, Some(build)) => build(&mut String::new()),
        // `build` ran but returned nothing: not reachable, `Some(result)` follows every run.
        (_, None) => Err(fmt::Error),
    }
}

/// The ANSI styles tracing-subscriber's formats use (nu-ansi-term's codes).
mod style {
    pub(super) const BOLD: &str = "\x1b[1m";
    pub(super) const DIMMED: &str = "\x1b[2m";
    pub(super) const ITALIC: &str = "\x1b[3m";
    pub(super) const RESET: &str = "\x1b[0m";
}

/// Appends `text`, in `style` when `ansi` (nu-ansi-term's `Style::paint`).
fn paint(line: &mut String, ansi: bool, style: &str, text: &str) {
    if ansi {
        line.push_str(style);
        line.push_str(text);
        line.push_str(style::RESET);
    } else {
        line.push_str(text);
    }
}

/// `text` in `style` when `ansi`, for `format_args!`.
struct Painted<'a> {
    ansi: bool,
    style: &'static str,
    text: &'a str,
}

impl fmt::Display for Painted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ansi {
            write!(f, "{}{}{}", self.style, self.text, style::RESET)
        } else {
            f.write_str(self.text)
        }
    }
}
