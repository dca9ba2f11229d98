//! Decoding a Chat Completions stream: `data:` chunks until `data: [DONE]`, choices
//! interleaved by index, tool calls accumulated by index, usage in a last chunk whose
//! `choices` is empty, and errors as a top-level `error` object mid-stream.

use std::collections::HashSet;

use super::shapes::Chunk;
use super::{PROVIDER, finish_reason};
use crate::canonical::pb::{self, complete_stream_response::Event};
use crate::canonical::{StreamEvent, delta, error_event, event};
use crate::error::WireError;
use crate::lenient::Obj;
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
        let chunk: Obj<Chunk<'_>> = serde_json::from_str(data).map_err(|error| {
            WireError::malformed(PROVIDER, format!("chunk is not JSON: {error}"))
        })?;
        if chunk.error.is_present() {
            let error = &chunk.error;
            let status = error
                .code
                .0
                .filter(|c| (400..600).contains(c))
                .unwrap_or(500) as u16;
            let classified = WireError::from_status(
                PROVIDER,
                status,
                error.kind.as_str(),
                error.message.as_str(),
            );
            out.push(error_event(classified));
            self.done = true;
            return Ok(());
        }
        if !self.started {
            self.started = true;
            out.push(event(Event::Start(pb::StreamStart {
                id: chunk.id.as_str().to_owned(),
                model: chunk.model.as_str().to_owned(),
                created: chunk.created.value(),
            })));
        }
        for choice in chunk.choices.items() {
            let index = choice.index.value();
            let choice_index = u32::try_from(index)
                .map_err(|_| WireError::malformed(PROVIDER, "choice index out of range"))?;
            let inner = &choice.delta;
            let role = match inner.role.as_str() {
                "" => 0,
                _ => pb::Role::Assistant as i32,
            };
            let text = inner.content.as_str();
            // A refusal stays a refusal: OpenAI clients read it apart from the content.
            let refusal = inner.refusal.as_str();
            let reasoning = match inner.reasoning_content.as_str() {
                "" => inner.reasoning.as_str(),
                value => value,
            };
            if role != 0 || !text.is_empty() || !reasoning.is_empty() || !refusal.is_empty() {
                out.push(delta(pb::ChatDelta {
                    choice_index,
                    role,
                    text: text.to_owned(),
                    reasoning: reasoning.to_owned(),
                    refusal: refusal.to_owned(),
                    ..Default::default()
                }));
            }
            for call in inner.tool_calls.items() {
                let function = &call.function;
                let tool_index = u32::try_from(call.index.value())
                    .map_err(|_| WireError::malformed(PROVIDER, "tool call index out of range"))?;
                out.push(delta(pb::ChatDelta {
                    choice_index,
                    tool_call: Some(pb::ToolCallDelta {
                        index: tool_index,
                        id: call.id.as_str().to_owned(),
                        name: function.name.as_str().to_owned(),
                        arguments_fragment: function.arguments.as_str().to_owned(),
                    }),
                    ..Default::default()
                }));
            }
            let reason = choice.finish_reason.as_str();
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
        if let Some(usage) = chunk.usage.object() {
            self.usage = Some(usage.canonical());
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
