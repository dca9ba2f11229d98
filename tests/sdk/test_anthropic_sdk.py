"""The official `anthropic` Python SDK works against keyroute unchanged.

Proves, through `client.messages` and `client.models` only, that the gateway's Anthropic
dialect is what the SDK expects: messages created plainly and streamed (the SDK's
`messages.stream()` helper, its text stream and `get_final_message()`), tool use and the
tool_result turn that answers it, extended thinking whose thinking block and signature the SDK
carries into the next turn (the mock provider refuses a signature it did not issue, so this
proves the gateway hands both directions through intact), the model list in Anthropic's
shape, and errors the SDK maps to its own exception types (401 -> AuthenticationError,
unknown model -> NotFoundError).
"""

from __future__ import annotations

import anthropic
import pytest

from support import ANTHROPIC_MODEL, SIGNATURE_PREFIX, THINKING_TEXT, png_base64, served_by, words


def test_messages_create(anthropic_client: anthropic.Anthropic) -> None:
    message = anthropic_client.messages.create(
        model=ANTHROPIC_MODEL,
        max_tokens=256,
        system="You are terse.",
        messages=[{"role": "user", "content": "hello from the anthropic sdk"}],
    )
    assert message.type == "message"
    assert message.role == "assistant"
    assert message.id
    assert message.model == ANTHROPIC_MODEL
    assert message.stop_reason == "end_turn"
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == "echo: hello from the anthropic sdk"
    assert message.usage.input_tokens == words("You are terse.", "hello from the anthropic sdk")
    assert message.usage.output_tokens == words("echo: hello from the anthropic sdk")


def test_messages_stream(anthropic_client: anthropic.Anthropic) -> None:
    prompt = "stream these words back to me please"
    with anthropic_client.messages.stream(
        model=ANTHROPIC_MODEL, max_tokens=256, messages=[{"role": "user", "content": prompt}]
    ) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) >= 2, "the answer arrives in several text deltas"
    assert "".join(pieces) == f"echo: {prompt}"
    assert final.stop_reason == "end_turn"
    assert [block.type for block in final.content] == ["text"]
    assert final.content[0].text == f"echo: {prompt}"
    assert final.usage.output_tokens == words(f"echo: {prompt}")


def test_messages_stream_events(anthropic_client: anthropic.Anthropic) -> None:
    with anthropic_client.messages.stream(
        model=ANTHROPIC_MODEL, max_tokens=256, messages=[{"role": "user", "content": "events please"}]
    ) as stream:
        kinds = [event.type for event in stream]
    assert kinds[0] == "message_start"
    assert kinds[-1] == "message_stop"
    assert "content_block_start" in kinds and "content_block_stop" in kinds and "message_delta" in kinds


WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a place.",
    "input_schema": {
        "type": "object",
        "properties": {"query": {"type": "string"}},
        "required": ["query"],
    },
}


def test_tool_use_and_tool_result_turn(anthropic_client: anthropic.Anthropic) -> None:
    question = "what is the weather in Paris"
    messages: list = [{"role": "user", "content": question}]
    first = anthropic_client.messages.create(
        model=ANTHROPIC_MODEL, max_tokens=256, messages=messages, tools=[WEATHER_TOOL]
    )
    assert first.stop_reason == "tool_use"
    uses = [block for block in first.content if block.type == "tool_use"]
    assert len(uses) == 1
    use = uses[0]
    assert use.id
    assert use.name == "get_weather"
    assert use.input == {"query": question}

    # The SDK's documented pattern: the assistant turn as returned, then a tool_result.
    messages.append({"role": "assistant", "content": first.content})
    messages.append(
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "18C and sunny"}]}
    )
    second = anthropic_client.messages.create(
        model=ANTHROPIC_MODEL, max_tokens=256, messages=messages, tools=[WEATHER_TOOL]
    )
    assert second.stop_reason == "end_turn"
    assert [block.type for block in second.content] == ["text"]
    assert second.content[0].text == f"echo: {question} [tool results: 18C and sunny]"


def test_tool_use_streamed(anthropic_client: anthropic.Anthropic) -> None:
    question = "weather in Oslo"
    with anthropic_client.messages.stream(
        model=ANTHROPIC_MODEL, max_tokens=256, messages=[{"role": "user", "content": question}], tools=[WEATHER_TOOL]
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    uses = [block for block in final.content if block.type == "tool_use"]
    assert len(uses) == 1
    assert uses[0].name == "get_weather"
    assert uses[0].input == {"query": question}


def test_image_input(anthropic_client: anthropic.Anthropic) -> None:
    message = anthropic_client.messages.create(
        model=ANTHROPIC_MODEL,
        max_tokens=256,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png_base64()}},
                    {"type": "text", "text": "what is in this picture"},
                ],
            }
        ],
    )
    assert message.content[0].text == "echo: what is in this picture [images: 1]"


THINKING = {"type": "enabled", "budget_tokens": 1024}


