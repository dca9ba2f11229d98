//! What the mock answers: deterministic, and built to prove what it received. A request
//! offering tools (and not just answering one) gets a call to the first tool; anything else
//! gets text that echoes the last user message and lists the images, tool results and
//! reasoning signatures the request carried.

use keyroute_wire::canonical::pb::{self, complete_stream_response::Event};
use keyroute_wire::canonical::{Accumulator, StreamEvent, delta, event};

use crate::json_answer::{self, JsonAsk};

/// A prompt whose last user text holds this word is answered as if part of it came from the
/// provider's prompt cache: see the crate documentation for the figures.
pub const MOCK_CACHE_WORD: &str = "mock-cache";

/// Input tokens a `mock-cache` answer reports as read from the cache (part of the input).
pub const CACHE_READ_TOKENS: u64 = 4;

/// Input tokens a `mock-cache` answer reports as written to the cache (part of the input),
/// where the provider reports writes (not Gemini and Vertex Gemini).
pub const CACHE_WRITE_TOKENS: u64 = 2;

/// Of [`CACHE_WRITE_TOKENS`], those written with a 1-hour lifetime, when the request asked
/// for one (a cache hint with `ttl: "1h"`) and the provider tells lifetimes apart (Anthropic,
/// Bedrock); otherwise 0.
pub const CACHE_WRITE_1H_TOKENS: u64 = 1;

/// Output tokens spent on reasoning (part of the output) when the request turned thinking
/// on: the three words of the mock's thinking text.
pub const REASONING_TOKENS: u64 = 3;

/// What the mock read from a request, whatever its format.
#[derive(Debug, Clone, Default)]
pub struct Input {
    pub model: String,
    pub stream: bool,
    /// OpenAI `stream_options.include_usage`.
    pub include_usage: bool,
    pub last_user_text: String,
    pub images: usize,
    pub tool_results: Vec<String>,
    pub signatures: Vec<String>,
    pub tools: Vec<String>,
    pub tool_choice_none: bool,
    /// Whether the last message was tool results (then the model answers in text).
    pub answering_tool: bool,
    /// Whether the request turned thinking on.
    pub thinking: bool,
    /// The reasoning controls the request set beyond a plain thinking budget, as the
    /// provider's own fields (`reasoning_effort=high`, `thinkingLevel=low`...), echoed.
    pub reasoning: Vec<String>,
    /// Instructions given after the conversation began, echoed.
    pub system_notes: Vec<String>,
    /// All text the request carried, for the token count.
    pub words: u64,
    /// JSON mode or a JSON schema, when the request asked for a JSON answer.
    pub json: Option<JsonAsk>,
    /// Whether the request carried a cache hint with a 1-hour lifetime.
    pub cache_ttl_1h: bool,
}

/// Prefix of every signature the mock issues; histories must bring them back unchanged.
pub const SIGNATURE_PREFIX: &str = "mock-signature-";

/// The mock's answer to one request.
#[derive(Debug, Clone)]
pub struct Answer {
    pub id: String,
    pub model: String,
    pub thinking: Option<(String, String)>,
    pub text: String,
    pub tool_call: Option<(String, String, String)>,
    /// Input tokens, cache reads and writes included.
    pub input_tokens: u64,
    /// Output tokens, reasoning included.
    pub output_tokens: u64,
    /// Of the input, read from the cache (`mock-cache`).
    pub cache_read_tokens: u64,
    /// Of the input, written to the cache (`mock-cache`).
    pub cache_write_tokens: u64,
    /// Of the writes, with a 1-hour lifetime.
    pub cache_write_1h_tokens: u64,
    /// Of the output, spent thinking.
    pub reasoning_tokens: u64,
}

impl Answer {
    pub fn for_input(input: &Input, id: u64) -> Self {
        let thinking = input.thinking.then(|| {
            (
                "Thinking about it.".to_owned(),
                format!("{SIGNATURE_PREFIX}{id}"),
            )
        });
        let (text, tool_call) =
            if !input.tools.is_empty() && !input.tool_choice_none && !input.answering_tool {
                let arguments = serde_json::json!({ "query": input.last_user_text }).to_string();
                (
                    String::new(),
                    Some((format!("call_mock_{id}"), input.tools[0].clone(), arguments)),
                )
            } else if let Some(ask) = &input.json {
                (json_answer::answer(ask, &input.last_user_text), None)
            } else {
                let mut text = format!("echo: {}", input.last_user_text);
                if input.images > 0 {
                    text.push_str(&format!(" [images: {}]", input.images));
                }
                if !input.tool_results.is_empty() {
                    text.push_str(&format!(
                        " [tool results: {}]",
                        input.tool_results.join("; ")
                    ));
                }
                if !input.signatures.is_empty() {
                    text.push_str(&format!(" [signatures: {}]", input.signatures.join(", ")));
                }
                if !input.reasoning.is_empty() {
                    text.push_str(&format!(" [reasoning: {}]", input.reasoning.join(" ")));
                }
                if !input.system_notes.is_empty() {
                    text.push_str(&format!(" [system: {}]", input.system_notes.join("; ")));
                }
                (text, None)
            };
        let output_words =
            text.split_whitespace().count() as u64 + tool_call.as_ref().map_or(0, |_| 5);
        let cached = input.last_user_text.contains(MOCK_CACHE_WORD);
        let (cache_read_tokens, cache_write_tokens) = match cached {
            true => (CACHE_READ_TOKENS, CACHE_WRITE_TOKENS),
            false => (0, 0),
        };
        let reasoning_tokens = if thinking.is_some() {
            REASONING_TOKENS
        } else {
            0
        };
        Self {
            id: format!("mock-{id}"),
            model: input.model.clone(),
            thinking,
            text,
            tool_call,
            input_tokens: input
                .words
                .max(1)
                .max(cache_read_tokens + cache_write_tokens),
            output_tokens: output_words.max(1) + reasoning_tokens,
            cache_read_tokens,
            cache_write_tokens,
            cache_write_1h_tokens: match cached && input.cache_ttl_1h {
                true => CACHE_WRITE_1H_TOKENS,
                false => 0,
            },
            reasoning_tokens,
        }
    }

