//! One CLIENT span per upstream attempt, after the OpenTelemetry GenAI semantic conventions:
//! named `{operation} {model}` (`chat gpt-4o-mini`), with `gen_ai.operation.name`,
//! `gen_ai.provider.name` (and the older `gen_ai.system`), the request and response models,
//! token usage (`gen_ai.usage.input_tokens`, `output_tokens`, `cache_read.input_tokens`,
//! `cache_creation.input_tokens`), `gen_ai.response.finish_reasons`; and keyroute's own:
//! `keyroute.key_source`, `keyroute.credential.fingerprint` (provider and last four
//! characters, what the API shows), `keyroute.attempt`. Retries and fallbacks are sibling
//! spans under the call's server span, which carries `keyroute.principal.id`.
//!
//! Never a secret, a token, or prompt or completion text: only counts, names and ids.
//! Without a subscriber the spans are disabled and every function here returns at once.

use keyroute_proto::router::v1::complete_stream_response::Event;
use keyroute_proto::router::v1::{ChatResponse, CompleteStreamResponse, FinishReason, Usage};
use keyroute_telemetry::OpenTelemetrySpanExt;
use keyroute_telemetry::opentelemetry::{Array, StringValue, Value};
use keyroute_wire::error::{ErrorKind, WireError};
use tracing::Span;
use tracing::field::Empty;

use crate::policy::candidates::Candidate;

/// The `gen_ai.provider.name` for a keyroute provider id: the convention's well-known value
/// where it has one, the id itself otherwise.
pub fn provider_name(provider: &str) -> &str {
    match provider {
        "google" => "gcp.gemini",
        "vertex" => "gcp.vertex_ai",
        "bedrock" => "aws.bedrock",
        "azure" => "azure.ai.openai",
        "mistral" => "mistral_ai",
        "xai" => "x_ai",
        other => other,
    }
}

/// `chat gpt-4o-mini`, formatted only when the span is enabled.
struct SpanName<'a>(&'a str, &'a str);

impl std::fmt::Display for SpanName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.0, self.1)
    }
}

/// The span of one attempt (1-based) at `operation` (`chat`, `embeddings`) with `candidate`;
/// `model` is the model the caller asked for (`keyroute.model`), the upstream model name is
/// `gen_ai.request.model`.
pub fn attempt(
    operation: &'static str,
    candidate: &Candidate<'_>,
    model: &str,
    attempt: u32,
) -> Span {
    let provider = candidate.provider.id;
    let upstream = candidate.upstream_model.as_str();
    tracing::info_span!(
        target: "keyroute::upstream",
        "gen_ai.attempt",
        otel.name = %SpanName(operation, upstream),
        otel.kind = "client",
        otel.status_code = Empty,
        gen_ai.operation.name = operation,
        gen_ai.provider.name = provider_name(provider),
        gen_ai.system = provider_name(provider),
        gen_ai.request.model = upstream,
        gen_ai.response.model = Empty,
        gen_ai.response.id = Empty,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        gen_ai.usage.cache_read.input_tokens = Empty,
        gen_ai.usage.cache_creation.input_tokens = Empty,
        keyroute.provider = provider,
        keyroute.model = model,
        keyroute.key_source = candidate.source.as_str(),
        keyroute.credential.fingerprint = %candidate.key.fingerprint,
        keyroute.attempt = i64::from(attempt),
        "error.type" = Empty,
        http.response.status_code = Empty,
    )
}

/// A failed attempt: the error's kind (low-cardinality, per the conventions) and the
/// provider's HTTP status; the message stays out (it may quote the request).
pub fn failed(span: &Span, error: &WireError) {
    if span.is_disabled() {
        return;
    }
    let kind = match error.kind {
        ErrorKind::InvalidRequest => "invalid_request",
        ErrorKind::Authentication => "authentication",
        ErrorKind::Billing => "billing",
        ErrorKind::RateLimited => "rate_limited",
        ErrorKind::Unavailable => "unavailable",
        ErrorKind::Malformed => "malformed_response",
    };
    span.record("error.type", kind);
    span.record("http.response.status_code", i64::from(error.status));
    span.record("otel.status_code", "error");
}

