//! Decoding `streamGenerateContent?alt=sse`: every event is a whole response whose text
//! parts are increments and whose function calls arrive complete. There is no end marker;
//! the last chunk carries `finishReason`, and `usageMetadata` is taken from the last chunk.
//!
//! With `streamFunctionCallArguments` (Vertex), a call arrives in pieces instead: a part
//! with its `name` and `willContinue: true`, then nameless parts whose `partialArgs` carry
//! typed values at `jsonPath`s (strings appended while `willContinue`, numbers, booleans
//! and nulls set), then an empty `functionCall` that closes it. They become one call whose
//! argument fragments are the JSON text, written as the values arrive; a call still open
//! at `finishReason` (the closing part never came) is closed there.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::shapes::Answer;
use super::{PROVIDER, finish_reason, status_of};
use crate::canonical::pb::{self, complete_stream_response::Event};
use crate::canonical::{StreamEvent, delta, error_event, event};
use crate::error::WireError;
use crate::json::str_of;
use crate::lenient::Obj;
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
    /// Per candidate, the streamed call still open: its index and its arguments so far.
    streaming: HashMap<u32, (u32, ArgsWriter)>,
    finished: bool,
    failed: bool,
    usage: Option<pb::Usage>,
}

impl GeminiEvents {
    /// Closes the candidate's streamed call, if one is open: its last fragment.
    fn close_call(&mut self, choice_index: u32, out: &mut Vec<StreamEvent>) {
        if let Some((index, writer)) = self.streaming.remove(&choice_index) {
            let mut fragment = String::new();
            writer.finish(&mut fragment);
            out.push(delta(pb::ChatDelta {
                choice_index,
                tool_call: Some(pb::ToolCallDelta {
                    index,
                    arguments_fragment: fragment,
                    ..Default::default()
                }),
                ..Default::default()
            }));
        }
    }

