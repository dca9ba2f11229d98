//! JSON written straight into bytes, for the request bodies whose bulk (a conversation, tool
//! schemas) is copied out of canonical form: no `Value` tree, no allocation per string. A
//! writer puts keys in the order serde_json's `Map` keeps them (sorted), so the bytes are
//! the ones a tree would have given.

use serde_json::{Map, Value};

use crate::canonical::pb::{self, content_part::Part};
use crate::json_check;

/// Writes `text` as a JSON string, escaped as serde_json escapes it.
pub(crate) fn string(out: &mut Vec<u8>, text: &str) {
    crate::json_escape::write_str(out, text);
}

/// Writes a small tree (a field the writer does not model).
pub(crate) fn value(out: &mut Vec<u8>, value: &Value) {
    let written = serde_json::to_writer(&mut *out, value);
    debug_assert!(written.is_ok(), "a Value always serializes");
}

/// Pieces of text as one string, borrowed when there is one piece (the usual case).
pub(crate) fn joined<'t>(mut pieces: impl Iterator<Item = &'t str>) -> std::borrow::Cow<'t, str> {
    let Some(first) = pieces.next() else {
        return "".into();
    };
    match pieces.next() {
        None => first.into(),
        Some(second) => {
            let mut all = String::from(first);
            all.push_str(second);
            all.extend(pieces);
            all.into()
        }
    }
}

/// Copies `json` (trimmed) when a `Value` would accept it, checked without building one, and
/// says whether it did: a tool schema or input goes on as the client wrote it.
pub(crate) fn copy_json(out: &mut Vec<u8>, json: &str) -> bool {
    if json_check::check(json, json_check::SERDE_JSON_DEPTH).is_err() {
        return false;
    }
    out.extend_from_slice(json.trim_matches([' ', '\t', '\n', '\r']).as_bytes());
    true
}

/// `json` (valid JSON) without the whitespace between its tokens: one line, whatever the
/// client's formatting, as a server-sent event's `data:` line needs it.
pub(crate) fn compact(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut run = 0;
    for (at, byte) in json.bytes().enumerate() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b' ' | b'\t' | b'\n' | b'\r' => {
                // Whitespace is ASCII: `run..at` is on character boundaries.
                out.push_str(json.get(run..at).unwrap_or_default());
                run = at + 1;
            }
            _ => {}
        }
    }
    out.push_str(json.get(run..).unwrap_or_default());
    out
}

/// A JSON object being written; [`ObjectOut::end`] closes it.
pub(crate) struct ObjectOut<'o> {
    out: &'o mut Vec<u8>,
    empty: bool,
}

impl<'o> ObjectOut<'o> {
    pub(crate) fn begin(out: &'o mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, empty: true }
    }

    /// Writes `"key":` and gives the buffer for its value, which the caller must write.
    pub(crate) fn key(&mut self, key: &str) -> &mut Vec<u8> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        string(self.out, key);
        self.out.push(b':');
        self.out
    }

    pub(crate) fn end(self) {
        self.out.push(b'}');
    }
}

/// A JSON array being written; [`ArrayOut::end`] closes it.
pub(crate) struct ArrayOut<'o> {
    out: &'o mut Vec<u8>,
    empty: bool,
}

impl<'o> ArrayOut<'o> {
    pub(crate) fn begin(out: &'o mut Vec<u8>) -> Self {
        out.push(b'[');
        Self { out, empty: true }
    }

    /// Gives the buffer for the next element, which the caller must write.
    pub(crate) fn item(&mut self) -> &mut Vec<u8> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out
    }

    /// Gives the buffer to go on writing the element last begun.
    pub(crate) fn current(&mut self) -> &mut Vec<u8> {
        self.out
    }

    pub(crate) fn end(self) {
        self.out.push(b']');
    }
}

/// A top-level object from its small fields (a `Map`, options merged in as before) and its
/// large ones, already written (`large` sorted by key), keys in `Map` order. A large field
/// wins over a small one of the same key: options do not replace what the request set.
pub(crate) fn object_of(small: &Map<String, Value>, large: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let size = large.iter().map(|(key, bytes)| key.len() + bytes.len() + 4);
    let mut out = Vec::with_capacity(size.sum::<usize>() + 64 * small.len() + 2);
    let mut object = ObjectOut::begin(&mut out);
    let mut large = large.iter().peekable();
    for (key, field) in small {
        let mut shadowed = false;
        while let Some((name, bytes)) = large.next_if(|(name, _)| *name <= key.as_str()) {
            object.key(name).extend_from_slice(bytes);
            shadowed |= *name == key.as_str();
        }
        if !shadowed {
            value(object.key(key), field);
        }
    }
    for (key, bytes) in large {
        object.key(key).extend_from_slice(bytes);
    }
    object.end();
    out
}

/// Roughly the bytes a canonical conversation takes as JSON, so that the buffer it is written
/// into grows once or not at all.
pub(crate) fn conversation_size(messages: &[pb::Message]) -> usize {
    fn part_size(part: &pb::ContentPart) -> usize {
        match &part.part {
            Some(Part::Text(text)) => text.len() + 32,
            Some(Part::ToolCall(call)) => call.arguments_json.len() + 64,
            Some(Part::ToolResult(result)) => {
                result.content.iter().map(part_size).sum::<usize>() + 64
            }
            Some(Part::Reasoning(reasoning)) => {
                reasoning.text.len() + reasoning.signature.len() + 48
            }
            _ => 64,
        }
    }
    let bytes: usize = messages
        .iter()
        .map(|message| message.content.iter().map(part_size).sum::<usize>() + 32)
        .sum();
    bytes * 9 / 8
}

#[cfg(test)]
mod compact_tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::{Value, json};

    use super::compact;

    /// Pretty-printed, a tree compacts to exactly what compact printing writes: only the
    /// whitespace between tokens goes, strings keep theirs (escapes included).
    #[test]
    fn compacting_pretty_json_gives_compact_json() {
        let values = [
            json!({"a": [1, 2.5, -3e-7, null, true], "b c": {"d": "  spaced  out \t\n  "}}),
            json!([
                "quote \" inside",
                "back\\slash",
                "ends with \\",
                "\\\"",
                "é 😀 \u{1}"
            ]),
            json!({"nested": [[[{}]], [], {"x": [ {"y": "z"} ]}]}),
            json!("just a string with  two spaces"),
            json!(12),
        ];
        for value in values {
            let pretty = serde_json::to_string_pretty(&value).unwrap();
            assert_eq!(
                compact(&pretty),
                serde_json::to_string(&value).unwrap(),
                "{pretty}"
            );
        }
    }

    #[test]
    fn every_whitespace_between_tokens_goes_and_none_inside_strings() {
        let text = " {\r\n\t\"k\" :\t[ \"a b\" , \"c\\\" d\" ]\n} ";
        assert_eq!(compact(text), r#"{"k":["a b","c\" d"]}"#);
        let value: Value = serde_json::from_str(text).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&compact(text)).unwrap(),
            value
        );
    }
}
