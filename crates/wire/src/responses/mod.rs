//! The OpenAI Responses API (`POST /v1/responses`), in both directions: clients that speak it
//! (Codex CLI, the `openai` SDK's `responses.*`) and the OpenAI and Azure upstreams that serve
//! it natively. Everything else reaches other providers through the canonical chat.
//!
//! Two things the Responses shapes cannot hold are carried in ways clients pass back
//! unchanged:
//!
//! - functions grouped in a `namespace` tool are named `<namespace>__<function>` in canonical
//!   form (and so at every other upstream); the namespace is split off again on the way out;
//! - opaque provider state that is not OpenAI's own reasoning travels as a reasoning item's
//!   `encrypted_content` with a keyroute prefix: Anthropic's redacted thinking
//!   ([`REDACTED_PREFIX`]) and Gemini's thought signature of the function call that follows
//!   ([`THOUGHT_SIGNATURE_PREFIX`]).

mod request;
mod response;
mod stream;

pub use request::{
    Endpoint, build_request, hosted_tools, needs_hosted_tools, parse_request, without_hosted_tools,
};
pub use response::{parse_response, render_response};
pub use stream::{ResponsesEvents, ResponsesStreamDecoder, ResponsesStreamRenderer};

pub(crate) const PROVIDER: &str = "openai";

/// Joins a namespace and a function name into the canonical tool name.
pub const NAMESPACE_SEPARATOR: &str = "__";

/// `encrypted_content` prefix for Anthropic `redacted_thinking` data.
pub const REDACTED_PREFIX: &str = "keyroute.redacted:";

/// `encrypted_content` prefix for a Gemini thought signature; the signature belongs to the
/// function call right after the reasoning item.
pub const THOUGHT_SIGNATURE_PREFIX: &str = "keyroute.thought_signature:";

/// What a Responses answer repeats of its request, and what rendering it needs to know.
/// Built by the request parser; read by the renderers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResponseContext {
    /// The request's fields every response object repeats (`instructions`, `tools`,
    /// `tool_choice`, `text`, `reasoning`, `metadata`, `store`, `parallel_tool_calls`,
    /// `max_output_tokens`, `temperature`, `top_p`, `previous_response_id`, `truncation`,
    /// `user`, `prompt_cache_key`...), as the client sent them or with OpenAI's defaults.
    pub echo: serde_json::Map<String, serde_json::Value>,
    /// The request's `tools` as the client sent them, on one line: repeated in place of the
    /// echo's `tools` when set (a coding agent's run to tens of KB, not worth a tree).
    pub tools_json: String,
    /// The request's `namespace` tools, to split canonical tool names on the way out.
    pub namespaces: Vec<String>,
    /// `include` asked for `reasoning.encrypted_content`: reasoning items carry it.
    pub encrypted_reasoning: bool,
}

/// A client's Responses request, translated.
#[derive(Debug, Clone)]
pub struct ResponsesClientRequest {
    pub request: crate::canonical::pb::ChatRequest,
    pub stream: bool,
    pub context: ResponseContext,
}

/// The canonical name of `function` in `namespace` (or the bare name outside one).
pub fn namespaced(namespace: &str, function: &str) -> String {
    if namespace.is_empty() {
        return function.to_owned();
    }
    format!("{namespace}{NAMESPACE_SEPARATOR}{function}")
}

/// Splits a canonical tool name back into `(namespace, function)` when it starts with one of
/// the request's `namespaces`.
pub fn split_namespace<'n>(name: &'n str, namespaces: &[String]) -> (Option<&'n str>, &'n str) {
    for namespace in namespaces {
        if let Some(function) = name
            .strip_prefix(namespace.as_str())
            .and_then(|rest| rest.strip_prefix(NAMESPACE_SEPARATOR))
        {
            return (Some(&name[..namespace.len()]), function);
        }
    }
    (None, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_join_and_split() {
        let namespaces = vec!["multi_agent_v1".to_owned()];
        let name = namespaced("multi_agent_v1", "close_agent");
        assert_eq!(name, "multi_agent_v1__close_agent");
        assert_eq!(
            split_namespace(&name, &namespaces),
            (Some("multi_agent_v1"), "close_agent")
        );
        assert_eq!(
            split_namespace("exec_command", &namespaces),
            (None, "exec_command")
        );
        assert_eq!(namespaced("", "exec_command"), "exec_command");
    }
}
