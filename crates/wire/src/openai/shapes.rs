//! The upstream's Chat Completions JSON as the decoders read it (answers, stream chunks,
//! usage): typed and borrowing from the body, in place of `serde_json::Value` trees, which
//! cost a map node and an owned key per field on every answer and every chunk. The leniency
//! is `Value`'s: see [`crate::lenient`].

use crate::canonical::pb;
use crate::lenient::{Int, List, Obj, Text, Uint, lenient};

lenient! {
    /// A non-streaming answer.
    struct Answer<'a> {
        id: Text<'a>,
        model: Text<'a>,
        created: Int,
        choices: List<Obj<Choice<'a>>>,
        usage: Obj<Usage>,
    }

    struct Choice<'a> {
        index: Uint,
        message: Obj<Message<'a>>,
        finish_reason: Text<'a>,
    }

    struct Message<'a> {
        content: Text<'a>,
        refusal: Text<'a>,
        reasoning_content: Text<'a>,
        tool_calls: List<Obj<ToolCall<'a>>>,
    }

    /// A tool call, whole (in an answer) or a fragment (in a chunk's delta).
    struct ToolCall<'a> {
        index: Uint,
        id: Text<'a>,
        function: Obj<Function<'a>>,
    }

    struct Function<'a> {
        name: Text<'a>,
        arguments: Text<'a>,
    }

    /// One streaming chunk (`data:` of an SSE event).
    struct Chunk<'a> {
        id: Text<'a>,
        model: Text<'a>,
        created: Int,
        choices: List<Obj<ChunkChoice<'a>>>,
        usage: Obj<Usage>,
        error: Obj<ChunkError<'a>>,
    }

    struct ChunkChoice<'a> {
        index: Uint,
        delta: Obj<Delta<'a>>,
        finish_reason: Text<'a>,
    }

    struct Delta<'a> {
        role: Text<'a>,
        content: Text<'a>,
        refusal: Text<'a>,
        reasoning_content: Text<'a>,
        reasoning: Text<'a>,
        tool_calls: List<Obj<ToolCall<'a>>>,
    }

    /// An error sent mid-stream as a chunk.
    struct ChunkError<'a> {
        code: Uint,
        kind = "type": Text<'a>,
        message: Text<'a>,
    }

    /// `usage`, with where compatible hosts put cache reads.
    struct Usage {
        prompt_tokens: Uint,
        completion_tokens: Uint,
        total_tokens: Uint,
        prompt_tokens_details: Obj<PromptDetails>,
        completion_tokens_details: Obj<CompletionDetails>,
        prompt_cache_hit_tokens: Uint,
        cached_tokens: Uint,
    }

    struct PromptDetails {
        cached_tokens: Uint,
        cache_write_tokens: Uint,
    }

    struct CompletionDetails {
        reasoning_tokens: Uint,
    }
}

impl Usage {
    /// OpenAI-format usage to canonical (`prompt_tokens` already includes cached tokens).
    /// Cache reads come as OpenAI's `prompt_tokens_details.cached_tokens`, or where
    /// compatible hosts put them: DeepSeek's `prompt_cache_hit_tokens` (part of
    /// `prompt_tokens`, beside `prompt_cache_miss_tokens`), Moonshot's top-level
    /// `cached_tokens`. Cache writes come as `prompt_tokens_details.cache_write_tokens` where
    /// a host reports them. Sums saturate: counts are the upstream's, whatever they are.
    pub(crate) fn canonical(&self) -> pb::Usage {
        let input = self.prompt_tokens.value();
        let output = self.completion_tokens.value();
        pb::Usage {
            input_tokens: input,
            output_tokens: output,
            cache_read_tokens: self
                .prompt_tokens_details
                .cached_tokens
                .0
                .or(self.prompt_cache_hit_tokens.0)
                .or(self.cached_tokens.0)
                .unwrap_or_default(),
            cache_write_tokens: self.prompt_tokens_details.cache_write_tokens.value(),
            reasoning_tokens: self.completion_tokens_details.reasoning_tokens.value(),
            total_tokens: self.total_tokens.0.unwrap_or(input.saturating_add(output)),
            cache_write_1h_tokens: 0,
        }
    }
}
