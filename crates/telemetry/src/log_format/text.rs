//! Values written into a line exactly as tracing-subscriber writes them, without a trip
//! through `core::fmt` when the bytes come out the same: strings that need no escaping are
//! copied (checked eight bytes at a time), integers and most floats are written by the
//! writers serde_json uses (itoa, zmij); anything else goes where tracing-subscriber sent it.

use std::error::Error;
use std::fmt::{self, Write as _};

/// Appends `value` in decimal: what both `{:?}` and serde_json write for an integer.
pub(super) fn push_u64(line: &mut String, value: u64) {
    line.push_str(itoa::Buffer::new().format(value));
}

/// Appends `value` in decimal.
pub(super) fn push_i64(line: &mut String, value: i64) {
    line.push_str(itoa::Buffer::new().format(value));
}

/// Digits and signs built in a byte array are ASCII, so always UTF-8.
pub(super) fn ascii(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or_default()
}

/// Each byte of a word.
const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);

/// Whether a byte of `word` is below `limit` (at most 0x80). A borrow only starts at such a
/// byte, so the answer is exact for the word, whichever byte it is.
fn any_below(word: u64, limit: u8) -> bool {
    word.wrapping_sub(ONES * u64::from(limit)) & !word & HIGHS != 0
}

/// Whether a byte of `word` is `byte`.
fn any_equal(word: u64, byte: u8) -> bool {
    any_below(word ^ (ONES * u64::from(byte)), 1)
}

/// Whether a byte of `word` is DEL or above (not ASCII). A carry only starts at 0xff, which
/// is found without it.
fn any_del_or_above(word: u64) -> bool {
    (word | word.wrapping_add(ONES)) & HIGHS != 0
}

/// Whether every byte of `text` passes: eight at a time by `word`, the rest by `byte`.
fn every_byte(text: &str, word: impl Fn(u64) -> bool, byte: impl Fn(u8) -> bool) -> bool {
    let mut words = text.as_bytes().chunks_exact(8);
    let whole = words
        .by_ref()
        .all(|eight| word(u64::from_ne_bytes(eight.try_into().unwrap_or_default())));
    whole && words.remainder().iter().all(|&one| byte(one))
}

/// Whether `{:?}` writes `text` as it is, in quotes: printable ASCII but `"` and `\`.
fn debug_plain(text: &str) -> bool {
    every_byte(
        text,
        |word| {
            !(any_below(word, b' ')
                || any_del_or_above(word)
                || any_equal(word, b'"')
                || any_equal(word, b'\\'))
        },
        |byte| matches!(byte, b' '..=b'~') && byte != b'"' && byte != b'\\',
    )
}

/// Whether serde_json writes `text` as it is, in quotes: no control character, `"` or `\`.
fn json_plain(text: &str) -> bool {
    every_byte(
        text,
        |word| !(any_below(word, b' ') || any_equal(word, b'"') || any_equal(word, b'\\')),
        |byte| byte >= b' ' && byte != b'"' && byte != b'\\',
    )
}

/// Appends `value` as `{:?}` writes a `str`: quoted, with escapes. Printable ASCII without
/// quotes or backslashes (nearly every value) is copied; anything else goes through `Debug`.
pub(super) fn push_debug_str(line: &mut String, value: &str) {
    if debug_plain(value) {
        line.push('"');
        line.push_str(value);
        line.push('"');
    } else {
        // A `String` takes every write.
        let _ = write!(line, "{value:?}");
    }
}

/// Appends `value` as `{:?}` writes an `f64`: the shortest digits that read back the same
/// (the closest to the value among them), in decimal notation from 1e-4 up to 1e16, with at
/// least one decimal, else exponential. In that range serde_json's float writer (zmij) writes
/// it the same way, in a fraction of the time of `core::fmt`'s Grisu, with one difference:
/// when two shortest candidates are equally close, the two pick differently. That takes 16
/// significant digits or more (a float's precision is 2^-53 of it, a tie is half a unit of
/// the last digit apart), so `Debug` writes those, and everything outside the range.
pub(super) fn push_debug_f64(line: &mut String, value: f64) {
    let mut bytes = [0u8; FLOAT_ROOM];
    match debug_f64_by_json(&mut bytes, value) {
        Some(written) => line.push_str(ascii(written)),
        None => {
            let _ = write!(line, "{value:?}");
        }
    }
}

