"""Bring-your-own-key, end to end: a key added through the management REST API serves the
user's next SDK request, and disabling or deleting it hands routing back to the platform.

Proves, against one running gateway: POST /api/v1/keys answers 201 with the key's fingerprint
and never its secret; adding the same key again is a 409 `already_exists`; a chat through the
OpenAI SDK is then served by that key (`x-keyroute-key-source: byok`, its fingerprint in
`x-keyroute-credential`); the key test endpoint says `ok` for a key the provider accepts and
`key_invalid` for one it refuses; PATCH `{"enabled": false}` sends the next chat to the
managed key; DELETE answers 204 and the key leaves the list. Changes reach routing
asynchronously (revocations are pushed within about a second), so routing checks are polled
for a few seconds rather than slept on. The test removes every key it adds, whatever happens.
"""

from __future__ import annotations

from typing import Iterator

import openai
import pytest

from support import OPENAI_MODEL, eventually, header_fingerprint, httpx, served_by

GOOD_SECRET = "sk-mock-user-openai-0001"
BAD_SECRET = "sk-bad-openai-0001"
ROUTING_TIMEOUT_S = 5.0


@pytest.fixture
def created_keys(api) -> Iterator[list[str]]:
    """Ids of keys this test added; each is deleted at the end if still there."""
    ids: list[str] = []
    yield ids
    for key_id in ids:
        api.delete(f"/api/v1/keys/{key_id}")


def own_keys(api) -> list[dict]:
    response = api.get("/api/v1/keys")
    assert response.status_code == 200, response.text
    return response.json()["data"]


def chat_served_by(openai_client: openai.OpenAI) -> dict[str, str | None]:
    raw = openai_client.chat.completions.with_raw_response.create(
        model=OPENAI_MODEL, messages=[{"role": "user", "content": "which key serves me"}]
    )
    assert raw.parse().choices[0].message.content == "echo: which key serves me"
    return served_by(raw.headers)


def test_byok_key_lifecycle(api, openai_client: openai.OpenAI, created_keys: list[str]) -> None:
    assert not [k for k in own_keys(api) if k["provider"] == "openai"], "the dev user starts with no openai key"

    # Add a key: 201, fingerprint, no secret.
    added = api.post("/api/v1/keys", json={"provider": "openai", "secret": GOOD_SECRET})
    assert added.status_code == 201, added.text
    key = added.json()
    created_keys.append(key["id"])
    assert key["provider"] == "openai"
    assert key["enabled"] is True
    assert key["fingerprint"].startswith("openai:") and key["fingerprint"].endswith("0001")
    assert "secret" not in key
    assert GOOD_SECRET not in added.text
    assert added.headers.get("location") == f"/api/v1/keys/{key['id']}"
    listed = {k["id"]: k for k in own_keys(api)}
    assert listed[key["id"]]["fingerprint"] == key["fingerprint"]
    assert GOOD_SECRET not in str(listed)

    # The same again: 409 already_exists.
    again = api.post("/api/v1/keys", json={"provider": "openai", "secret": GOOD_SECRET})
    assert again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "already_exists"
    assert len([k for k in own_keys(api) if k["provider"] == "openai"]) == 1

    # The user's key now serves their requests.
    def served_by_the_new_key() -> None:
        served = chat_served_by(openai_client)
        assert served["x-keyroute-provider"] == "openai"
        assert served["x-keyroute-key-source"] == "byok", served
        assert served["x-keyroute-credential"] == header_fingerprint(key["fingerprint"]), served

    eventually(served_by_the_new_key, timeout=ROUTING_TIMEOUT_S)

    # The provider accepts it.
    tested = api.post(f"/api/v1/keys/{key['id']}/test")
    assert tested.status_code == 200, tested.text
    assert tested.json()["outcome"] == "ok", tested.text
    assert tested.json()["ok"] is True

    # Disabled, it no longer serves: the managed key does.
    disabled = api.patch(f"/api/v1/keys/{key['id']}", json={"enabled": False})
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["enabled"] is False
    assert disabled.json()["fingerprint"] == key["fingerprint"]

    def served_by_the_managed_key() -> None:
        served = chat_served_by(openai_client)
        assert served["x-keyroute-provider"] == "openai"
        assert served["x-keyroute-key-source"] == "managed", served
        assert served["x-keyroute-credential"] != header_fingerprint(key["fingerprint"]), served

    eventually(served_by_the_managed_key, timeout=ROUTING_TIMEOUT_S)

    # A key the provider refuses tests as key_invalid.
    bad = api.post("/api/v1/keys", json={"provider": "openai", "secret": BAD_SECRET, "label": "bad-key"})
    assert bad.status_code == 201, bad.text
    bad_key = bad.json()
    created_keys.append(bad_key["id"])
    assert bad_key["label"] == "bad-key"
    assert BAD_SECRET not in bad.text
    bad_tested = api.post(f"/api/v1/keys/{bad_key['id']}/test")
    assert bad_tested.status_code == 200, bad_tested.text
    assert bad_tested.json()["outcome"] == "key_invalid", bad_tested.text
    assert bad_tested.json()["ok"] is False

    # Delete both: 204, gone from the list, and routing is back to the platform's key.
    for key_id in (bad_key["id"], key["id"]):
        deleted = api.delete(f"/api/v1/keys/{key_id}")
        assert deleted.status_code == 204, deleted.text
    remaining = {k["id"] for k in own_keys(api)}
    assert key["id"] not in remaining and bad_key["id"] not in remaining
    assert api.delete(f"/api/v1/keys/{key['id']}").status_code == 404

    eventually(served_by_the_managed_key, timeout=ROUTING_TIMEOUT_S)


def test_key_input_is_validated(api) -> None:
    """Refusals come in the management API's one error shape, naming the field at fault."""
    unknown = api.post("/api/v1/keys", json={"provider": "no-such-provider", "secret": GOOD_SECRET})
    assert unknown.status_code == 400, unknown.text
    assert unknown.json()["error"]["code"] == "invalid_request"
    assert unknown.json()["error"]["field"] == "provider"

    typo = api.post("/api/v1/keys", json={"provider": "openai", "secret": GOOD_SECRET, "labell": "x"})
    assert typo.status_code == 400, typo.text
    assert typo.json()["error"]["field"] == "labell"
    assert not [k for k in own_keys(api) if k["provider"] == "openai"]


def test_management_api_needs_a_token(gateway) -> None:
    with httpx.Client(base_url=gateway.url, timeout=30) as anonymous:
        response = anonymous.get("/api/v1/keys")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
