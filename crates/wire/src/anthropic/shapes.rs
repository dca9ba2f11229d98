//! The upstream's Messages API JSON as the decoders read it (answers, stream events, usage):
//! typed and borrowing from the body, in place of `serde_json::Value` trees, which cost a map
//! node and an owned key per field on every answer and every event. The leniency is
//! `Value`'s: see [`crate::lenient`].

use crate::canonical::pb;
use crate::lenient::{List, Obj, Text, Tree, Uint, lenient};

lenient! {
    /// A non-streaming answer.
    struct Answer<'a> {
        id: Text<'a>,
        model: Text<'a>,
        content: List<Obj<Block<'a>>>,
        stop_reason: Text<'a>,
        stop_sequence: Text<'a>,
        usage: Obj<Usage>,
    }

    /// A content block, whole (in an answer) or as it starts (in a stream).
    struct Block<'a> {
        kind = "type": Text<'a>,
        text: Text<'a>,
        id: Text<'a>,
        name: Text<'a>,
        input: Tree,
        thinking: Text<'a>,
        signature: Text<'a>,
        data: Text<'a>,
    }

    /// One stream event (the `data:` of an SSE event, or a Bedrock invoke chunk).
    struct Event<'a> {
        kind = "type": Text<'a>,
        message: Obj<Start<'a>>,
        index: Uint,
        content_block: Obj<Block<'a>>,
        delta: Obj<Delta<'a>>,
        usage: Obj<Usage>,
        error: Obj<Error<'a>>,
    }

    /// `message_start`'s message.
    struct Start<'a> {
        id: Text<'a>,
        model: Text<'a>,
        usage: Obj<Usage>,
    }

    /// A block's delta, or `message_delta`'s.
    struct Delta<'a> {
        kind = "type": Text<'a>,
        text: Text<'a>,
        thinking: Text<'a>,
        signature: Text<'a>,
        partial_json: Text<'a>,
        stop_reason: Text<'a>,
        stop_sequence: Text<'a>,
    }

    struct Error<'a> {
        kind = "type": Text<'a>,
        message: Text<'a>,
    }

    /// `usage`. A field that is null (or absent) is `None`: stream events repeat usage, and
    /// only the fields they carry replace earlier ones ([`Usage::merge`]).
    struct Usage {
        input_tokens: Option<Uint>,
        output_tokens: Option<Uint>,
        cache_read_input_tokens: Option<Uint>,
        cache_creation_input_tokens: Option<Uint>,
        cache_creation: Option<Obj<CacheCreation>>,
        output_tokens_details: Option<Obj<OutputDetails>>,
    }

    struct CacheCreation {
        ephemeral_5m_input_tokens: Uint,
        ephemeral_1h_input_tokens: Uint,
    }

    struct OutputDetails {
        thinking_tokens: Uint,
    }

    /// A Bedrock `InvokeModelWithResponseStream` chunk: one event, base64.
    struct InvokeChunk<'a> {
        bytes: Text<'a>,
    }
}

/// A count that may be missing or null.
fn count(field: Option<Uint>) -> Option<u64> {
    field.and_then(|count| count.0)
}

impl Usage {
    /// Usage counts in a stream are cumulative: each field a later event carries (not null)
    /// replaces the earlier one, whatever it holds.
    pub(crate) fn merge(&mut self, later: &Usage) {
        fn replace<T: Clone>(kept: &mut Option<T>, later: &Option<T>) {
            if later.is_some() {
                kept.clone_from(later);
            }
        }
        replace(&mut self.input_tokens, &later.input_tokens);
        replace(&mut self.output_tokens, &later.output_tokens);
        replace(
            &mut self.cache_read_input_tokens,
            &later.cache_read_input_tokens,
        );
        replace(
            &mut self.cache_creation_input_tokens,
            &later.cache_creation_input_tokens,
        );
        replace(&mut self.cache_creation, &later.cache_creation);
        replace(
            &mut self.output_tokens_details,
            &later.output_tokens_details,
        );
    }

    /// Anthropic usage to canonical. Anthropic's `input_tokens` excludes cache reads and
    /// writes (its SDK: total input is the sum of the three); canonical input includes them.
    /// `cache_creation` splits the writes by lifetime; without it every write lived 5
    /// minutes. Sums saturate: counts are the upstream's, whatever they are.
    pub(crate) fn canonical(&self) -> pb::Usage {
        let (five_minutes, one_hour) = self.cache_creation.as_ref().map_or((0, 0), |split| {
            (
                split.ephemeral_5m_input_tokens.value(),
                split.ephemeral_1h_input_tokens.value(),
            )
        });
        let read = count(self.cache_read_input_tokens).unwrap_or_default();
        let write = count(self.cache_creation_input_tokens)
            .unwrap_or(five_minutes.saturating_add(one_hour));
        let input = count(self.input_tokens)
            .unwrap_or_default()
            .saturating_add(read)
            .saturating_add(write);
        let output = count(self.output_tokens).unwrap_or_default();
        pb::Usage {
            input_tokens: input,
            output_tokens: output,
            cache_read_tokens: read,
            cache_write_tokens: write,
            reasoning_tokens: self
                .output_tokens_details
                .as_ref()
                .map_or(0, |details| details.thinking_tokens.value()),
            total_tokens: input.saturating_add(output),
            cache_write_1h_tokens: one_hour.min(write),
        }
    }
}
