//! The Anthropic Messages API: streams in both directions (decode from the provider,
//! render to Anthropic-dialect clients), with the Bedrock and Vertex flavours to follow.

mod answer;
mod count;
mod egress_body;
mod ingress;
mod ingress_body;
mod render;
mod request;
mod response;
mod shapes;
mod stream;

pub use answer::render_response;
pub use count::{build_count_tokens_request, parse_count_tokens};
pub use ingress::{ClientRequest, MID_CONVERSATION_SYSTEM_BETA, parse_request};
pub use render::AnthropicStreamRenderer;
pub(crate) use request::thinking_of;
pub use request::{ANTHROPIC_VERSION, DEFAULT_MAX_TOKENS, Flavor, build_request};
pub use response::{parse_error, parse_response, render_error};
pub use stream::{AnthropicStreamDecoder, BedrockInvokeStreamDecoder};

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

pub(crate) const PROVIDER: &str = "anthropic";

/// `stop_reason` to canonical.
pub fn finish_reason(stop_reason: &str) -> FinishReason {
    match stop_reason {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        "pause_turn" => FinishReason::Pause,
        _ => FinishReason::Stop,
    }
}

/// Canonical to `stop_reason`.
pub fn stop_reason(reason: FinishReason, stop_sequence: &str) -> &'static str {
    match reason {
        FinishReason::Stop | FinishReason::Unspecified | FinishReason::Error
            if !stop_sequence.is_empty() =>
        {
            "stop_sequence"
        }
        FinishReason::Length => "max_tokens",
        FinishReason::ToolCalls => "tool_use",
        FinishReason::ContentFilter => "refusal",
        FinishReason::Pause => "pause_turn",
        _ => "end_turn",
    }
}

/// Anthropic's error `type` for an HTTP status, and back.
pub fn error_type(status: u16) -> &'static str {
    match status {
        400 | 422 => "invalid_request_error",
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        409 => "conflict_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        529 | 503 => "overloaded_error",
        _ => "api_error",
    }
}

pub fn status_of(error_type: &str) -> u16 {
    match error_type {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "billing_error" => 402,
        "permission_error" => 403,
        "not_found_error" => 404,
        "conflict_error" => 409,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "timeout_error" => 504,
        "overloaded_error" => 529,
        _ => 500,
    }
}