/// A count as OpenTelemetry's integer (an unsigned field would arrive as text).
fn count(tokens: u64) -> i64 {
    i64::try_from(tokens).unwrap_or(i64::MAX)
}

/// Token counts; a stream may report several times, each count the largest so far.
pub fn usage(span: &Span, usage: &Usage) {
    span.record("gen_ai.usage.input_tokens", count(usage.input_tokens));
    span.record("gen_ai.usage.output_tokens", count(usage.output_tokens));
    span.record(
        "gen_ai.usage.cache_read.input_tokens",
        count(usage.cache_read_tokens),
    );
    span.record(
        "gen_ai.usage.cache_creation.input_tokens",
        count(usage.cache_write_tokens),
    );
}

fn finish_reason(reason: i32) -> Option<&'static str> {
    Some(match FinishReason::try_from(reason).ok()? {
        FinishReason::Unspecified => return None,
        FinishReason::Stop => "stop",
        FinishReason::Length => "length",
        FinishReason::ToolCalls => "tool_calls",
        FinishReason::ContentFilter => "content_filter",
        FinishReason::Pause => "pause",
        FinishReason::Error => "error",
    })
}

/// `gen_ai.response.finish_reasons`, a string array (tracing fields cannot carry one).
fn finish_reasons(span: &Span, reasons: impl Iterator<Item = &'static str>) {
    let values: Vec<StringValue> = reasons.map(StringValue::from).collect();
    if !values.is_empty() {
        span.set_attribute(
            "gen_ai.response.finish_reasons",
            Value::Array(Array::String(values)),
        );
    }
}

/// A whole answer: its model, id, usage and finish reasons.
pub fn response(span: &Span, response: &ChatResponse) {
    if span.is_disabled() {
        return;
    }
    span.record("gen_ai.response.model", response.model.as_str());
    span.record("gen_ai.response.id", response.id.as_str());
    if let Some(counts) = &response.usage {
        usage(span, counts);
    }
    finish_reasons(
        span,
        response
            .choices
            .iter()
            .filter_map(|choice| finish_reason(choice.finish_reason)),
    );
}

/// Watches a served stream's events for the span: the model and id at the start, usage
/// (each count the largest reported: providers send parts at different times), and each
/// choice's finish reason, recorded once the stream ends.
#[derive(Debug, Default)]
pub struct StreamWatch {
    counted: Usage,
    reasons: Vec<&'static str>,
}

impl StreamWatch {
    pub fn observe(&mut self, span: &Span, event: &CompleteStreamResponse) {
        if span.is_disabled() {
            return;
        }
        match &event.event {
            Some(Event::Start(start)) => {
                span.record("gen_ai.response.model", start.model.as_str());
                span.record("gen_ai.response.id", start.id.as_str());
            }
            Some(Event::Usage(counts)) => {
                let counted = &mut self.counted;
                counted.input_tokens = counted.input_tokens.max(counts.input_tokens);
                counted.output_tokens = counted.output_tokens.max(counts.output_tokens);
                counted.cache_read_tokens = counted.cache_read_tokens.max(counts.cache_read_tokens);
                counted.cache_write_tokens =
                    counted.cache_write_tokens.max(counts.cache_write_tokens);
                usage(span, counted);
            }
            Some(Event::Delta(delta)) => {
                if let Some(reason) = finish_reason(delta.finish_reason) {
                    self.reasons.push(reason);
                }
            }
            Some(Event::Error(_)) => {
                span.record("error.type", "stream_error");
                span.record("otel.status_code", "error");
            }
            Some(Event::End(_)) => finish_reasons(span, self.reasons.drain(..)),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_are_named_as_the_conventions_name_them() {
        assert_eq!(provider_name("openai"), "openai");
        assert_eq!(provider_name("bedrock"), "aws.bedrock");
        assert_eq!(provider_name("google"), "gcp.gemini");
        assert_eq!(provider_name("minimax"), "minimax");
    }
}
