//! Decoding a Chat Completions stream: `data:` chunks until `data: [DONE]`, choices
//! interleaved by index, tool calls accumulated by index, usage in a last chunk whose
//! `choices` is empty, and errors as a top-level `error` object mid-stream.

use std::collections::HashSet;

use serde_json::Value;

use super::{PROVIDER, finish_reason};
use crate::canonical::pb::{self, complete_stream_response::Event};
use crate::canonical::{StreamEvent, delta, error_event, event};
use crate::error::WireError;
use crate::json::{str_of, u64_of};
use crate::sse::{SseEvent, SseEvents, SseStream};

/// Decodes OpenAI-format streaming chunks into canonical deltas.
pub type OpenAiStreamDecoder = SseStream<OpenAiEvents>;

/// Reads OpenAI-format chunks; the SSE layer is shared.
#[derive(Debug, Default)]
pub struct OpenAiEvents {
    started: bool,
    done: bool,
    finished_choices: HashSet<u64>,
    usage: Option<pb::Usage>,
}

impl OpenAiEvents {
    fn handle(&mut self, sse: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), WireError> {
        let data = sse.data.trim();
        if data == "[DONE]" {
            self.end(out);
            return Ok(());
        }
        if data.is_empty() {
            return Ok(());
        }
        let chunk: Value = serde_json::from_str(data).map_err(|error| {
            WireError::malformed(PROVIDER, format!("chunk is not JSON: {error}"))
        })?;
        if let Some(error) = chunk.get("error") {
            let status = error
                .get("code")
                .and_then(Value::as_u64)
                .filter(|c| (400..600).contains(c))
                .unwrap_or(500) as u16;
            let classified = WireError::from_status(
                PROVIDER,
                status,
                str_of(error, "type"),
                str_of(error, "message"),
            );
            out.push(error_event(classified));
            self.done = true;
            return Ok(());
        }
        if !self.started {
            self.started = true;
            out.push(event(Event::Start(pb::StreamStart {
                id: str_of(&chunk, "id").to_owned(),
                model: str_of(&chunk, "model").to_owned(),
                created: chunk
                    .get("created")
                    .and_then(Value::as_i64)
                    .unwrap_or_default(),
            })));
        }
        for choice in chunk
            .get("choices")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let index = u64_of(choice, "index");
            let choice_index = u32::try_from(index)
                .map_err(|_| WireError::malformed(PROVIDER, "choice index out of range"))?;
            let inner = choice.get("delta").unwrap_or(&Value::Null);
            let role = match str_of(inner, "role") {
                "" => 0,
                _ => pb::Role::Assistant as i32,
            };
            let text = str_of(inner, "content").to_owned();
            // A refusal stays a refusal: OpenAI clients read it apart from the content.
            let refusal = str_of(inner, "refusal").to_owned();
            let reasoning = match str_of(inner, "reasoning_content") {
                "" => str_of(inner, "reasoning").to_owned(),
                value => value.to_owned(),
            };
            if role != 0 || !text.is_empty() || !reasoning.is_empty() || !refusal.is_empty() {
                out.push(delta(pb::ChatDelta {
                    choice_index,
                    role,
                    text,
                    reasoning,
                    refusal,
                    ..Default::default()
                }));
            }
            for call in inner
                .get("tool_calls")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                let function = call.get("function").unwrap_or(&Value::Null);
                let tool_index = u32::try_from(u64_of(call, "index"))
                    .map_err(|_| WireError::malformed(PROVIDER, "tool call index out of range"))?;
                out.push(delta(pb::ChatDelta {
                    choice_index,
                    tool_call: Some(pb::ToolCallDelta {
                        index: tool_index,
                        id: str_of(call, "id").to_owned(),
                        name: str_of(function, "name").to_owned(),
                        arguments_fragment: str_of(function, "arguments").to_owned(),
                    }),
                    ..Default::default()
                }));
            }
            let reason = str_of(choice, "finish_reason");
            if !reason.is_empty() {
                self.finished_choices.insert(index);
                out.push(delta(pb::ChatDelta {
                    choice_index,
                    finish_reason: finish_reason(reason) as i32,
                    native_finish_reason: reason.to_owned(),
                    ..Default::default()
                }));
            }
        }
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(usage_of(usage));
        }
        Ok(())
    }

    fn end(&mut self, out: &mut Vec<StreamEvent>) {
        if self.done {
            return;
        }
        self.done = true;
        if let Some(usage) = self.usage.take() {
            out.push(event(Event::Usage(usage)));
        }
        out.push(event(Event::End(pb::StreamEnd::default())));
    }
}

/// OpenAI-format usage to canonical (`prompt_tokens` already includes cached tokens). Cache
/// reads come as OpenAI's `prompt_tokens_details.cached_tokens`, or where compatible hosts
/// put them: DeepSeek's `prompt_cache_hit_tokens` (part of `prompt_tokens`, beside
/// `prompt_cache_miss_tokens`), Moonshot's top-level `cached_tokens`. Cache writes come as
/// `prompt_tokens_details.cache_write_tokens` where a host reports them.
pub(crate) fn usage_of(usage: &Value) -> pb::Usage {
    let input = u64_of(usage, "prompt_tokens");
    let output = u64_of(usage, "completion_tokens");
    let at = |pointer: &str| usage.pointer(pointer).and_then(Value::as_u64);
    pb::Usage {
        input_tokens: input,
        output_tokens: output,
        cache_read_tokens: at("/prompt_tokens_details/cached_tokens")
            .or_else(|| at("/prompt_cache_hit_tokens"))
            .or_else(|| at("/cached_tokens"))
            .unwrap_or_default(),
        cache_write_tokens: at("/prompt_tokens_details/cache_write_tokens").unwrap_or_default(),
        reasoning_tokens: at("/completion_tokens_details/reasoning_tokens").unwrap_or_default(),
        total_tokens: at("/total_tokens").unwrap_or(input + output),
        cache_write_1h_tokens: 0,
    }
}

impl SseEvents for OpenAiEvents {
    const PROVIDER: &'static str = PROVIDER;

    fn on_event(&mut self, sse: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), WireError> {
        self.handle(sse, out)
    }

    fn closed(&self) -> bool {
        self.done
    }

    fn on_end(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), WireError> {
        if self.done {
            return Ok(());
        }
        // Some compatible hosts close without `[DONE]`; a finished choice makes that a
        // complete answer, anything less is a cut-off stream.
        if self.finished_choices.is_empty() {
            return Err(WireError::truncated(PROVIDER, "[DONE]"));
        }
        self.end(out);
        Ok(())
    }
}
