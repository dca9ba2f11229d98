"""`openai` SDK `embeddings.create` through keyroute on every provider with embeddings.

Against one `keyroute dev --mock` gateway: OpenAI, Google AI Studio and Mistral through the
platform's managed keys (`--mock` seeds them), Bedrock (Titan and Cohere) and Azure through
keys the user adds with the management API (the mock accepts any `sk-mock-` key, and `--mock`
points every provider, Azure's endpoint included, at the mock). Vertex needs a service
account and is covered at the router level (services/router/tests/embeddings.rs).

The SDK asks for base64 when no `encoding_format` is given and decodes it as little-endian
float32; an explicit `float` gets JSON arrays: both must give the same vectors. The mock's
vectors are unit vectors whose length is `dimensions` or the model's default; its token count
is the words of each text (at least one); Google and Cohere-on-Bedrock report none, so the
usage is keyroute's estimate (four characters a token, at least one a text) and the response
says `x-keyroute-token-count: estimate`.
"""

from __future__ import annotations

import math
from typing import Iterator

import openai
import pytest

TEXTS = ["the quick brown fox", "jumps over", "the lazy dog today"]


def mock_tokens(texts: list[str]) -> int:
    return sum(max(1, len(text.split())) for text in texts)


def estimated_tokens(texts: list[str]) -> int:
    return sum(max(1, math.ceil(len(text) / 4)) for text in texts)


def unit(vector: list[float]) -> bool:
    return abs(math.sqrt(sum(v * v for v in vector)) - 1.0) < 1e-3


def same(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(abs(x - y) < 1e-6 for x, y in zip(a, b))


@pytest.fixture
def user_keys(api) -> Iterator[None]:
    """A Bedrock API key and an Azure deployment of the user's, removed afterwards."""
    added = []
    for body in (
        {"provider": "bedrock", "secret": "sk-mock-bedrock-embed-0001", "config": {"region": "us-east-1"}},
        {
            "provider": "azure",
            "secret": "sk-mock-azure-embed-0001",
            "label": "emb",
            "config": {"endpoint": "https://mock-resource.openai.azure.com", "deployment": "emb-small"},
        },
    ):
        response = api.post("/api/v1/keys", json=body)
        assert response.status_code == 201, response.text
        added.append(response.json()["id"])
    yield
    for key_id in added:
        api.delete(f"/api/v1/keys/{key_id}")


@pytest.mark.parametrize(
    ("model", "dimensions", "length", "counted"),
    [
        ("text-embedding-3-small", 32, 32, True),
        ("gemini-embedding-001", 48, 48, False),
        ("mistral-embed", None, 1024, True),
    ],
)
def test_managed_providers_embed_in_both_encodings(
    openai_client: openai.OpenAI, model: str, dimensions: int | None, length: int, counted: bool
) -> None:
    extra = {} if dimensions is None else {"dimensions": dimensions}
    raw = openai_client.embeddings.with_raw_response.create(model=model, input=TEXTS, **extra)
    assert raw.headers.get("x-keyroute-key-source") == "managed"
    decoded = raw.parse()  # base64 on the wire, decoded by the SDK
    floats = openai_client.embeddings.create(model=model, input=TEXTS, encoding_format="float", **extra)
    assert decoded.object == "list" and decoded.model == model
    assert [d.index for d in decoded.data] == [0, 1, 2]
    for a, b in zip(decoded.data, floats.data):
        assert a.object == "embedding"
        assert len(a.embedding) == length and unit(a.embedding)
        assert same(a.embedding, b.embedding)
    assert not same(decoded.data[0].embedding, decoded.data[1].embedding)
    if counted:
        assert decoded.usage.prompt_tokens == mock_tokens(TEXTS)
        assert raw.headers.get("x-keyroute-token-count") is None
    else:
        assert decoded.usage.prompt_tokens == estimated_tokens(TEXTS)
        assert raw.headers.get("x-keyroute-token-count") == "estimate"
    assert decoded.usage.total_tokens == decoded.usage.prompt_tokens


def test_one_string_and_a_batch(openai_client: openai.OpenAI) -> None:
    one = openai_client.embeddings.create(model="text-embedding-3-small", input="just one", dimensions=8)
    assert len(one.data) == 1 and len(one.data[0].embedding) == 8
    batch = [f"text number {i}" for i in range(40)]
    many = openai_client.embeddings.create(model="text-embedding-3-small", input=batch, dimensions=8)
    assert [d.index for d in many.data] == list(range(40))
    again = openai_client.embeddings.create(model="text-embedding-3-small", input=batch[7], dimensions=8)
    assert same(many.data[7].embedding, again.data[0].embedding)


@pytest.mark.usefixtures("user_keys")
@pytest.mark.parametrize(
    ("model", "dimensions", "length", "counted"),
    [
        ("amazon.titan-embed-text-v2:0", 256, 256, True),
        ("cohere.embed-english-v3", None, 1024, False),
        ("azure/emb", 16, 16, True),
    ],
)
def test_user_keys_for_bedrock_and_azure_embed(
    openai_client: openai.OpenAI, model: str, dimensions: int | None, length: int, counted: bool
) -> None:
    extra = {} if dimensions is None else {"dimensions": dimensions}
    raw = openai_client.embeddings.with_raw_response.create(model=model, input=TEXTS, **extra)
    assert raw.headers.get("x-keyroute-key-source") == "byok"
    response = raw.parse()
    assert len(response.data) == 3
    assert all(len(d.embedding) == length and unit(d.embedding) for d in response.data)
    expected = mock_tokens(TEXTS) if counted else estimated_tokens(TEXTS)
    assert response.usage.prompt_tokens == expected


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": ""}, "input"),
        ({"input": []}, "input"),
        ({"input": ["ok", ""]}, "input[1]"),
        ({"input": [[1, 2, 3]]}, "input"),
        ({"input": [1, 2, 3]}, "input"),
        ({"input": 5}, "input"),
        ({"input": "ok", "dimensions": 0}, "dimensions"),
        ({"input": "ok", "encoding_format": "int8"}, "encoding_format"),
    ],
)
def test_bad_input_is_a_400_naming_the_parameter(openai_client: openai.OpenAI, body: dict, param: str) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        openai_client.embeddings.create(model="text-embedding-3-small", **body)
    assert refused.value.status_code == 400
    assert refused.value.param == param, refused.value.body


def test_a_chat_model_is_not_embedded_with(openai_client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        openai_client.embeddings.create(model="gpt-4o-mini", input="hello")
    assert "not an embedding model" in refused.value.message
