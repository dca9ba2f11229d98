//! OpenAI Chat Completions, which every OpenAI-compatible host also speaks: streams in both
//! directions (decode from the provider, render to OpenAI-dialect clients).

mod answer;
mod egress_body;
mod ingress;
mod ingress_body;
mod messages;
mod render;
mod request;
mod response;
mod shapes;
mod stream;

pub use answer::render_response;
pub use ingress::{ClientRequest, parse_request};
pub use messages::MessageStyle;
pub(crate) use messages::provider_options as provider_options_of;
pub use render::OpenAiStreamRenderer;
pub use request::{AZURE_API_VERSION, Endpoint, Quirks, build_request, mistral_tool_id};
pub(crate) use request::{merge_options, reasoning_effort, reasoning_model};
pub use response::{parse_error, parse_response, render_error};
pub use stream::OpenAiStreamDecoder;

use crate::canonical::pb::FinishReason;

#[cfg(test)]
mod egress_equivalence_tests;
#[cfg(test)]
mod equivalence_tests;
#[cfg(test)]
mod ingress_equivalence_tests;
#[cfg(test)]
mod legacy;
#[cfg(test)]
mod legacy_egress;
#[cfg(test)]
mod legacy_ingress;

pub(crate) const PROVIDER: &str = "openai";

/// `finish_reason` to canonical.
pub fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "stop" => FinishReason::Stop,
        "length" | "model_length" => FinishReason::Length,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        "error" | "insufficient_system_resource" => FinishReason::Error,
        _ => FinishReason::Stop,
    }
}

/// Canonical to `finish_reason`.
pub fn finish_reason_name(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Length => "length",
        FinishReason::ToolCalls => "tool_calls",
        FinishReason::ContentFilter => "content_filter",
        _ => "stop",
    }
}

/// The OpenAI error `type` for an HTTP status.
pub fn error_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => "server_error",
    }
}