def test_thinking_signature_carried_into_next_turn(anthropic_client: anthropic.Anthropic) -> None:
    messages: list = [{"role": "user", "content": "think about this"}]
    first = anthropic_client.messages.create(
        model=ANTHROPIC_MODEL, max_tokens=2048, thinking=THINKING, messages=messages
    )
    assert [block.type for block in first.content] == ["thinking", "text"]
    thinking = first.content[0]
    assert thinking.thinking == THINKING_TEXT
    assert thinking.signature.startswith(SIGNATURE_PREFIX)
    assert first.content[1].text == "echo: think about this"

    # Multi-turn with thinking: the assistant turn goes back as returned, signature included.
    messages.append({"role": "assistant", "content": first.content})
    messages.append({"role": "user", "content": "and now this"})
    second = anthropic_client.messages.create(
        model=ANTHROPIC_MODEL, max_tokens=2048, thinking=THINKING, messages=messages
    )
    assert [block.type for block in second.content] == ["thinking", "text"]
    assert second.content[1].text == f"echo: and now this [signatures: {thinking.signature}]"
    assert second.content[0].signature != thinking.signature


def test_thinking_streamed_keeps_the_signature(anthropic_client: anthropic.Anthropic) -> None:
    with anthropic_client.messages.stream(
        model=ANTHROPIC_MODEL,
        max_tokens=2048,
        thinking=THINKING,
        messages=[{"role": "user", "content": "think while streaming"}],
    ) as stream:
        final = stream.get_final_message()
    assert [block.type for block in final.content] == ["thinking", "text"]
    assert final.content[0].thinking == THINKING_TEXT
    assert final.content[0].signature.startswith(SIGNATURE_PREFIX)

    follow_up = anthropic_client.messages.create(
        model=ANTHROPIC_MODEL,
        max_tokens=2048,
        thinking=THINKING,
        messages=[
            {"role": "user", "content": "think while streaming"},
            {"role": "assistant", "content": final.content},
            {"role": "user", "content": "go on"},
        ],
    )
    assert follow_up.content[-1].text == f"echo: go on [signatures: {final.content[0].signature}]"


def test_forged_thinking_signature_is_refused(anthropic_client: anthropic.Anthropic) -> None:
    """The other half of the signature check: a signature the provider never issued comes
    back as the provider's 400, which the SDK raises as BadRequestError."""
    with pytest.raises(anthropic.BadRequestError) as refused:
        anthropic_client.messages.create(
            model=ANTHROPIC_MODEL,
            max_tokens=2048,
            thinking=THINKING,
            messages=[
                {"role": "user", "content": "think about this"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": THINKING_TEXT, "signature": "forged-signature"},
                        {"type": "text", "text": "echo: think about this"},
                    ],
                },
                {"role": "user", "content": "and now this"},
            ],
        )
    assert refused.value.status_code == 400
    assert "signature" in refused.value.message


def test_models_list(anthropic_client: anthropic.Anthropic) -> None:
    models = {model.id: model for model in anthropic_client.models.list()}
    assert ANTHROPIC_MODEL in models
    assert "gpt-4o-mini" in models
    model = models[ANTHROPIC_MODEL]
    assert model.type == "model"
    assert model.display_name == "Claude Haiku 4.5"
    assert model.created_at is not None
    assert getattr(model, "provider", None) == "anthropic"
    assert getattr(model, "key_source", None) == "managed"


def test_bad_token_raises_authentication_error(gateway) -> None:
    client = anthropic.Anthropic(base_url=gateway.url, api_key="kr_not_a_real_token", max_retries=0)
    try:
        with pytest.raises(anthropic.AuthenticationError) as refused:
            client.messages.create(
                model=ANTHROPIC_MODEL, max_tokens=64, messages=[{"role": "user", "content": "hi"}]
            )
        assert refused.value.status_code == 401
        with pytest.raises(anthropic.AuthenticationError):
            client.models.list()
    finally:
        client.close()


def test_unknown_model_raises_not_found(anthropic_client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as refused:
        anthropic_client.messages.create(
            model="claude-no-such-model", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
        )
    assert refused.value.status_code == 404
    assert "claude-no-such-model" in refused.value.message


def test_served_by_headers(anthropic_client: anthropic.Anthropic) -> None:
    raw = anthropic_client.messages.with_raw_response.create(
        model=ANTHROPIC_MODEL, max_tokens=64, messages=[{"role": "user", "content": "who served this"}]
    )
    served = served_by(raw.headers)
    assert served["x-keyroute-provider"] == "anthropic"
    assert served["x-keyroute-key-source"] == "managed"
    assert (served["x-keyroute-credential"] or "").startswith("anthropic:")
    assert served["x-request-id"]
    assert raw.parse().content[0].text == "echo: who served this"


def test_count_tokens_is_exact_with_an_anthropic_key(anthropic_client: anthropic.Anthropic) -> None:
    counted = anthropic_client.messages.count_tokens(
        model=ANTHROPIC_MODEL,
        system="You are terse.",
        messages=[{"role": "user", "content": "count these five words"}],
    )
    # The mock provider counts a token per word and one per message: keyroute asked it.
    assert counted.input_tokens == 3 + 4 + 1


def test_models_retrieve_and_request_id(anthropic_client: anthropic.Anthropic) -> None:
    model = anthropic_client.models.retrieve(ANTHROPIC_MODEL)
    assert model.id == ANTHROPIC_MODEL
    assert model.type == "model"
    message = anthropic_client.messages.create(
        model=ANTHROPIC_MODEL, max_tokens=16, messages=[{"role": "user", "content": "id please"}]
    )
    assert message._request_id and message._request_id.startswith("req_")
