"""The official `openai` Python SDK works against keyroute unchanged.

Proves, through `client.chat.completions` and `client.models` only (no hand-made HTTP), that the
gateway's OpenAI dialect is what the SDK expects: plain and streamed completions (with the
final usage chunk of `stream_options.include_usage`), a tool call and the tool-result turn
that answers it, image input as a data URL, JSON mode, a refusal as `refusal` (whole and
streamed), the model list, errors the SDK maps to
its own exception types (401 -> AuthenticationError, unknown model -> NotFoundError), and the
`x-keyroute-*` headers that say who served a request.
"""

from __future__ import annotations

import json

import openai
import pytest

from support import ANTHROPIC_MODEL, OPENAI_MODEL, png_data_url, served_by, words


def test_chat_completion(openai_client: openai.OpenAI) -> None:
    completion = openai_client.chat.completions.create(
        model=OPENAI_MODEL,
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "hello from the openai sdk"},
        ],
        max_tokens=64,
    )
    assert completion.object == "chat.completion"
    assert completion.id
    assert completion.model == OPENAI_MODEL
    assert len(completion.choices) == 1
    choice = completion.choices[0]
    assert choice.index == 0
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content == "echo: hello from the openai sdk"
    assert choice.message.tool_calls in (None, [])
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == words("You are terse.", "hello from the openai sdk")
    assert completion.usage.completion_tokens == words("echo: hello from the openai sdk")
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens


def test_chat_stream_with_usage(openai_client: openai.OpenAI) -> None:
    prompt = "stream these words back to me please"
    stream = openai_client.chat.completions.create(
        model=OPENAI_MODEL,
        messages=[{"role": "user", "content": prompt}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert len(chunks) >= 3, chunks
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    assert len({chunk.id for chunk in chunks}) == 1, "every chunk of one completion carries its id"

    *content_chunks, last = chunks
    text = "".join(c.choices[0].delta.content or "" for c in content_chunks if c.choices)
    assert text == f"echo: {prompt}"
    assert content_chunks[0].choices[0].delta.role == "assistant"
    finish = [c.choices[0].finish_reason for c in content_chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["stop"]
    assert all(c.usage is None for c in content_chunks), "only the final chunk carries usage"

    # include_usage: one last chunk with no choices and the whole request's usage.
    assert last.choices == []
    assert last.usage is not None
    assert last.usage.prompt_tokens == words(prompt)
    assert last.usage.completion_tokens == words(text)
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens


def test_chat_stream_without_usage_option_has_no_usage_chunk(openai_client: openai.OpenAI) -> None:
    stream = openai_client.chat.completions.create(
        model=OPENAI_MODEL, messages=[{"role": "user", "content": "no usage please"}], stream=True
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: no usage please"
    assert all(c.usage is None for c in chunks)
    assert all(c.choices for c in chunks), "without include_usage there is no choice-less usage chunk"


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a place.",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string"}},
            "required": ["query"],
        },
    },
}


def test_tool_call_and_tool_result_turn(openai_client: openai.OpenAI) -> None:
    question = "what is the weather in Paris"
    messages: list = [{"role": "user", "content": question}]
    first = openai_client.chat.completions.create(model=OPENAI_MODEL, messages=messages, tools=[WEATHER_TOOL])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None and len(choice.message.tool_calls) == 1
    call = choice.message.tool_calls[0]
    assert call.type == "function"
    assert call.id
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"query": question}

    # The SDK's documented pattern: append the assistant message object as returned, then
    # the tool's answer.
    messages.append(choice.message)
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"})
    second = openai_client.chat.completions.create(model=OPENAI_MODEL, messages=messages, tools=[WEATHER_TOOL])
    answer = second.choices[0]
    assert answer.finish_reason == "stop"
    assert answer.message.tool_calls in (None, [])
    assert answer.message.content == f"echo: {question} [tool results: 18C and sunny]"


def test_tool_call_streamed(openai_client: openai.OpenAI) -> None:
    question = "weather in Oslo"
    stream = openai_client.chat.completions.create(
        model=OPENAI_MODEL, messages=[{"role": "user", "content": question}], tools=[WEATHER_TOOL], stream=True
    )
    ids, names, arguments, finish = [], [], "", []
    for chunk in stream:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        for call in delta.tool_calls or []:
            assert call.index == 0
            if call.id:
                ids.append(call.id)
            if call.function and call.function.name:
                names.append(call.function.name)
            if call.function and call.function.arguments:
                arguments += call.function.arguments
        if chunk.choices[0].finish_reason:
            finish.append(chunk.choices[0].finish_reason)
    assert len(ids) == 1
    assert names == ["get_weather"]
    assert json.loads(arguments) == {"query": question}
    assert finish == ["tool_calls"]


def test_image_input_as_data_url(openai_client: openai.OpenAI) -> None:
    completion = openai_client.chat.completions.create(
        model=OPENAI_MODEL,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is in this picture"},
                    {"type": "image_url", "image_url": {"url": png_data_url(), "detail": "low"}},
                ],
            }
        ],
    )
    assert completion.choices[0].message.content == "echo: what is in this picture [images: 1]"


