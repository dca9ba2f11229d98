"""The official `openai` SDK's Responses API (`client.responses`) on every model family.

`responses.create` and `responses.stream` with text, function tools (a namespace of functions
too, as Codex sends them), a tool result sent back, strict JSON schema output, and reasoning
with `encrypted_content` carried to the next turn, on an OpenAI model (served through the
mock's own Responses endpoint), an Anthropic, a Gemini and a Mistral model (translated). The
mock echoes what each provider received, in its own terms, so each test sees what arrived.
"""

from __future__ import annotations

import json

import openai
import pytest

from support import words

FAMILIES = [
    ("gpt-4o-mini", "openai"),
    ("claude-haiku-4-5", "anthropic"),
    ("gemini-2.5-flash", "google"),
    ("mistral-large-latest", "mistral"),
]

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather by city",
    "parameters": {
        "type": "object",
        "properties": {"query": {"type": "string"}},
        "required": ["query"],
        "additionalProperties": False,
    },
    "strict": True,
}

AGENTS = {
    "type": "namespace",
    "name": "multi_agent_v1",
    "description": "Tools for sub-agents.",
    "tools": [
        {
            "type": "function",
            "name": "spawn_agent",
            "description": "Start a sub-agent.",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
            "strict": False,
        }
    ],
}


@pytest.mark.parametrize(("model", "provider"), FAMILIES)
def test_create_text(openai_client: openai.OpenAI, model: str, provider: str) -> None:
    raw = openai_client.responses.with_raw_response.create(
        model=model,
        instructions="You are terse.",
        input="hello from the responses api",
        max_output_tokens=256,
        store=False,
        metadata={"ticket": "kr-13"},
    )
    assert raw.headers.get("x-keyroute-provider") == provider
    response = raw.parse()
    assert response.object == "response"
    assert response.id.startswith("resp_")
    assert response.status == "completed"
    assert response.model
    assert response.output_text == "echo: hello from the responses api"
    messages = [item for item in response.output if item.type == "message"]
    assert len(messages) == 1
    assert messages[0].role == "assistant"
    assert messages[0].content[0].type == "output_text"
    assert response.metadata == {"ticket": "kr-13"}
    assert response.instructions == "You are terse."
    assert response.max_output_tokens == 256
    assert response.usage is not None
    assert response.usage.input_tokens == words("You are terse.", "hello from the responses api")
    assert response.usage.output_tokens == words("echo: hello from the responses api")
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens


@pytest.mark.parametrize(("model", "provider"), FAMILIES)
def test_stream_text(openai_client: openai.OpenAI, model: str, provider: str) -> None:
    with openai_client.responses.stream(
        model=model,
        input=[{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "stream this back"}],
        store=False,
    ) as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [event.type for event in events]
    assert kinds[:2] == ["response.created", "response.in_progress"], kinds
    assert kinds[-1] == "response.completed", kinds
    for kind in (
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
    ):
        assert kind in kinds, kinds
    numbers = [event.sequence_number for event in events]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers), numbers
    deltas = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    assert deltas == "echo: stream this back"
    assert final.output_text == "echo: stream this back"
    assert final.status == "completed"
    assert final.usage is not None and final.usage.output_tokens == words("echo: stream this back")


@pytest.mark.parametrize(("model", "provider"), FAMILIES)
@pytest.mark.parametrize("streamed", [False, True])
def test_tool_call_and_result(openai_client: openai.OpenAI, model: str, provider: str, streamed: bool) -> None:
    request = dict(
        model=model,
        input=[{"role": "user", "content": "weather in Paris"}],
        tools=[WEATHER, AGENTS],
        tool_choice="auto",
        parallel_tool_calls=False,
        store=False,
    )
    if streamed:
        with openai_client.responses.stream(**request) as stream:
            events = list(stream)
            first = stream.get_final_response()
        arguments = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
        assert json.loads(arguments) == {"query": "weather in Paris"}
        assert "response.function_call_arguments.done" in [e.type for e in events]
    else:
        first = openai_client.responses.create(**request)
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1, first.output
    call = calls[0]
    assert call.name == "get_weather"
    assert call.call_id
    assert json.loads(call.arguments) == {"query": "weather in Paris"}

    # The whole history goes back, as a stateless client (store: false) sends it.
    history = request["input"] + [item.model_dump(exclude_none=True) for item in first.output]
    history.append({"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21 C"})
    second = openai_client.responses.create(**{**request, "input": history})
    assert second.status == "completed"
    assert "[tool results: sunny, 21 C]" in second.output_text, second.output_text


