"""Both official SDKs read the right cached-token figures through every dialect pairing.

A prompt holding `mock-cache` makes the mock provider report that 4 of its input tokens were
read from the prompt cache and 2 written to it (crates/mock-providers/src/lib.rs), each
provider in its own fields (Gemini reports no writes). The gateway turns that into canonical
usage and renders it by each client dialect's own rule: OpenAI chat and Responses count the
cache inside the input (`prompt_tokens`, `input_tokens`) and name the reads in their details;
Anthropic's `input_tokens` leaves the cache out and names reads and writes beside it.
Every client dialect × upstream family, whole and streamed.
"""

from __future__ import annotations

import anthropic
import openai
import pytest

from support import words

CACHE_READ = 4
CACHE_WRITE = 2

# (model, provider, cache writes the provider reports)
UPSTREAMS = [
    ("gpt-4o-mini", "openai", CACHE_WRITE),
    ("claude-haiku-4-5", "anthropic", CACHE_WRITE),
    ("gemini-2.5-flash", "google", 0),
    ("mistral-large-latest", "mistral", CACHE_WRITE),
]

PROMPT = "mock-cache please read the long shared prefix again"


@pytest.mark.parametrize(("model", "provider", "writes"), UPSTREAMS)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_openai_chat_reads_cached_tokens(
    openai_client: openai.OpenAI, model: str, provider: str, writes: int, stream: bool
) -> None:
    messages = [{"role": "user", "content": PROMPT}]
    if stream:
        raw = openai_client.chat.completions.with_raw_response.create(
            model=model, messages=messages, stream=True, stream_options={"include_usage": True}
        )
        assert raw.headers.get("x-keyroute-provider") == provider
        chunks = list(raw.parse())
        usage = chunks[-1].usage
        assert chunks[-1].choices == []
    else:
        raw = openai_client.chat.completions.with_raw_response.create(model=model, messages=messages)
        assert raw.headers.get("x-keyroute-provider") == provider
        usage = raw.parse().usage
    assert usage is not None
    # OpenAI's rule: prompt_tokens includes the cached tokens.
    assert usage.prompt_tokens == words(PROMPT)
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == CACHE_READ
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


@pytest.mark.parametrize(("model", "provider", "writes"), UPSTREAMS)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_responses_reads_cached_tokens(
    openai_client: openai.OpenAI, model: str, provider: str, writes: int, stream: bool
) -> None:
    if stream:
        with openai_client.responses.stream(model=model, input=PROMPT, store=False) as events:
            response = events.get_final_response()
    else:
        response = openai_client.responses.create(model=model, input=PROMPT, store=False)
    usage = response.usage
    assert usage is not None
    # The Responses rule: input_tokens includes the cached tokens.
    assert usage.input_tokens == words(PROMPT)
    assert usage.input_tokens_details.cached_tokens == CACHE_READ
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens


@pytest.mark.parametrize(("model", "provider", "writes"), UPSTREAMS)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_anthropic_reads_cached_tokens(
    anthropic_client: anthropic.Anthropic, model: str, provider: str, writes: int, stream: bool
) -> None:
    messages = [{"role": "user", "content": PROMPT}]
    if stream:
        with anthropic_client.messages.stream(model=model, max_tokens=256, messages=messages) as events:
            message = events.get_final_message()
    else:
        message = anthropic_client.messages.create(model=model, max_tokens=256, messages=messages)
    usage = message.usage
    # Anthropic's rule: input_tokens leaves out what was read from and written to the cache.
    assert usage.cache_read_input_tokens == CACHE_READ
    assert usage.cache_creation_input_tokens == writes
    assert usage.input_tokens == words(PROMPT) - CACHE_READ - writes
    assert usage.output_tokens == words(f"echo: {PROMPT}")


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_anthropic_hour_long_cache_writes_come_apart(anthropic_client: anthropic.Anthropic, stream: bool) -> None:
    """A 1-hour cache hint: of the 2 tokens written, 1 lives an hour (`cache_creation`)."""
    messages = [
        {
            "role": "user",
            "content": [{"type": "text", "text": PROMPT, "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
        }
    ]
    if stream:
        with anthropic_client.messages.stream(
            model="claude-haiku-4-5", max_tokens=256, messages=messages
        ) as events:
            message = events.get_final_message()
    else:
        message = anthropic_client.messages.create(model="claude-haiku-4-5", max_tokens=256, messages=messages)
    usage = message.usage
    assert usage.cache_creation_input_tokens == CACHE_WRITE
    assert usage.cache_creation is not None
    assert usage.cache_creation.ephemeral_1h_input_tokens == 1
    assert usage.cache_creation.ephemeral_5m_input_tokens == 1


def test_anthropic_stream_opens_with_the_input_side(anthropic_client: anthropic.Anthropic) -> None:
    """From an Anthropic upstream, `message_start` already carries the input-side usage."""
    with anthropic_client.messages.stream(
        model="claude-haiku-4-5", max_tokens=256, messages=[{"role": "user", "content": PROMPT}]
    ) as events:
        start = next(event for event in events if event.type == "message_start")
        opening = start.message.usage
        assert opening.cache_read_input_tokens == CACHE_READ
        assert opening.input_tokens == words(PROMPT) - CACHE_READ - CACHE_WRITE
        for _ in events:
            pass


def test_openai_chat_reads_reasoning_tokens(openai_client: openai.OpenAI) -> None:
    """Thinking turned on: 3 of the completion tokens were reasoning, inside the count."""
    completion = openai_client.chat.completions.create(
        model="o4-mini", messages=[{"role": "user", "content": "think first"}], reasoning_effort="high"
    )
    usage = completion.usage
    assert usage is not None
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 3
    assert usage.completion_tokens >= 3