/// `value` as serde_json writes it, where that is what `{:?}` writes.
fn debug_f64_by_json(bytes: &mut [u8; FLOAT_ROOM], value: f64) -> Option<&[u8]> {
    if !(1e-4..1e16).contains(&value.abs()) {
        return None;
    }
    let written = json_f64(bytes, value)?;
    // At least the significant digits (trailing zeros of a whole number count too).
    let significant = written
        .iter()
        .skip_while(|&&byte| matches!(byte, b'-' | b'0' | b'.'))
        .filter(|byte| byte.is_ascii_digit())
        .count();
    (significant <= 15).then_some(written)
}

/// Room for any float serde_json writes (`-1.7976931348623157e308` is the longest kind).
const FLOAT_ROOM: usize = 32;

/// `value` as serde_json writes it, in `bytes`.
fn json_f64(bytes: &mut [u8; FLOAT_ROOM], value: f64) -> Option<&[u8]> {
    let mut rest = &mut bytes[..];
    serde_json::to_writer(&mut rest, &value).ok()?;
    let written = FLOAT_ROOM - rest.len();
    bytes.get(..written)
}

/// Appends `value` as serde_json writes an `f64`: its shortest digits, `null` when not
/// finite. False, with nothing appended, if it were longer than a float is written.
pub(super) fn push_json_f64(line: &mut String, value: f64) -> bool {
    let mut bytes = [0u8; FLOAT_ROOM];
    let Some(written) = json_f64(&mut bytes, value) else {
        return false;
    };
    line.push_str(ascii(written));
    true
}

/// A byte that may start a character tracing-subscriber's ANSI sanitizing escapes: ESC, BEL,
/// BS, FF, DEL, or the lead byte of U+0080 to U+00BF (the C1 controls are among them).
fn may_need_sanitizing(byte: u8) -> bool {
    matches!(byte, 0x1b | 0x07 | 0x08 | 0x0c | 0x7f | 0xc2)
}

/// What tracing-subscriber writes through for a message or an error with ANSI sanitizing on
/// (its `EscapingWriter`): control characters a terminal would act on are written escaped, so
/// a logged value cannot drive the reader's terminal. Text without them is written as is.
pub(super) struct Sanitized<'a, W: ?Sized>(pub(super) &'a mut W);

impl<W: fmt::Write + ?Sized> fmt::Write for Sanitized<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        if !text.bytes().any(may_need_sanitizing) {
            return self.0.write_str(text);
        }
        for ch in text.chars() {
            match ch {
                '\x1b' => self.0.write_str("\\x1b")?,
                '\x07' => self.0.write_str("\\x07")?,
                '\x08' => self.0.write_str("\\x08")?,
                '\x0c' => self.0.write_str("\\x0c")?,
                '\x7f' => self.0.write_str("\\x7f")?,
                ch if ('\u{80}'..='\u{9f}').contains(&ch) => {
                    write!(self.0, "\\u{{{:x}}}", ch as u32)?;
                }
                _ => self.0.write_char(ch)?,
            }
        }
        Ok(())
    }
}

/// tracing-subscriber's `EscapeGuard`: a value written sanitized when `sanitize` is set.
pub(super) struct Escaped<T>(pub(super) T, pub(super) bool);

impl<T: fmt::Debug> fmt::Debug for Escaped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.1 {
            write!(Sanitized(f), "{:?}", self.0)
        } else {
            write!(f, "{:?}", self.0)
        }
    }
}

impl<T: fmt::Display> fmt::Display for Escaped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.1 {
            write!(Sanitized(f), "{}", self.0)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

/// tracing-subscriber's `ErrorSourceList`: an error and its sources, `[a, b]`.
pub(super) struct Sources<'a>(pub(super) &'a (dyn Error + 'static), pub(super) bool);

impl fmt::Display for Sources<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        let mut current = Some(self.0);
        while let Some(error) = current {
            list.entry(&Escaped(format_args!("{error}"), self.1));
            current = error.source();
        }
        list.finish()
    }
}