@pytest.mark.parametrize(("model", "provider"), FAMILIES)
def test_namespaced_function_call(openai_client: openai.OpenAI, model: str, provider: str) -> None:
    # The mock calls the first tool offered: here the one inside the namespace.
    response = openai_client.responses.create(
        model=model,
        input="start a helper",
        tools=[AGENTS, WEATHER],
        store=False,
    )
    calls = [item for item in response.output if item.type == "function_call"]
    assert len(calls) == 1, response.output
    assert calls[0].name == "spawn_agent"
    assert calls[0].namespace == "multi_agent_v1"


@pytest.mark.parametrize(("model", "provider"), FAMILIES)
def test_strict_json_schema(openai_client: openai.OpenAI, model: str, provider: str) -> None:
    response = openai_client.responses.create(
        model=model,
        input="answer in JSON",
        text={
            "format": {
                "type": "json_schema",
                "name": "answer",
                "strict": True,
                "schema": {
                    "type": "object",
                    "properties": {"answer": {"type": "string"}},
                    "required": ["answer"],
                    "additionalProperties": False,
                },
            }
        },
        store=False,
    )
    # The mock answers JSON that fits the schema, its strings proving the schema arrived.
    assert json.loads(response.output_text) == {"answer": "echo: answer in JSON [format=json_schema]"}
    assert response.text is not None and response.text.format.type == "json_schema"


# Where the provider signs its reasoning, and what each received for `effort: high`.
REASONING = {
    "openai": (True, "reasoning.effort=high reasoning.summary=auto"),
    "anthropic": (True, None),
    "google": (False, "thinkingBudget=24576"),
    "mistral": (False, "reasoning_effort=high"),
}


@pytest.mark.parametrize(("model", "provider"), FAMILIES)
def test_reasoning_round_trip(openai_client: openai.OpenAI, model: str, provider: str) -> None:
    signed, received = REASONING[provider]
    request = dict(
        model=model if provider != "openai" else "o4-mini",
        input=[{"role": "user", "content": "think first"}],
        reasoning={"effort": "high", "summary": "auto"},
        include=["reasoning.encrypted_content"],
        store=False,
    )
    first = openai_client.responses.create(**request)
    reasoning = [item for item in first.output if item.type == "reasoning"]
    assert len(reasoning) == 1, first.output
    assert reasoning[0].summary and reasoning[0].summary[0].text
    if received is not None:
        assert f"[reasoning: {received}]" in first.output_text, first.output_text
    if not signed:
        return
    assert reasoning[0].encrypted_content
    history = request["input"] + [item.model_dump(exclude_none=True) for item in first.output]
    history.append({"role": "user", "content": "and now?"})
    second = openai_client.responses.create(**{**request, "input": history})
    # The mock names the signatures that came back: the reasoning reached the provider intact.
    assert reasoning[0].encrypted_content in second.output_text, second.output_text


def test_previous_response_id_is_served_by_openai_only(openai_client: openai.OpenAI) -> None:
    first = openai_client.responses.create(model="gpt-4o-mini", input="remember this", store=True)
    second = openai_client.responses.create(model="gpt-4o-mini", input="and this", previous_response_id=first.id)
    assert f"previous={first.id}" in second.output_text, second.output_text
    assert second.previous_response_id == first.id

    with pytest.raises(openai.BadRequestError) as refused:
        openai_client.responses.create(model="claude-haiku-4-5", input="and this", previous_response_id=first.id)
    assert "previous_response_id" in refused.value.message


def test_bad_input_is_a_400_naming_the_field(openai_client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        openai_client.responses.create(
            model="gpt-4o-mini",
            input=[{"type": "no_such_item"}],  # type: ignore[list-item]
        )
    assert refused.value.status_code == 400
    body = refused.value.body
    assert isinstance(body, dict) and body.get("param", "").startswith("input[0]"), body
