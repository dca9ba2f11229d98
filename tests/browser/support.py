"""Helpers shared by the browser tests (no fixtures here: see conftest.py)."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, TypeVar

from playwright.sync_api import Page, expect

from conftest import BINARY, REPO_ROOT, Gateway

T = TypeVar("T")
SCREENSHOTS = REPO_ROOT / "docs" / "console"
MODEL = "gpt-4o-mini"


def screenshot(page: Page, name: str) -> Path:
    """Writes docs/console/<name>.png (the README links them)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, animations="disabled", caret="hide")
    return path


def http(gateway: Gateway, method: str, path: str, body=None, token: str | None = None, headers=None):
    """Plain HTTP to the gateway: (status, parsed JSON or None, headers)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(gateway.url + path, data=data, method=method)
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            status, answer_headers = response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        raw, status, answer_headers = error.read(), error.code, dict(error.headers)
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    return status, parsed, {k.lower(): v for k, v in answer_headers.items()}


def chat(gateway: Gateway, token: str, text: str = "hello there"):
    """One chat completion through the gateway: (status, body, headers)."""
    return http(gateway, "POST", "/v1/chat/completions", {"model": MODEL, "messages": [{"role": "user", "content": text}]}, token)


def admin(gateway: Gateway, *args: str):
    """`keyroute admin -o json ...` against the dev gateway's vault."""
    done = subprocess.run(
        [str(BINARY), "admin", "-o", "json", *args], env=gateway.admin_env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, f"keyroute admin {' '.join(args)} failed: {done.stderr}"
    return json.loads(done.stdout)


def eventually(check: Callable[[], T], *, timeout: float = 10.0, interval: float = 0.2) -> T:
    """Runs `check` until it stops raising AssertionError (changes reach routers within about
    a second: the vault pushes them and routers cache leases briefly)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
        time.sleep(interval)


def sign_in(page: Page, token: str) -> None:
    """Signs in through the sign-in form with a gateway token."""
    page.goto("/")
    page.get_by_label("Gateway token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Providers", level=1)).to_be_visible()


def open_page(page: Page, name: str, owner: str | None = None) -> None:
    """Opens a console page from the navigation, for `owner` (an org id) when given."""
    if owner is not None:
        page.get_by_label("Acting for").select_option(value=owner)
    page.get_by_role("navigation", name="Pages").get_by_role("link", name=name, exact=True).click()
    expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
    expect(page.locator("main .loading")).to_have_count(0)


def delete_keys(gateway: Gateway, provider: str, owner_path: str = "/api/v1/keys") -> None:
    """Removes the dev user's keys of a provider (a clean start for a test)."""
    status, listing, _ = http(gateway, "GET", owner_path, token=gateway.token)
    assert status == 200, listing
    for key in listing["data"]:
        if key["provider"] == provider:
            status, body, _ = http(gateway, "DELETE", f"/api/v1/keys/{key['id']}", token=gateway.token)
            assert status == 204, body
