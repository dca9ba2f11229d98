//! A provider-neutral estimate of a request's input tokens, for token counting where no
//! provider counts exactly: about four characters of text per token, plus a few tokens of
//! framing per message and a fixed cost per image. Estimates, never billing.

use crate::canonical::pb::{self, content_part::Part};

/// Tokens charged for one image: the order of magnitude providers bill for a medium image.
const IMAGE_TOKENS: u64 = 800;
/// Framing per message (role markers and separators).
const MESSAGE_TOKENS: u64 = 4;

/// Tokens for `chars` characters of text: about four characters a token.
pub fn text_tokens(chars: usize) -> u64 {
    (chars as u64).div_ceil(4)
}

/// The estimated input tokens of `request`.
pub fn input_tokens(request: &pb::ChatRequest) -> u32 {
    let mut tokens: u64 = 3;
    for message in &request.messages {
        tokens += MESSAGE_TOKENS;
        for part in &message.content {
            tokens += match &part.part {
                Some(Part::Text(text)) => text_tokens(text.chars().count()),
                Some(Part::Image(_)) => IMAGE_TOKENS,
                Some(Part::ToolCall(call)) => {
                    text_tokens(call.name.len() + call.arguments_json.len()) + 3
                }
                Some(Part::ToolResult(result)) => {
                    result
                        .content
                        .iter()
                        .map(|inner| match &inner.part {
                            Some(Part::Text(text)) => text_tokens(text.chars().count()),
                            Some(Part::Image(_)) => IMAGE_TOKENS,
                            _ => 0,
                        })
                        .sum::<u64>()
                        + 3
                }
                Some(Part::Reasoning(reasoning)) => text_tokens(reasoning.text.chars().count()),
                None => 0,
            };
        }
    }
    for tool in &request.tools {
        tokens +=
            text_tokens(tool.name.len() + tool.description.len() + tool.parameters_json.len()) + 8;
    }
    if let Some(fim) = &request.fim {
        tokens += text_tokens(fim.prompt.chars().count() + fim.suffix.chars().count());
    }
    u32::try_from(tokens).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_grow_with_the_text_and_count_images() {
        let ask = |text: &str| {
            crate::openai::parse_request(
            serde_json::json!({ "model": "m", "messages": [{ "role": "user", "content": text }] })
                .to_string()
                .as_bytes(),
        )
        .unwrap()
        .request
        };
        let short = input_tokens(&ask("hello"));
        let long = input_tokens(&ask(&"word ".repeat(400)));
        assert_eq!(short, 3 + 4 + 2);
        assert_eq!(long, 3 + 4 + 500);
    }
}