/// Appends `text` escaped as serde_json escapes a string's contents: `"` and `\`, the short
/// escapes for backspace, tab, newline, form feed and carriage return, `\u00xx` for the other
/// control characters below U+0020; everything else (DEL, non-ASCII) as is.
pub(super) fn push_json_str_contents(line: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    if json_plain(text) {
        line.push_str(text);
        return;
    }
    let mut run = 0;
    for (at, byte) in text.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            b'\t' => "\\t",
            b'\n' => "\\n",
            0x0c => "\\f",
            b'\r' => "\\r",
            0..=0x1f => "",
            _ => continue,
        };
        // Escaped bytes are ASCII, so `run..at` is on character boundaries.
        line.push_str(text.get(run..at).unwrap_or_default());
        run = at + 1;
        if escape.is_empty() {
            let code = [
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0xf)],
            ];
            line.push_str(ascii(&code));
        } else {
            line.push_str(escape);
        }
    }
    line.push_str(text.get(run..).unwrap_or_default());
}

/// A JSON string's contents being written: what serde_json's `collect_str` escapes a
/// `Display` value through.
pub(super) struct JsonEscaped<'a>(pub(super) &'a mut String);

impl fmt::Write for JsonEscaped<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        push_json_str_contents(self.0, text);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every character alone and among others, the way each writer's reference writes it.
    fn samples() -> impl Iterator<Item = String> {
        let every_char = (0..=0x3000u32)
            .chain((0x3000..=0x10ffff).step_by(97))
            .chain([0xfeff, 0x200d, 0x0301, 0xe000, 0xfffd, 0x1f600, 0x10ffff])
            .filter_map(char::from_u32);
        every_char
            .flat_map(|ch| {
                [
                    format!("{ch}"),
                    format!("a{ch}b{ch}"),
                    format!("{ch}{ch}é"),
                    // In the words checked eight bytes at a time, at every place, and after.
                    format!("{ch}234567-abcdefgh-{ch}"),
                    format!("0123456{ch}-abc{ch}efgh-0123"),
                    format!("0123{ch}567-abcdefg{ch}"),
                ]
            })
            .chain(
                [
                    "",
                    "plain text",
                    "it's",
                    "\"quoted\"",
                    "back\\slash",
                    "line\nbreak\r\ttab",
                    "\u{1b}[31mred\u{1b}[0m",
                    "\u{9b}31m",
                    "日本語 e\u{301}",
                    "\0nul",
                ]
                .map(str::to_owned),
            )
    }

    #[test]
    fn word_checks_find_every_byte_anywhere() {
        for byte in 0..=255u8 {
            for at in 0..8 {
                for filler in [b'a', b' ', b'~', 0x00, 0xff, 0x7f, 0x80] {
                    let mut eight = [filler; 8];
                    eight[at] = byte;
                    let word = u64::from_ne_bytes(eight);
                    assert_eq!(any_below(word, b' '), eight.iter().any(|&b| b < b' '));
                    assert_eq!(any_equal(word, b'"'), eight.contains(&b'"'));
                    assert_eq!(any_equal(word, b'\\'), eight.contains(&b'\\'));
                    assert_eq!(any_del_or_above(word), eight.iter().any(|&b| b >= 0x7f));
                }
            }
        }
    }

    #[test]
    fn integers_are_written_as_debug_writes_them() {
        for value in [0, 1, 9, 10, 99, 100, 12_345, u64::from(u32::MAX), u64::MAX] {
            let mut line = String::new();
            push_u64(&mut line, value);
            assert_eq!(line, format!("{value:?}"));
        }
        for value in [0, -1, 1, -10, 42, i64::MIN, i64::MAX, i64::MIN + 1] {
            let mut line = String::new();
            push_i64(&mut line, value);
            assert_eq!(line, format!("{value:?}"));
        }
    }

    #[test]
    fn strings_are_written_as_debug_writes_them() {
        for text in samples() {
            let mut line = String::new();
            push_debug_str(&mut line, &text);
            assert_eq!(line, format!("{text:?}"), "{text:?}");
        }
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        for text in samples() {
            let mut line = String::from("\"");
            push_json_str_contents(&mut line, &text);
            line.push('"');
            assert_eq!(line, serde_json::to_string(&text).unwrap(), "{text:?}");
            let mut line = String::from("\"");
            write!(JsonEscaped(&mut line), "{text}").unwrap();
            line.push('"');
            assert_eq!(line, serde_json::to_string(&text).unwrap(), "{text:?}");
        }
    }

    /// Values around the edges of the decimal range, milliseconds as the access line has them,
    /// and pseudo-random bit patterns of every magnitude.
    fn floats() -> impl Iterator<Item = f64> {
        let edges = [
            0.0,
            -0.0,
            1.0,
            0.1,
            0.1 + 0.2,
            1e-4,
            1e-4f64.next_down(),
            1e-4f64.next_up(),
            1e16,
            1e16f64.next_down(),
            1e15,
            123_456_789_012_345.67,
            9_007_199_254_740_993.0,
            // A tie: ...272.25 is as close to ...272.2 as to ...272.3.
            f64::from_bits(0x4318_9b7d_4ea4_91c1),
            999_999_999_999_999.9,
            0.000_123_456_789_012_345_6,
            5e-324,
            f64::MIN_POSITIVE,
            f64::MAX,
            f64::MIN,
            f64::EPSILON,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        let millis = (0..3_000_000u32).step_by(7).map(|k| f64::from(k) / 1e3);
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let random = std::iter::repeat_with(move || {
            // xorshift64*
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            f64::from_bits(state.wrapping_mul(0x2545_f491_4f6c_dd1d))
        });
        // Random magnitudes around the decimal range too, not only across all exponents.
        let scaled = random.map(|x| (x.to_bits() >> 12) as f64 * 1e-9 - 2e6);
        edges
            .into_iter()
            .chain(edges.map(|x| -x))
            .chain(millis)
            .chain(random.take(200_000))
            .chain(scaled.take(200_000))
    }

    /// Decimals of 1 to 16 significant digits across the decimal range: the floats whose
    /// shortest digits are few, where serde_json's writer stands in for `Debug`.
    fn short_decimals() -> impl Iterator<Item = f64> {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        std::iter::repeat_with(move || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_f491_4f6c_dd1d)
        })
        .map(|bits| {
            let digits = 1 + (bits % 16) as u32;
            let significand = (bits >> 8) % 10u64.pow(digits);
            let exponent = ((bits >> 4) % 36) as i32 - 20;
            let sign = if bits & 1 == 0 { "" } else { "-" };
            format!("{sign}{significand}e{exponent}")
                .parse::<f64>()
                .unwrap()
        })
        .take(300_000)
    }

    #[test]
    fn floats_are_written_as_debug_writes_them() {
        let mut line = String::new();
        let mut by_json = 0;
        for value in floats().chain(short_decimals()) {
            line.clear();
            push_debug_f64(&mut line, value);
            assert_eq!(line, format!("{value:?}"), "{:#x}", value.to_bits());
            by_json += usize::from(debug_f64_by_json(&mut [0; FLOAT_ROOM], value).is_some());
        }
        // The comparison is about the values serde_json's writer writes, mostly.
        assert!(by_json > 500_000, "{by_json}");
    }

    #[test]
    fn floats_are_written_as_serde_json_writes_them() {
        let mut line = String::new();
        for value in floats().step_by(5) {
            line.clear();
            assert!(push_json_f64(&mut line, value));
            assert_eq!(line, serde_json::to_string(&value).unwrap());
        }
    }

    #[test]
    fn sanitizing_skips_nothing_it_should_escape() {
        // The reference: tracing-subscriber's `EscapingWriter`, one character at a time.
        let reference = |text: &str| {
            let mut out = String::new();
            for ch in text.chars() {
                match ch {
                    '\x1b' | '\x07' | '\x08' | '\x0c' | '\x7f' => {
                        out.push_str(&format!("\\x{:02x}", ch as u32))
                    }
                    ch if ch as u32 >= 0x80 && ch as u32 <= 0x9f => {
                        out.push_str(&format!("\\u{{{:x}}}", ch as u32))
                    }
                    _ => out.push(ch),
                }
            }
            out
        };
        for text in samples() {
            let mut line = String::new();
            Sanitized(&mut line).write_str(&text).unwrap();
            assert_eq!(line, reference(&text), "{text:?}");
        }
    }
}