    pub fn finish(&self) -> pb::FinishReason {
        if self.tool_call.is_some() {
            pb::FinishReason::ToolCalls
        } else {
            pb::FinishReason::Stop
        }
    }

    /// The answer's canonical usage; each provider reports it by its own rule.
    pub fn usage(&self) -> pb::Usage {
        pb::Usage {
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cache_read_tokens: self.cache_read_tokens,
            cache_write_tokens: self.cache_write_tokens,
            reasoning_tokens: self.reasoning_tokens,
            total_tokens: self.input_tokens + self.output_tokens,
            cache_write_1h_tokens: self.cache_write_1h_tokens,
        }
    }

    /// What Anthropic's `message_start` knows: the input side, and one output token.
    pub fn opening_usage(&self) -> pb::Usage {
        pb::Usage {
            output_tokens: 1,
            reasoning_tokens: 0,
            total_tokens: self.input_tokens + 1,
            ..self.usage()
        }
    }

    /// Text in a few pieces, as a stream delivers it.
    pub fn text_pieces(&self) -> Vec<String> {
        let words: Vec<&str> = self.text.split_inclusive(' ').collect();
        words
            .chunks(3)
            .map(|chunk| chunk.concat())
            .filter(|piece| !piece.is_empty())
            .collect()
    }

    /// The answer as canonical stream events, for the formats that render from them.
    pub fn events(&self) -> Vec<StreamEvent> {
        let mut events = vec![
            event(Event::Start(pb::StreamStart {
                id: self.id.clone(),
                model: self.model.clone(),
                created: 1_700_000_000,
            })),
            delta(pb::ChatDelta {
                role: pb::Role::Assistant as i32,
                ..Default::default()
            }),
        ];
        if let Some((text, signature)) = &self.thinking {
            events.push(delta(pb::ChatDelta {
                reasoning: text.clone(),
                ..Default::default()
            }));
            events.push(delta(pb::ChatDelta {
                reasoning_signature: signature.clone(),
                ..Default::default()
            }));
        }
        for piece in self.text_pieces() {
            events.push(delta(pb::ChatDelta {
                text: piece,
                ..Default::default()
            }));
        }
        if let Some((id, name, arguments)) = &self.tool_call {
            let (first, rest) = arguments.split_at(arguments.len() / 2);
            events.push(delta(pb::ChatDelta {
                tool_call: Some(pb::ToolCallDelta {
                    index: 0,
                    id: id.clone(),
                    name: name.clone(),
                    arguments_fragment: first.to_owned(),
                }),
                ..Default::default()
            }));
            events.push(delta(pb::ChatDelta {
                tool_call: Some(pb::ToolCallDelta {
                    index: 0,
                    arguments_fragment: rest.to_owned(),
                    ..Default::default()
                }),
                ..Default::default()
            }));
        }
        events.push(delta(pb::ChatDelta {
            finish_reason: self.finish() as i32,
            ..Default::default()
        }));
        events.push(event(Event::Usage(self.usage())));
        events.push(event(Event::End(pb::StreamEnd::default())));
        events
    }

    /// The answer as one canonical response.
    pub fn response(&self) -> pb::ChatResponse {
        let mut accumulator = Accumulator::new();
        for event in self.events() {
            accumulator.push(&event);
        }
        accumulator.finish()
    }
}

