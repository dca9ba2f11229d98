//! Converse JSON as the decoders read it (a whole response, a ConverseStream event's
//! payload, usage): typed and borrowing from the body, in place of `serde_json::Value` trees,
//! which cost a map node and an owned key per field on every event. The leniency is
//! `Value`'s: see [`crate::lenient`].

use crate::canonical::pb;
use crate::lenient::{List, Obj, Text, Tree, Uint, lenient};

lenient! {
    /// A Converse response.
    struct Answer<'a> {
        output: Obj<Output<'a>>,
        stop_reason = "stopReason": Text<'a>,
        usage: Obj<Usage<'a>>,
    }

    struct Output<'a> {
        message: Obj<Message<'a>>,
    }

    struct Message<'a> {
        content: List<Obj<Block<'a>>>,
    }

    struct Block<'a> {
        text: Text<'a>,
        tool_use = "toolUse": Obj<Tool<'a>>,
        reasoning_content = "reasoningContent": Obj<Reasoning<'a>>,
    }

    /// A tool call, whole (in a response) or as it starts (in a stream).
    struct Tool<'a> {
        tool_use_id = "toolUseId": Text<'a>,
        name: Text<'a>,
        input: Tree,
    }

    struct Reasoning<'a> {
        reasoning_text = "reasoningText": Obj<ReasoningText<'a>>,
        redacted_content = "redactedContent": Text<'a>,
    }

    struct ReasoningText<'a> {
        text: Text<'a>,
        signature: Text<'a>,
    }

    /// A ConverseStream event's payload (or an exception's), whatever its type.
    struct Event<'a> {
        message: Text<'a>,
        message_upper = "Message": Text<'a>,
        start: Obj<BlockStart<'a>>,
        content_block_index = "contentBlockIndex": Uint,
        delta: Obj<Delta<'a>>,
        stop_reason = "stopReason": Text<'a>,
        usage: Obj<Usage<'a>>,
    }

    struct BlockStart<'a> {
        tool_use = "toolUse": Obj<Tool<'a>>,
    }

    struct Delta<'a> {
        text: Text<'a>,
        tool_use = "toolUse": Obj<ToolInput<'a>>,
        reasoning_content = "reasoningContent": Obj<ReasoningDelta<'a>>,
    }

    struct ToolInput<'a> {
        input: Text<'a>,
    }

    struct ReasoningDelta<'a> {
        text: Text<'a>,
        signature: Text<'a>,
        redacted_content = "redactedContent": Text<'a>,
    }

    struct Usage<'a> {
        input_tokens = "inputTokens": Uint,
        output_tokens = "outputTokens": Uint,
        cache_read = "cacheReadInputTokens": Uint,
        cache_write = "cacheWriteInputTokens": Uint,
        cache_details = "cacheDetails": List<Obj<CacheDetail<'a>>>,
    }

    struct CacheDetail<'a> {
        ttl: Text<'a>,
        input_tokens = "inputTokens": Uint,
    }
}

impl Usage<'_> {
    /// Bedrock usage to canonical. Bedrock's `inputTokens` counts only the input that was
    /// neither read from nor written to the cache (so `totalTokens` = input + output + cache
    /// reads and writes); canonical input includes both. `cacheDetails` splits the writes by
    /// TTL. Sums saturate: counts are the upstream's, whatever they are.
    pub(crate) fn canonical(&self) -> pb::Usage {
        let read = self.cache_read.value();
        let write = self.cache_write.value();
        let input = self
            .input_tokens
            .value()
            .saturating_add(read)
            .saturating_add(write);
        let output = self.output_tokens.value();
        let one_hour = self
            .cache_details
            .items()
            .iter()
            .filter(|detail| detail.ttl.get() == Some("1h"))
            .fold(0u64, |sum, detail| {
                sum.saturating_add(detail.input_tokens.value())
            });
        pb::Usage {
            input_tokens: input,
            output_tokens: output,
            cache_read_tokens: read,
            cache_write_tokens: write,
            reasoning_tokens: 0,
            total_tokens: input.saturating_add(output),
            cache_write_1h_tokens: one_hour.min(write),
        }
    }
}
