"""The Anthropic SDK's beta Messages as Claude Code uses them, on every model family.

Adaptive thinking, `output_config.effort`, a `system` message in the middle of `messages`
(beta `mid-conversation-system-2026-04-07`), a `context_management` edit and `?beta=true` on
the path, sent to an Anthropic, an OpenAI, a Gemini and a Mistral model through
`keyroute dev --mock`. The mock echoes the reasoning controls each provider received, in its
own terms, and the mid-conversation instruction, so each test sees what arrived:

- Anthropic: `thinking=adaptive effort=high`, the system message kept in place;
- OpenAI `o4-mini`: `reasoning_effort=high` (gpt-4o takes no reasoning effort, so none is sent);
- Gemini 2.5 Flash: `thinkingBudget=24576` (effort high), thoughts included;
- Mistral: `reasoning_effort=high`.
"""

from __future__ import annotations

import anthropic
import pytest

BETAS = ["claude-code-20250219", "mid-conversation-system-2026-04-07", "context-management-2025-06-27"]
INSTRUCTION = "Answer in French from now on."

FAMILIES = [
    ("claude-sonnet-4-6", "anthropic", "thinking=adaptive effort=high"),
    ("gpt-4o", "openai", None),
    ("o4-mini", "openai", "reasoning_effort=high"),
    ("gemini-2.5-flash", "google", "thinkingBudget=24576"),
    ("mistral-large-latest", "mistral", "reasoning_effort=high"),
]


def request(model: str) -> dict:
    return dict(
        model=model,
        max_tokens=4096,
        betas=BETAS,
        thinking={"type": "adaptive"},
        output_config={"effort": "high"},
        context_management={"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        system=[{"type": "text", "text": "You are a coding agent."}],
        messages=[
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": [{"type": "text", "text": "a first answer"}]},
            {"role": "system", "content": INSTRUCTION},
            {"role": "user", "content": [{"type": "text", "text": "second question"}]},
        ],
        extra_query={"beta": "true"},
    )


def check_text(text: str, reasoning: str | None) -> None:
    assert text.startswith("echo: "), text
    assert "second question" in text, text
    assert f"[system: {INSTRUCTION}]" in text, text
    if reasoning is None:
        assert "[reasoning:" not in text, text
    else:
        assert f"[reasoning: {reasoning}]" in text, text


@pytest.mark.parametrize(("model", "provider", "reasoning"), FAMILIES)
def test_claude_code_request_on_every_family(
    anthropic_client: anthropic.Anthropic, model: str, provider: str, reasoning: str | None
) -> None:
    raw = anthropic_client.beta.messages.with_raw_response.create(**request(model))
    assert raw.headers.get("x-keyroute-provider") == provider
    message = raw.parse()
    assert message.stop_reason == "end_turn"
    text_blocks = [block for block in message.content if block.type == "text"]
    assert len(text_blocks) == 1, message.content
    check_text(text_blocks[0].text, reasoning)


@pytest.mark.parametrize(("model", "provider", "reasoning"), FAMILIES)
def test_claude_code_request_streamed_on_every_family(
    anthropic_client: anthropic.Anthropic, model: str, provider: str, reasoning: str | None
) -> None:
    with anthropic_client.beta.messages.stream(**request(model)) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
        assert stream.response.headers.get("x-keyroute-provider") == provider
    check_text(text, reasoning)
    assert final.stop_reason == "end_turn"


def test_empty_signed_thinking_goes_back_to_anthropic_unchanged(anthropic_client: anthropic.Anthropic) -> None:
    first = anthropic_client.beta.messages.create(**request("claude-sonnet-4-6"))
    thinking = [block for block in first.content if block.type == "thinking"]
    assert len(thinking) == 1 and thinking[0].signature
    follow_up = request("claude-sonnet-4-6")
    follow_up["messages"] = follow_up["messages"] + [
        {
            "role": "assistant",
            "content": [
                # Thinking shown as omitted: empty, only the signature, sent back as it came.
                {"type": "thinking", "thinking": "", "signature": thinking[0].signature},
                {"type": "text", "text": "a second answer"},
            ],
        },
        {"role": "user", "content": "third question"},
    ]
    second = anthropic_client.beta.messages.create(**follow_up)
    text = next(block.text for block in second.content if block.type == "text")
    assert f"[signatures: {thinking[0].signature}]" in text, text
