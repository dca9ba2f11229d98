"""Rate limits as the official SDKs see them: a call within a limit carries the provider's own
rate-limit headers, and a call beyond it raises each SDK's `RateLimitError` (429) with
`retry-after`, in that SDK's dialect.

The limit is set through the management REST API on a key the test adds (a Mistral key of the
dev user's own, limited to one request a minute), so that no other test's calls count against
it; the key and its limit are deleted at the end, and the test waits until Mistral calls are
served by the platform's key again. Routing changes arrive asynchronously (revocations within
about a second), so the first call is polled until the key and its limit are in use.
"""

from __future__ import annotations

from typing import Iterator

import anthropic
import openai
import pytest

from support import eventually, header_fingerprint

MODEL = "mistral-large-latest"
SECRET = "sk-mock-user-mistral-ratelimit-0001"
MESSAGES = [{"role": "user", "content": "count me"}]


@pytest.fixture
def limited_key(api, openai_client: openai.OpenAI) -> Iterator[dict]:
    """The dev user's own Mistral key, limited to one request a minute."""
    added = api.post("/api/v1/keys", json={"provider": "mistral", "secret": SECRET})
    assert added.status_code == 201, added.text
    key = added.json()
    try:
        limit = api.put(
            "/api/v1/rate-limits",
            json={"scope": "credential", "target_id": key["id"], "requests_per_minute": 1},
        )
        assert limit.status_code == 200, limit.text
        assert limit.json()["requests_per_minute"] == 1
        yield key
    finally:
        assert api.delete(f"/api/v1/keys/{key['id']}").status_code == 204

        def managed_again() -> None:
            raw = openai_client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
            assert raw.headers.get("x-keyroute-key-source") == "managed"

        eventually(managed_again)


def test_a_limited_key_answers_with_rate_limit_headers_then_rate_limit_errors(
    limited_key: dict, openai_client: openai.OpenAI, anthropic_client: anthropic.Anthropic
) -> None:
    fingerprint = header_fingerprint(limited_key["fingerprint"])

    def served_under_the_limit():
        raw = openai_client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
        assert raw.headers.get("x-keyroute-credential") == fingerprint
        assert raw.headers.get("x-ratelimit-limit-requests") == "1"
        return raw

    raw = eventually(served_under_the_limit)
    assert raw.parse().choices[0].message.content == "echo: count me"
    assert raw.headers["x-ratelimit-remaining-requests"] == "0"
    assert raw.headers["x-ratelimit-reset-requests"].endswith("s")

    with pytest.raises(openai.RateLimitError) as refused:
        openai_client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert refused.value.status_code == 429
    headers = refused.value.response.headers
    assert int(headers["retry-after"]) >= 1
    assert int(headers["retry-after-ms"]) >= 1
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert refused.value.code == "rate_limit_exceeded"
    assert "requests per minute" in refused.value.message

    with pytest.raises(anthropic.RateLimitError) as refused_anthropic:
        anthropic_client.messages.create(model=MODEL, max_tokens=16, messages=MESSAGES)
    assert refused_anthropic.value.status_code == 429
    headers = refused_anthropic.value.response.headers
    assert int(headers["retry-after"]) >= 1
    assert headers["anthropic-ratelimit-requests-limit"] == "1"
    assert headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert headers["anthropic-ratelimit-requests-reset"].endswith("Z")
    assert refused_anthropic.value.body["error"]["type"] == "rate_limit_error"
