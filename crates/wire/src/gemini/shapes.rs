//! A `generateContent` response (whole, or one chunk of a stream) as the decoders read it:
//! typed and borrowing from the body, in place of a `serde_json::Value` tree, which cost a map
//! node and an owned key per field on every chunk. The leniency is `Value`'s: see
//! [`crate::lenient`]. A `functionCall` stays a tree: its arguments are written back out as
//! JSON, and calls are rare beside text.

use crate::canonical::pb;
use crate::lenient::{Flag, List, Obj, Text, Tree, Uint, lenient};

lenient! {
    /// A response or one streamed chunk.
    struct Answer<'a> {
        candidates: List<Obj<Candidate<'a>>>,
        usage = "usageMetadata": Obj<Usage>,
        response_id = "responseId": Text<'a>,
        model_version = "modelVersion": Text<'a>,
        prompt_feedback = "promptFeedback": Obj<Feedback<'a>>,
        error: Obj<Error<'a>>,
    }

    struct Candidate<'a> {
        index: Uint,
        content: Obj<Content<'a>>,
        finish_reason = "finishReason": Text<'a>,
    }

    struct Content<'a> {
        parts: List<Obj<Part<'a>>>,
    }

    struct Part<'a> {
        text: Text<'a>,
        thought: Flag,
        thought_signature = "thoughtSignature": Text<'a>,
        function_call = "functionCall": Tree,
    }

    struct Feedback<'a> {
        block_reason = "blockReason": Text<'a>,
    }

    /// An error sent mid-stream as a chunk.
    struct Error<'a> {
        status: Text<'a>,
        code: Uint,
        message: Text<'a>,
    }

    struct Usage {
        prompt = "promptTokenCount": Uint,
        tool_use_prompt = "toolUsePromptTokenCount": Uint,
        thoughts = "thoughtsTokenCount": Uint,
        candidates = "candidatesTokenCount": Uint,
        cached = "cachedContentTokenCount": Uint,
        total = "totalTokenCount": Uint,
    }
}

impl Usage {
    /// Gemini usage to canonical. `promptTokenCount` already includes
    /// `cachedContentTokenCount`; the prompt a tool use added (`toolUsePromptTokenCount`) is
    /// input too. Thinking (`thoughtsTokenCount`, reported apart from `candidatesTokenCount`)
    /// is billed as output, so it is added to output and also counted as reasoning. Gemini
    /// reports no cache writes. Sums saturate: counts are the upstream's, whatever they are.
    pub(crate) fn canonical(&self) -> pb::Usage {
        let input = self
            .prompt
            .value()
            .saturating_add(self.tool_use_prompt.value());
        let thoughts = self.thoughts.value();
        let output = self.candidates.value().saturating_add(thoughts);
        let sum = input.saturating_add(output);
        pb::Usage {
            input_tokens: input,
            output_tokens: output,
            cache_read_tokens: self.cached.value(),
            cache_write_tokens: 0,
            reasoning_tokens: thoughts,
            total_tokens: self.total.0.unwrap_or(sum).max(sum),
            cache_write_1h_tokens: 0,
        }
    }
}
