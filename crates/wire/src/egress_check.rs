//! What the egress equivalence tests share: which JSON texts of a request a byte writer
//! copies as they came, and the comparison of a writer's request with the one its
//! tree-building reference gave.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;

use crate::canonical::pb::{self, content_part::Part};
use crate::error::WireError;
use crate::http::HttpRequest;

/// The JSON texts, besides tool parameters, that an egress copies as they came.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Copied {
    /// Call arguments (as JSON, not as a string).
    pub arguments: bool,
    /// Tool results' text, when it is JSON.
    pub results: bool,
}

/// Whether `json` is what a `Value` would write for it (or not JSON at all).
fn canonical(json: &str) -> bool {
    match serde_json::from_str::<Value>(json) {
        Ok(value) => serde_json::to_string(&value).unwrap() == json,
        Err(_) => true,
    }
}

/// Whether every text the writer copies is as a `Value` would have written it: then the
/// bytes must match; otherwise only the JSON can.
pub(crate) fn compact(request: &pb::ChatRequest, copied: Copied) -> bool {
    fn parts_compact(parts: &[pb::ContentPart], copied: Copied) -> bool {
        parts.iter().all(|part| match &part.part {
            Some(Part::ToolCall(call)) => !copied.arguments || canonical(&call.arguments_json),
            Some(Part::ToolResult(result)) => {
                let text: String = result
                    .content
                    .iter()
                    .filter_map(|part| match &part.part {
                        Some(Part::Text(text)) => Some(text.as_str()),
                        _ => None,
                    })
                    .collect();
                (!copied.results || canonical(&text)) && parts_compact(&result.content, copied)
            }
            _ => true,
        })
    }
    request
        .tools
        .iter()
        .all(|tool| canonical(&tool.parameters_json))
        && request
            .messages
            .iter()
            .all(|message| parts_compact(&message.content, copied))
}

/// Asserts that the writer (`new`) built what its reference (`old`) built: the same error,
/// or the same method, path, headers and bytes (the same JSON where not `compact`).
pub(crate) fn assert_same(
    old: Result<HttpRequest, WireError>,
    new: Result<HttpRequest, WireError>,
    compact: bool,
    context: &str,
) {
    let (old, new) = match (old, new) {
        (Ok(old), Ok(new)) => (old, new),
        (Err(old), Err(new)) => {
            assert_eq!(old.to_string(), new.to_string(), "{context}");
            return;
        }
        (old, new) => panic!("{context}: {old:?} against {new:?}"),
    };
    assert_eq!(
        (old.method, &old.path, &old.headers),
        (new.method, &new.path, &new.headers),
        "{context}"
    );
    if compact {
        let text = |body: &[u8]| String::from_utf8(body.to_vec()).unwrap();
        assert_eq!(text(&old.body), text(&new.body), "{context}");
    } else {
        let json = |body: &[u8]| serde_json::from_slice::<Value>(body).unwrap();
        assert_eq!(json(&old.body), json(&new.body), "{context}");
    }
}