def test_json_mode(openai_client: openai.OpenAI) -> None:
    prompt = "answer in JSON with a key named answer"
    completion = openai_client.chat.completions.create(
        model=OPENAI_MODEL,
        messages=[{"role": "user", "content": prompt}],
        response_format={"type": "json_object"},
    )
    # The mock answers JSON mode with a JSON object that echoes the prompt.
    assert completion.choices[0].finish_reason == "stop"
    assert json.loads(completion.choices[0].message.content or "") == {"echo": prompt}

    # response_format is read, not ignored: a type OpenAI does not define is refused.
    with pytest.raises(openai.BadRequestError) as refused:
        openai_client.chat.completions.create(
            model=OPENAI_MODEL,
            messages=[{"role": "user", "content": prompt}],
            response_format={"type": "xml"},  # type: ignore[typeddict-item]
        )
    assert refused.value.status_code == 400


def test_models_list(openai_client: openai.OpenAI) -> None:
    models = {model.id: model for model in openai_client.models.list()}
    assert OPENAI_MODEL in models
    assert ANTHROPIC_MODEL in models
    model = models[OPENAI_MODEL]
    assert model.object == "model"
    assert model.owned_by == "openai"
    # keyroute's additions, kept by the SDK as extra fields.
    assert getattr(model, "provider", None) == "openai"
    assert getattr(model, "key_source", None) == "managed"
    assert getattr(models[ANTHROPIC_MODEL], "provider", None) == "anthropic"


def test_bad_token_raises_authentication_error(gateway) -> None:
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="kr_not_a_real_token", max_retries=0)
    try:
        with pytest.raises(openai.AuthenticationError) as refused:
            client.chat.completions.create(model=OPENAI_MODEL, messages=[{"role": "user", "content": "hi"}])
        assert refused.value.status_code == 401
        assert refused.value.code == "invalid_api_key"
        with pytest.raises(openai.AuthenticationError):
            client.models.list()
    finally:
        client.close()


def test_unknown_model_raises_not_found(openai_client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as refused:
        openai_client.chat.completions.create(
            model="no-such-model-anywhere", messages=[{"role": "user", "content": "hi"}]
        )
    assert refused.value.status_code == 404
    assert refused.value.code == "model_not_found"
    assert "no-such-model-anywhere" in refused.value.message


def test_served_by_headers(openai_client: openai.OpenAI) -> None:
    raw = openai_client.chat.completions.with_raw_response.create(
        model=OPENAI_MODEL, messages=[{"role": "user", "content": "who served this"}]
    )
    assert raw.status_code == 200
    served = served_by(raw.headers)
    assert served["x-keyroute-provider"] == "openai"
    assert served["x-keyroute-key-source"] == "managed"
    assert (served["x-keyroute-credential"] or "").startswith("openai:")
    assert served["x-request-id"]
    assert raw.parse().choices[0].message.content == "echo: who served this"


def test_request_id_is_passed_through(openai_client: openai.OpenAI) -> None:
    raw = openai_client.chat.completions.with_raw_response.create(
        model=OPENAI_MODEL,
        messages=[{"role": "user", "content": "trace me"}],
        extra_headers={"x-request-id": "sdk-conformance-0001"},
    )
    assert raw.headers.get("x-request-id") == "sdk-conformance-0001"
    assert raw.parse()._request_id == "sdk-conformance-0001"


def test_served_by_headers_on_a_stream(openai_client: openai.OpenAI) -> None:
    raw = openai_client.chat.completions.with_raw_response.create(
        model=OPENAI_MODEL, messages=[{"role": "user", "content": "stream who served this"}], stream=True
    )
    served = served_by(raw.headers)
    assert served["x-keyroute-provider"] == "openai"
    assert served["x-keyroute-key-source"] == "managed"
    assert served["x-request-id"]
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text == "echo: stream who served this"


def test_models_retrieve(openai_client: openai.OpenAI) -> None:
    model = openai_client.models.retrieve("gpt-4o-mini")
    assert model.id == "gpt-4o-mini"
    assert model.object == "model"
    with pytest.raises(openai.NotFoundError):
        openai_client.models.retrieve("no-such-model")


def test_refusal_arrives_as_refusal(openai_client: openai.OpenAI) -> None:
    """A model's refusal (the mock refuses prompts saying `mock-refuse`) is the SDK's
    `message.refusal` and streamed `delta.refusal`, never `content`."""
    prompt = "mock-refuse this, please"
    completion = openai_client.chat.completions.create(
        model=OPENAI_MODEL,
        messages=[{"role": "user", "content": prompt}],
        max_tokens=64,
    )
    message = completion.choices[0].message
    assert message.refusal == f"echo: {prompt}"
    assert not message.content

    refusal, content = "", ""
    with openai_client.chat.completions.create(
        model=OPENAI_MODEL,
        messages=[{"role": "user", "content": prompt}],
        max_tokens=64,
        stream=True,
    ) as stream:
        for chunk in stream:
            for choice in chunk.choices:
                refusal += choice.delta.refusal or ""
                content += choice.delta.content or ""
    assert refusal == f"echo: {prompt}"
    assert content == ""
