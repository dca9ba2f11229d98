//! AWS Bedrock Runtime: Converse and ConverseStream (event-stream framed), signed with
//! SigV4 for service `bedrock` or sent with a Bedrock API key as a bearer token.

mod converse;
mod egress_body;
mod shapes;
mod stream;

pub use converse::{Auth, authorize, build_request, parse_error, parse_response};

#[cfg(test)]
mod egress_equivalence_tests;
#[cfg(test)]
mod legacy_egress;
pub use stream::BedrockStreamDecoder;

use crate::canonical::pb::FinishReason;

pub(crate) const PROVIDER: &str = "bedrock";

/// A model id as one URL path segment: everything but `A-Z a-z 0-9 - . _ ~` is
/// percent-encoded, so `:` becomes `%3A` and an ARN's `/` becomes `%2F` (as botocore does).
pub fn encode_model_id(model: &str) -> String {
    let mut out = String::with_capacity(model.len() + 8);
    crate::sigv4::uri_encode(model.as_bytes(), &mut out);
    out
}

/// An event-stream framing failure as a canonical error: a frame cut short is a truncated
/// stream, anything else is malformed data.
pub(crate) fn frame_error(error: crate::eventstream::FrameError) -> crate::error::WireError {
    match error {
        crate::eventstream::FrameError::Truncated(_) => {
            crate::error::WireError::truncated(PROVIDER, "the end of its last frame")
        }
        other => crate::error::WireError::malformed(PROVIDER, other.to_string()),
    }
}

/// `stopReason` to canonical.
pub fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "guardrail_intervened" | "content_filtered" => FinishReason::ContentFilter,
        "malformed_model_output" | "malformed_tool_use" => FinishReason::Error,
        _ => FinishReason::Stop,
    }
}

/// The HTTP status of a Bedrock exception type (`throttlingException`, `ValidationException`).
pub fn status_of(exception: &str) -> u16 {
    let name = exception
        .rsplit('#')
        .next()
        .unwrap_or(exception)
        .split(':')
        .next()
        .unwrap_or(exception);
    match name.to_ascii_lowercase().as_str() {
        "validationexception"
        | "servicequotaexceededexception"
        | "conflictexception"
        | "incompletesignature"
        | "requestexpired" => 400,
        "accessdeniedexception" | "invalidclienttokenid" | "unrecognizedclientexception" => 403,
        "resourcenotfoundexception" => 404,
        "modeltimeoutexception" => 408,
        "throttlingexception" | "modelnotreadyexception" => 429,
        "modelerrorexception" | "modelstreamerrorexception" => 424,
        "serviceunavailableexception" => 503,
        _ => 500,
    }
}

/// A system or developer message that comes after the conversation began, as the text of a
/// user turn in its place (Gemini and Bedrock Converse take instructions only at the top):
/// its text between `<system>` and `</system>` lines.
pub(crate) fn mid_conversation_text(parts: &[crate::canonical::pb::ContentPart]) -> String {
    let text: Vec<&str> = parts
        .iter()
        .filter_map(|part| match &part.part {
            Some(crate::canonical::pb::content_part::Part::Text(text)) if !text.is_empty() => {
                Some(text.as_str())
            }
            _ => None,
        })
        .collect();
    format!("<system>\n{}\n</system>", text.join("\n"))
}