/// Counts words for a token estimate.
pub fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// What a canonical request carries (for the formats the wire crate can parse as a client).
pub fn from_canonical(request: &pb::ChatRequest, stream: bool, include_usage: bool) -> Input {
    use pb::content_part::Part;
    let mut input = Input {
        model: request.model.clone(),
        stream,
        include_usage,
        ..Input::default()
    };
    let text_of = |parts: &[pb::ContentPart]| -> String {
        parts
            .iter()
            .filter_map(|p| match &p.part {
                Some(Part::Text(t)) => Some(t.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    for message in &request.messages {
        for part in &message.content {
            if !part.thought_signature.is_empty() {
                input.signatures.push(part.thought_signature.clone());
            }
            match &part.part {
                Some(Part::Text(text)) => input.words += words(text),
                Some(Part::Image(_)) => input.images += 1,
                Some(Part::ToolResult(result)) => {
                    let text = text_of(&result.content);
                    input.words += words(&text);
                    input.tool_results.push(text);
                }
                Some(Part::Reasoning(reasoning)) if !reasoning.signature.is_empty() => {
                    input.signatures.push(reasoning.signature.clone())
                }
                _ => {}
            }
        }
    }
    if let Some(last) = request
        .messages
        .iter()
        .rev()
        .find(|m| m.role == pb::Role::User as i32)
    {
        input.last_user_text = text_of(&last.content);
    }
    input.answering_tool = request
        .messages
        .last()
        .is_some_and(|m| m.role == pb::Role::Tool as i32);
    input.tools = request.tools.iter().map(|t| t.name.clone()).collect();
    input.tool_choice_none = request
        .tool_choice
        .as_ref()
        .is_some_and(|c| c.mode() == pb::ToolChoiceMode::None);
    input.thinking = request.reasoning.as_ref().is_some_and(|r| r.enabled);
    input
}

/// Reads, from a request body in any format, the reasoning controls and the mid-conversation
/// instructions it carried, for the answer to echo: OpenAI and Mistral `reasoning_effort`;
/// Anthropic adaptive `thinking` and `output_config.effort`; Gemini `thinkingLevel` and
/// `thinkingBudget`; Bedrock's `additionalModelRequestFields` (the same Anthropic fields,
/// Nova `reasoningConfig`, `reasoning_effort`). Instructions are `system` or `developer`
/// messages after the first other message, or user text between `<system>` lines (how
/// Gemini and Bedrock carry them).
pub fn echo_features(input: &mut Input, body: &serde_json::Value) {
    use serde_json::Value;
    let text_of = |value: &Value| -> String {
        match value {
            Value::String(text) => text.clone(),
            Value::Array(blocks) => blocks
                .iter()
                .filter_map(|b| b.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(" "),
            _ => String::new(),
        }
    };
    let mut seen = |label: &str, value: Option<&Value>| {
        let shown = match value {
            Some(Value::String(text)) => text.clone(),
            Some(Value::Number(number)) => number.to_string(),
            _ => return,
        };
        input.reasoning.push(format!("{label}={shown}"));
    };
    seen("reasoning_effort", body.get("reasoning_effort"));
    // The Responses API's own reasoning controls.
    seen("reasoning.effort", body.pointer("/reasoning/effort"));
    seen("reasoning.summary", body.pointer("/reasoning/summary"));
    for root in ["", "/additionalModelRequestFields"] {
        let at = |path: &str| body.pointer(&format!("{root}{path}"));
        if at("/thinking/type").and_then(Value::as_str) == Some("adaptive") {
            seen("thinking", at("/thinking/type"));
        }
        seen("effort", at("/output_config/effort"));
    }
    let additional = body.pointer("/additionalModelRequestFields");
    seen(
        "maxReasoningEffort",
        additional.and_then(|a| a.pointer("/reasoningConfig/maxReasoningEffort")),
    );
    seen(
        "reasoning_effort",
        additional.and_then(|a| a.get("reasoning_effort")),
    );
    let thinking = body.pointer("/generationConfig/thinkingConfig");
    seen(
        "thinkingLevel",
        thinking.and_then(|t| t.get("thinkingLevel")),
    );
    seen(
        "thinkingBudget",
        thinking.and_then(|t| t.get("thinkingBudget")),
    );
    let mut begun = false;
    for message in body
        .get("messages")
        .or_else(|| body.get("contents"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let role = message
            .get("role")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if matches!(role, "system" | "developer") {
            if begun {
                input
                    .system_notes
                    .push(text_of(message.get("content").unwrap_or(&Value::Null)));
            }
            continue;
        }
        begun = true;
        for block in message
            .get("content")
            .or_else(|| message.get("parts"))
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            if let Some(note) = block
                .get("text")
                .and_then(Value::as_str)
                .and_then(|text| text.strip_prefix("<system>\n"))
                .and_then(|text| text.strip_suffix("\n</system>"))
            {
                input.system_notes.push(note.to_owned());
            }
        }
    }
    input.json = json_answer::ask_of(body);
    input.cache_ttl_1h = has_hour_cache_hint(body);
}

/// Whether a request body carries a cache hint with a 1-hour lifetime: Anthropic
/// `cache_control: {"ttl": "1h"}` or Bedrock `cachePoint: {"ttl": "1h"}`, anywhere.
fn has_hour_cache_hint(body: &serde_json::Value) -> bool {
    use serde_json::Value;
    match body {
        Value::Object(map) => map.iter().any(|(key, value)| {
            (matches!(key.as_str(), "cache_control" | "cachePoint")
                && value.get("ttl").and_then(Value::as_str) == Some("1h"))
                || has_hour_cache_hint(value)
        }),
        Value::Array(items) => items.iter().any(has_hour_cache_hint),
        _ => false,
    }
}
