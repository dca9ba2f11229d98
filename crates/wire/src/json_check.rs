//! A JSON text checked exactly as `serde_json::Value` would accept it, building nothing and
//! without serde's per-token calls: tool schemas and inputs are kept as the client's text
//! (`lenient::Raw`) and copied into upstream bodies (`json_out::copy_json`), and each copy
//! must still refuse what a tree refused. A string is skipped eight bytes at a time; only a
//! number that could overflow `f64` (an exponent, or over 300 integer digits) is handed to
//! serde_json, whose rounding decides.

use crate::json_escape::escape_mask;

/// Why a text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// A `Value` would not parse it.
    Invalid,
    /// Arrays and objects nest deeper than asked (checked no further).
    TooDeep,
}

/// How deep `serde_json` lets a document nest: it refuses the 128th level.
pub(crate) const SERDE_JSON_DEPTH: usize = 127;

/// Checks `text` (one JSON value, whitespace around it allowed) as a `Value` would, with at
/// most `max_depth` levels of arrays and objects (at most [`SERDE_JSON_DEPTH`]).
pub(crate) fn check(text: &str, max_depth: usize) -> Result<(), Refused> {
    let max_depth = max_depth.min(SERDE_JSON_DEPTH);
    let mut cursor = Cursor { text, at: 0 };
    // Bit `d` is set when the container `d + 1` levels down is an object.
    let mut objects: u128 = 0;
    let mut depth = 0;
    loop {
        cursor.skip_whitespace();
        let Some(first) = cursor.next() else {
            return Err(Refused::Invalid);
        };
        match first {
            b'{' | b'[' => {
                if depth == max_depth {
                    return Err(Refused::TooDeep);
                }
                let object = first == b'{';
                objects = (objects & !(1 << depth)) | (u128::from(object) << depth);
                depth += 1;
                cursor.skip_whitespace();
                if cursor.peek() == Some(if object { b'}' } else { b']' }) {
                    cursor.at += 1;
                    depth -= 1;
                } else {
                    if object {
                        cursor.key()?;
                    }
                    continue;
                }
            }
            b'"' => cursor.string()?,
            b't' => cursor.literal(b"rue")?,
            b'f' => cursor.literal(b"alse")?,
            b'n' => cursor.literal(b"ull")?,
            b'-' | b'0'..=b'9' => cursor.number()?,
            _ => return Err(Refused::Invalid),
        }
        // A value has ended: close what it ends, or go on to the next element.
        loop {
            cursor.skip_whitespace();
            if depth == 0 {
                return match cursor.peek() {
                    None => Ok(()),
                    Some(_) => Err(Refused::Invalid),
                };
            }
            let object = objects & (1 << (depth - 1)) != 0;
            match cursor.next() {
                Some(b',') => {
                    if object {
                        cursor.skip_whitespace();
                        cursor.key()?;
                    }
                    break;
                }
                Some(b'}') if object => depth -= 1,
                Some(b']') if !object => depth -= 1,
                _ => return Err(Refused::Invalid),
            }
        }
    }
}

struct Cursor<'t> {
    text: &'t str,
    at: usize,
}

impl<'t> Cursor<'t> {
    fn bytes(&self) -> &'t [u8] {
        self.text.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
        self.at - start
    }

    fn literal(&mut self, rest: &[u8]) -> Result<(), Refused> {
        if !self.bytes()[self.at..].starts_with(rest) {
            return Err(Refused::Invalid);
        }
        self.at += rest.len();
        Ok(())
    }

    /// An object's key and its colon, the opening quote next.
    fn key(&mut self) -> Result<(), Refused> {
        if self.next() != Some(b'"') {
            return Err(Refused::Invalid);
        }
        self.string()?;
        self.skip_whitespace();
        if self.next() != Some(b':') {
            return Err(Refused::Invalid);
        }
        Ok(())
    }

    /// The rest of a string, its opening quote read.
    fn string(&mut self) -> Result<(), Refused> {
        loop {
            while let Some(word) = self
                .bytes()
                .get(self.at..)
                .and_then(<[u8]>::first_chunk::<8>)
            {
                let hits = escape_mask(u64::from_le_bytes(*word));
                if hits != 0 {
                    self.at += (hits.trailing_zeros() / 8) as usize;
                    break;
                }
                self.at += 8;
            }
            match self.next() {
                Some(b'"') => return Ok(()),
                Some(b'\\') => self.escape()?,
                Some(0x00..=0x1F) | None => return Err(Refused::Invalid),
                Some(_) => {}
            }
        }
    }

    /// An escape, its backslash read; `\u` escapes decode to a character or a surrogate pair,
    /// as serde_json requires of a string (a lone surrogate is refused).
    fn escape(&mut self) -> Result<(), Refused> {
        match self.next() {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(()),
            Some(b'u') => {
                let unit = self.hex4()?;
                if (0xDC00..=0xDFFF).contains(&unit) {
                    return Err(Refused::Invalid);
                }
                if (0xD800..=0xDBFF).contains(&unit) {
                    if self.next() != Some(b'\\') || self.next() != Some(b'u') {
                        return Err(Refused::Invalid);
                    }
                    if !(0xDC00..=0xDFFF).contains(&self.hex4()?) {
                        return Err(Refused::Invalid);
                    }
                }
                Ok(())
            }
            _ => Err(Refused::Invalid),
        }
    }

    fn hex4(&mut self) -> Result<u16, Refused> {
        let mut unit = 0u16;
        for _ in 0..4 {
            let digit = match self.next() {
                Some(byte @ b'0'..=b'9') => byte - b'0',
                Some(byte @ b'a'..=b'f') => byte - b'a' + 10,
                Some(byte @ b'A'..=b'F') => byte - b'A' + 10,
                _ => return Err(Refused::Invalid),
            };
            unit = unit << 4 | u16::from(digit);
        }
        Ok(unit)
    }

    /// The rest of a number, its first byte (`-` or a digit) read.
    fn number(&mut self) -> Result<(), Refused> {
        let start = self.at - 1;
        let mut first = self.bytes()[start];
        if first == b'-' {
            first = self.next().ok_or(Refused::Invalid)?;
        }
        let integer_start = self.at - 1;
        match first {
            b'0' if matches!(self.peek(), Some(b'0'..=b'9')) => return Err(Refused::Invalid),
            b'0' => {}
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return Err(Refused::Invalid),
        }
        let integer_digits = self.at - integer_start;
        if self.peek() == Some(b'.') {
            self.at += 1;
            if self.digits() == 0 {
                return Err(Refused::Invalid);
            }
        }
        let mut exponent = false;
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            if self.digits() == 0 {
                return Err(Refused::Invalid);
            }
            exponent = true;
        }
        if !exponent && integer_digits <= 300 {
            return Ok(());
        }
        // Only such a number can overflow f64 ("number out of range"): the parser decides.
        match self.text.get(start..self.at) {
            Some(number) if serde_json::from_str::<serde_json::Value>(number).is_ok() => Ok(()),
            _ => Err(Refused::Invalid),
        }
    }
}

#[cfg(test)]
#[path = "json_check_tests.rs"]
mod tests;
