//! Decoding `streamGenerateContent?alt=sse`: every event is a whole response whose text
//! parts are increments and whose function calls arrive complete. There is no end marker;
//! the last chunk carries `finishReason`, and `usageMetadata` is taken from the last chunk.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::{PROVIDER, finish_reason, status_of};
use crate::canonical::pb::{self, complete_stream_response::Event};
use crate::canonical::{StreamEvent, delta, error_event, event};
use crate::error::WireError;
use crate::json::{str_of, u64_of};
use crate::sse::{SseEvent, SseEvents, SseStream};

/// Decodes Gemini streaming chunks into canonical deltas.
pub type GeminiStreamDecoder = SseStream<GeminiEvents>;

/// Reads Gemini chunks; the SSE layer is shared.
#[derive(Debug, Default)]
pub struct GeminiEvents {
    started: bool,
    opened: HashSet<u32>,
    /// Per candidate, how many function calls so far (their canonical indexes).
    calls: HashMap<u32, u32>,
    finished: bool,
    failed: bool,
    usage: Option<pb::Usage>,
}

impl GeminiEvents {
    fn handle(&mut self, sse: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), WireError> {
        let chunk: Value = serde_json::from_str(&sse.data).map_err(|error| {
            WireError::malformed(PROVIDER, format!("chunk is not JSON: {error}"))
        })?;
        if let Some(error) = chunk.get("error") {
            let status = status_of(str_of(error, "status"), u64_of(error, "code"));
            let classified = WireError::from_status(
                PROVIDER,
                status,
                str_of(error, "status"),
                str_of(error, "message"),
            );
            out.push(error_event(classified));
            self.failed = true;
            return Ok(());
        }
        if !self.started {
            self.started = true;
            out.push(event(Event::Start(pb::StreamStart {
                id: str_of(&chunk, "responseId").to_owned(),
                model: str_of(&chunk, "modelVersion").to_owned(),
                created: 0,
            })));
        }
        if let Some(usage) = chunk.get("usageMetadata") {
            self.usage = Some(usage_of(usage));
        }
        let candidates = chunk
            .get("candidates")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        if candidates.is_empty()
            && let Some(reason) = chunk
                .pointer("/promptFeedback/blockReason")
                .and_then(Value::as_str)
        {
            self.finished = true;
            out.push(delta(pb::ChatDelta {
                role: pb::Role::Assistant as i32,
                finish_reason: pb::FinishReason::ContentFilter as i32,
                native_finish_reason: reason.to_owned(),
                ..Default::default()
            }));
        }
        for candidate in candidates {
            let choice_index = u32::try_from(u64_of(candidate, "index"))
                .map_err(|_| WireError::malformed(PROVIDER, "candidate index out of range"))?;
            if self.opened.insert(choice_index) {
                out.push(delta(pb::ChatDelta {
                    choice_index,
                    role: pb::Role::Assistant as i32,
                    ..Default::default()
                }));
            }
            let parts = candidate
                .pointer("/content/parts")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            for part in parts {
                let signature = str_of(part, "thoughtSignature").to_owned();
                let mut delta_out = pb::ChatDelta {
                    choice_index,
                    thought_signature: signature,
                    ..Default::default()
                };
                if let Some(call) = part.get("functionCall") {
                    let calls = self.calls.entry(choice_index).or_default();
                    let index = *calls;
                    *calls += 1;
                    let id = match str_of(call, "id") {
                        // The Gemini API often omits ids: synthesize stable ones.
                        "" => format!("call_{choice_index}_{index}"),
                        id => id.to_owned(),
                    };
                    let args = call
                        .get("args")
                        .cloned()
                        .unwrap_or_else(|| Value::Object(Default::default()));
                    delta_out.tool_call = Some(pb::ToolCallDelta {
                        index,
                        id,
                        name: str_of(call, "name").to_owned(),
                        arguments_fragment: args.to_string(),
                    });
                } else if part
                    .get("thought")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
                {
                    delta_out.reasoning = str_of(part, "text").to_owned();
                } else {
                    delta_out.text = str_of(part, "text").to_owned();
                }
                let empty = delta_out.tool_call.is_none()
                    && delta_out.text.is_empty()
                    && delta_out.reasoning.is_empty()
                    && delta_out.thought_signature.is_empty();
                if !empty {
                    out.push(delta(delta_out));
                }
            }
            let reason = str_of(candidate, "finishReason");
            if !reason.is_empty() {
                self.finished = true;
                let mut canonical = finish_reason(reason);
                if canonical == pb::FinishReason::Stop
                    && self.calls.get(&choice_index).copied().unwrap_or(0) > 0
                {
                    canonical = pb::FinishReason::ToolCalls;
                }
                out.push(delta(pb::ChatDelta {
                    choice_index,
                    finish_reason: canonical as i32,
                    native_finish_reason: reason.to_owned(),
                    ..Default::default()
                }));
            }
        }
        Ok(())
    }
}

/// Gemini usage to canonical: thinking tokens are billed as output, and also counted apart.
pub(crate) fn usage_of(usage: &Value) -> pb::Usage {
    let input = u64_of(usage, "promptTokenCount");
    let thoughts = u64_of(usage, "thoughtsTokenCount");
    let output = u64_of(usage, "candidatesTokenCount") + thoughts;
    pb::Usage {
        input_tokens: input,
        output_tokens: output,
        cache_read_tokens: u64_of(usage, "cachedContentTokenCount"),
        cache_write_tokens: 0,
        reasoning_tokens: thoughts,
        total_tokens: usage
            .get("totalTokenCount")
            .and_then(Value::as_u64)
            .unwrap_or(input + output),
    }
}

impl SseEvents for GeminiEvents {
    const PROVIDER: &'static str = PROVIDER;

    fn on_event(&mut self, sse: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), WireError> {
        self.handle(sse, out)
    }

    fn closed(&self) -> bool {
        self.failed
    }

    fn on_end(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), WireError> {
        if self.failed {
            return Ok(());
        }
        if !self.finished {
            return Err(WireError::truncated(PROVIDER, "a finishReason"));
        }
        if let Some(usage) = self.usage.take() {
            out.push(event(Event::Usage(usage)));
        }
        out.push(event(Event::End(pb::StreamEnd::default())));
        Ok(())
    }
}
