//! Google Gemini (`generateContent`, `streamGenerateContent?alt=sse`), for AI Studio and
//! Vertex AI.

mod egress_body;
mod request;
mod response;
mod shapes;
mod stream;

pub use request::{Flavor, SKIP_THOUGHT_SIGNATURE, build_request};
pub use response::{parse_error, parse_response};
pub use stream::GeminiStreamDecoder;

#[cfg(test)]
mod egress_equivalence_tests;
#[cfg(test)]
mod legacy_egress;

use crate::canonical::pb::FinishReason;

pub(crate) const PROVIDER: &str = "google";

/// `finishReason` to canonical. Gemini keeps `STOP` when the model calls a function; the
/// decoder turns that into `ToolCalls` when a call was seen.
pub fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION"
        | "MODEL_ARMOR" => FinishReason::ContentFilter,
        "MALFORMED_FUNCTION_CALL" | "UNEXPECTED_TOOL_CALL" | "TOO_MANY_TOOL_CALLS" => {
            FinishReason::Error
        }
        _ => FinishReason::Stop,
    }
}

/// The HTTP status of a Google error `status`.
pub fn status_of(status: &str, code: u64) -> u16 {
    if (400..600).contains(&code) {
        return code as u16;
    }
    match status {
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE" => 400,
        "UNAUTHENTICATED" => 401,
        "PERMISSION_DENIED" => 403,
        "NOT_FOUND" => 404,
        "RESOURCE_EXHAUSTED" => 429,
        "UNAVAILABLE" => 503,
        "DEADLINE_EXCEEDED" => 504,
        _ => 500,
    }
}