    fn handle(&mut self, sse: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), WireError> {
        let chunk: Obj<Answer<'_>> = serde_json::from_str(&sse.data).map_err(|error| {
            WireError::malformed(PROVIDER, format!("chunk is not JSON: {error}"))
        })?;
        if chunk.error.is_present() {
            let error = &chunk.error;
            let status = status_of(error.status.as_str(), error.code.value());
            let classified = WireError::from_status(
                PROVIDER,
                status,
                error.status.as_str(),
                error.message.as_str(),
            );
            out.push(error_event(classified));
            self.failed = true;
            return Ok(());
        }
        if !self.started {
            self.started = true;
            out.push(event(Event::Start(pb::StreamStart {
                id: chunk.response_id.as_str().to_owned(),
                model: chunk.model_version.as_str().to_owned(),
                created: 0,
            })));
        }
        if chunk.usage.is_present() {
            self.usage = Some(chunk.usage.canonical());
        }
        let candidates = chunk.candidates.items();
        if candidates.is_empty()
            && let Some(reason) = chunk.prompt_feedback.block_reason.get()
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
            let choice_index = u32::try_from(candidate.index.value())
                .map_err(|_| WireError::malformed(PROVIDER, "candidate index out of range"))?;
            if self.opened.insert(choice_index) {
                out.push(delta(pb::ChatDelta {
                    choice_index,
                    role: pb::Role::Assistant as i32,
                    ..Default::default()
                }));
            }
            for part in candidate.content.parts.items() {
                let signature = part.thought_signature.as_str().to_owned();
                let mut delta_out = pb::ChatDelta {
                    choice_index,
                    thought_signature: signature,
                    ..Default::default()
                };
                if let Some(call) = &part.function_call.0 {
                    let name = str_of(call, "name");
                    let more = call
                        .get("willContinue")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    let partial = call.get("partialArgs").and_then(Value::as_array);
                    let whole = call.get("args").is_some() || !(more || partial.is_some());
                    if name.is_empty() && self.streaming.contains_key(&choice_index) {
                        // The next piece of the open call, or its end.
                        let mut fragment = String::new();
                        let mut index = 0;
                        if let Some((open, writer)) = self.streaming.get_mut(&choice_index) {
                            index = *open;
                            for arg in partial.map(Vec::as_slice).unwrap_or_default() {
                                writer.push(arg, &mut fragment);
                            }
                        }
                        if !more && let Some((_, writer)) = self.streaming.remove(&choice_index) {
                            writer.finish(&mut fragment);
                        }
                        if !fragment.is_empty() {
                            delta_out.tool_call = Some(pb::ToolCallDelta {
                                index,
                                arguments_fragment: fragment,
                                ..Default::default()
                            });
                        }
                        let empty =
                            delta_out.tool_call.is_none() && delta_out.thought_signature.is_empty();
                        if !empty {
                            out.push(delta(delta_out));
                        }
                        continue;
                    }
                    self.close_call(choice_index, out);
                    if name.is_empty() && call.get("args").is_none() {
                        // Nothing to call: a stray closing part.
                        if !delta_out.thought_signature.is_empty() {
                            out.push(delta(delta_out));
                        }
                        continue;
                    }
                    let calls = self.calls.entry(choice_index).or_default();
                    let index = *calls;
                    *calls += 1;
                    let id = match str_of(call, "id") {
                        // The Gemini API often omits ids: synthesize stable ones.
                        "" => format!("call_{choice_index}_{index}"),
                        id => id.to_owned(),
                    };
                    let arguments_fragment = if whole {
                        call.get("args")
                            .cloned()
                            .unwrap_or_else(|| Value::Object(Default::default()))
                            .to_string()
                    } else {
                        let mut fragment = String::new();
                        let mut writer = ArgsWriter::start(&mut fragment);
                        for arg in partial.map(Vec::as_slice).unwrap_or_default() {
                            writer.push(arg, &mut fragment);
                        }
                        if more {
                            self.streaming.insert(choice_index, (index, writer));
                        } else {
                            writer.finish(&mut fragment);
                        }
                        fragment
                    };
                    delta_out.tool_call = Some(pb::ToolCallDelta {
                        index,
                        id,
                        name: name.to_owned(),
                        arguments_fragment,
                    });
                } else if part.thought.is_true() {
                    delta_out.reasoning = part.text.as_str().to_owned();
                } else {
                    delta_out.text = part.text.as_str().to_owned();
                }
                let empty = delta_out.tool_call.is_none()
                    && delta_out.text.is_empty()
                    && delta_out.reasoning.is_empty()
                    && delta_out.thought_signature.is_empty();
                if !empty {
                    out.push(delta(delta_out));
                }
            }
            let reason = candidate.finish_reason.as_str();
            if !reason.is_empty() {
                self.close_call(choice_index, out);
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
        let mut open: Vec<u32> = self.streaming.keys().copied().collect();
        open.sort_unstable();
        for choice_index in open {
            self.close_call(choice_index, out);
        }
        if let Some(usage) = self.usage.take() {
            out.push(event(Event::Usage(usage)));
        }
        out.push(event(Event::End(pb::StreamEnd::default())));
        Ok(())
    }
}

/// One step of a `jsonPath`: an object member or an array element.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(u64),
}

/// Parses the RFC 9535 paths Gemini sends (`$.a.b[0]['c']`); `None` if it is not one.
fn parse_path(path: &str) -> Option<Vec<Step>> {
    let mut rest = path.strip_prefix('$')?;
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            if end == 0 {
                return None;
            }
            steps.push(Step::Key(after[..end].to_owned()));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let quote = after.chars().next()?;
            if quote == '\'' || quote == '"' {
                let mut name = String::new();
                let mut chars = after[1..].char_indices();
                let mut close = None;
                while let Some((at, c)) = chars.next() {
                    match c {
                        '\\' => name.push(chars.next()?.1),
                        c if c == quote => {
                            close = Some(at + 1);
                            break;
                        }
                        c => name.push(c),
                    }
                }
                let after = after[1 + close?..].strip_prefix(']')?;
                steps.push(Step::Key(name));
                rest = after;
            } else {
                let end = after.find(']')?;
                steps.push(Step::Index(after[..end].trim().parse().ok()?));
                rest = &after[end + 1..];
            }
        } else {
            return None;
        }
    }
    Some(steps)
}

/// An open container of the arguments being written.
#[derive(Debug)]
struct Frame {
    /// The step that led into it (none for the root object).
    step: Option<Step>,
    array: bool,
    children: u64,
}

/// Writes a call's streamed `partialArgs` as JSON text, fragment by fragment: each value
/// is written where its `jsonPath` puts it, containers opened and closed as the paths move
/// on. Values arrive in document order, so nothing is buffered beyond the open path.
#[derive(Debug, Default)]
struct ArgsWriter {
    frames: Vec<Frame>,
    /// The path of the string still being appended to (`willContinue`).
    open_string: Option<Vec<Step>>,
}

