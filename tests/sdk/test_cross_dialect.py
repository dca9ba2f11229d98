"""Either SDK reaches either provider: the caller's dialect and the provider's are independent.

Proves that the Anthropic SDK can ask for an OpenAI model (the gateway translates Messages to
Chat Completions, the openai key serves it, and the answer comes back in Anthropic's shape,
streamed or not, tool use included), and that the OpenAI SDK can ask for an Anthropic model
(translated the other way, served by the anthropic key), with `x-keyroute-provider` naming the
provider that actually served each request.
"""

from __future__ import annotations

import json

import anthropic
import openai

from support import ANTHROPIC_MODEL, OPENAI_MODEL, served_by, words


def test_anthropic_sdk_asks_for_an_openai_model(anthropic_client: anthropic.Anthropic) -> None:
    raw = anthropic_client.messages.with_raw_response.create(
        model=OPENAI_MODEL,
        max_tokens=256,
        system="You are terse.",
        messages=[{"role": "user", "content": "hello across dialects"}],
    )
    served = served_by(raw.headers)
    assert served["x-keyroute-provider"] == "openai"
    assert served["x-keyroute-key-source"] == "managed"
    assert (served["x-keyroute-credential"] or "").startswith("openai:")
    message = raw.parse()
    assert message.type == "message"
    assert message.role == "assistant"
    assert message.model == OPENAI_MODEL
    assert message.stop_reason == "end_turn"
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == "echo: hello across dialects"
    assert message.usage.input_tokens == words("You are terse.", "hello across dialects")
    assert message.usage.output_tokens == words("echo: hello across dialects")


def test_anthropic_sdk_streams_from_an_openai_model(anthropic_client: anthropic.Anthropic) -> None:
    with anthropic_client.messages.stream(
        model=OPENAI_MODEL, max_tokens=256, messages=[{"role": "user", "content": "stream across dialects please"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
        provider = stream.response.headers.get("x-keyroute-provider")
    assert provider == "openai"
    assert text == "echo: stream across dialects please"
    assert final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == words(text)


def test_anthropic_sdk_tool_use_with_an_openai_model(anthropic_client: anthropic.Anthropic) -> None:
    tool = {
        "name": "lookup",
        "description": "Looks a thing up.",
        "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
    }
    question = "look up the answer"
    messages: list = [{"role": "user", "content": question}]
    first = anthropic_client.messages.create(model=OPENAI_MODEL, max_tokens=256, messages=messages, tools=[tool])
    assert first.stop_reason == "tool_use"
    use = next(block for block in first.content if block.type == "tool_use")
    assert use.name == "lookup"
    assert use.input == {"query": question}
    messages.append({"role": "assistant", "content": first.content})
    messages.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "42"}]})
    second = anthropic_client.messages.create(model=OPENAI_MODEL, max_tokens=256, messages=messages, tools=[tool])
    assert second.stop_reason == "end_turn"
    assert second.content[0].text == f"echo: {question} [tool results: 42]"


def test_openai_sdk_asks_for_an_anthropic_model(openai_client: openai.OpenAI) -> None:
    raw = openai_client.chat.completions.with_raw_response.create(
        model=ANTHROPIC_MODEL,
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "hello across dialects"},
        ],
        max_tokens=256,
    )
    served = served_by(raw.headers)
    assert served["x-keyroute-provider"] == "anthropic"
    assert served["x-keyroute-key-source"] == "managed"
    assert (served["x-keyroute-credential"] or "").startswith("anthropic:")
    completion = raw.parse()
    assert completion.object == "chat.completion"
    assert completion.model == ANTHROPIC_MODEL
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content == "echo: hello across dialects"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == words("You are terse.", "hello across dialects")
    assert completion.usage.completion_tokens == words("echo: hello across dialects")


def test_openai_sdk_streams_from_an_anthropic_model(openai_client: openai.OpenAI) -> None:
    prompt = "stream across dialects please"
    raw = openai_client.chat.completions.with_raw_response.create(
        model=ANTHROPIC_MODEL,
        messages=[{"role": "user", "content": prompt}],
        stream=True,
        stream_options={"include_usage": True},
    )
    assert raw.headers.get("x-keyroute-provider") == "anthropic"
    chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == f"echo: {prompt}"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert last.usage.prompt_tokens == words(prompt)
    assert last.usage.completion_tokens == words(text)


def test_openai_sdk_tool_call_with_an_anthropic_model(openai_client: openai.OpenAI) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Looks a thing up.",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
        },
    }
    question = "look up the answer"
    messages: list = [{"role": "user", "content": question}]
    first = openai_client.chat.completions.create(model=ANTHROPIC_MODEL, messages=messages, tools=[tool])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "lookup"
    assert json.loads(call.function.arguments) == {"query": question}
    messages.append(choice.message)
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "42"})
    second = openai_client.chat.completions.create(model=ANTHROPIC_MODEL, messages=messages, tools=[tool])
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == f"echo: {question} [tool results: 42]"