impl ArgsWriter {
    fn start(out: &mut String) -> Self {
        out.push('{');
        Self {
            frames: vec![Frame {
                step: None,
                array: false,
                children: 0,
            }],
            open_string: None,
        }
    }

    /// Writes one `partialArgs` item.
    fn push(&mut self, arg: &Value, out: &mut String) {
        let Some(path) = parse_path(str_of(arg, "jsonPath")) else {
            return;
        };
        let Some((leaf, parent)) = path.split_last() else {
            return;
        };
        let more = arg
            .get("willContinue")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let string = arg.get("stringValue").and_then(Value::as_str);
        if let Some(open) = &self.open_string {
            if *open == path
                && let Some(piece) = string
            {
                push_escaped(piece, out);
                if !more {
                    out.push('"');
                    self.open_string = None;
                }
                return;
            }
            out.push('"');
            self.open_string = None;
        }
        let value = if let Some(piece) = string {
            let mut text = String::from('"');
            push_escaped(piece, &mut text);
            text
        } else if let Some(number) = arg.get("numberValue").and_then(Value::as_f64) {
            number_text(number)
        } else if let Some(flag) = arg.get("boolValue").and_then(Value::as_bool) {
            flag.to_string()
        } else if arg.get("nullValue").is_some() {
            "null".to_owned()
        } else {
            return;
        };
        // Close what the path has left, then open what it enters.
        let common = self.frames[1..]
            .iter()
            .zip(parent)
            .take_while(|(frame, step)| frame.step.as_ref() == Some(*step))
            .count();
        while self.frames.len() > common + 1 {
            self.close_frame(out);
        }
        for (at, step) in parent.iter().enumerate().skip(common) {
            let array = matches!(parent.get(at + 1).unwrap_or(leaf), Step::Index(_));
            self.member(step, out);
            out.push(if array { '[' } else { '{' });
            self.frames.push(Frame {
                step: Some(step.clone()),
                array,
                children: 0,
            });
        }
        self.member(leaf, out);
        out.push_str(&value);
        if string.is_some() {
            if more {
                self.open_string = Some(path);
            } else {
                out.push('"');
            }
        }
    }

    /// Opens a member of the innermost container: separator, key or padding to the index.
    fn member(&mut self, step: &Step, out: &mut String) {
        let Some(frame) = self.frames.last_mut() else {
            return;
        };
        let separate = |frame: &mut Frame, out: &mut String| {
            if frame.children > 0 {
                out.push(',');
            }
            frame.children += 1;
        };
        match (step, frame.array) {
            (Step::Index(index), true) => {
                while frame.children < *index {
                    separate(frame, out);
                    out.push_str("null");
                }
                separate(frame, out);
            }
            (Step::Key(key), false) => {
                separate(frame, out);
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
            }
            // A path that disagrees with the container it names: keep the JSON valid.
            (Step::Index(index), false) => {
                separate(frame, out);
                out.push_str(&format!("\"{index}\":"));
            }
            (Step::Key(_), true) => separate(frame, out),
        }
    }

    fn close_frame(&mut self, out: &mut String) {
        if let Some(frame) = self.frames.pop() {
            out.push(if frame.array { ']' } else { '}' });
        }
    }

    /// Closes everything still open: the arguments are whole.
    fn finish(mut self, out: &mut String) {
        if self.open_string.take().is_some() {
            out.push('"');
        }
        while !self.frames.is_empty() {
            self.close_frame(out);
        }
    }
}

/// A JSON string's contents, escaped, without the quotes.
fn push_escaped(piece: &str, out: &mut String) {
    let quoted = Value::String(piece.to_owned()).to_string();
    out.push_str(&quoted[1..quoted.len() - 1]);
}

/// `numberValue` is a double: integral values are written as integers, as JSON has them.
fn number_text(number: f64) -> String {
    if number.fract() == 0.0 && number.abs() < 9_007_199_254_740_992.0 {
        format!("{}", number as i64)
    } else {
        serde_json::Number::from_f64(number)
            .map(|n| n.to_string())
            .unwrap_or_else(|| "null".to_owned())
    }
}

#[cfg(test)]
#[path = "legacy.rs"]
mod legacy;

#[cfg(test)]
#[path = "equivalence_tests.rs"]
mod equivalence_tests;
