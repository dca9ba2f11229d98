"""Fixtures for the console's browser suite.

One `keyroute dev --mock` gateway per test session (as in tests/sdk/conftest.py: a free
loopback port, a fresh state directory), Debian's headless Chromium driven by Playwright, and
a fresh browser context per test. Every page records the bodies of the responses it received
and the console errors it logged (a Content-Security-Policy violation is one); a test fails
when its page logged an error.
"""

from __future__ import annotations

import os
import queue
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tests" / "lib"))
import dev_process  # noqa: E402  (tests/lib, shared with the other Python suite)

BINARY = Path(os.environ.get("KEYROUTE_BIN", REPO_ROOT / "target" / "debug" / "keyroute")).absolute()
CHROMIUM = os.environ.get("KEYROUTE_CHROMIUM", "/usr/bin/chromium")
READY_TIMEOUT_S = 60.0
WANTED = ("KEYROUTE_URL", "KEYROUTE_TOKEN", "KEYROUTE_VAULT_ADDR", "KEYROUTE_CERTS_DIR", "console")


@dataclass(frozen=True)
class Gateway:
    """A running `keyroute dev --mock`: its URL, the dev user's token, the printed console
    link (a one-time sign-in code) and what `keyroute admin` needs to reach its vault."""

    url: str
    token: str
    console_link: str
    admin_env: dict
    state_dir: Path
    stderr_path: Path


@dataclass
class Recorded:
    """What a page received: response bodies (text) and console errors."""

    bodies: list = field(default_factory=list)
    errors: list = field(default_factory=list)


def _parse(line: str, found: dict) -> None:
    """`KEY=value` lines (`KEYROUTE_CONSOLE_URL` is the one-time sign-in link), and the
    banner's `console: http://... (signs in once ...)` line."""
    line = line.strip()
    if line.startswith("(also in") and {"KEYROUTE_URL", "KEYROUTE_TOKEN"} <= found.keys():
        found["end"] = line
        return
    if line.startswith("console:") and "#code=" in line:
        found.setdefault("console", line.split()[1])
        return
    key, sep, value = line.partition("=")
    if sep and key == "KEYROUTE_CONSOLE_URL":
        found["console"] = value.strip().strip("'\"")
    elif sep and key in WANTED:
        found[key] = value.strip().strip("'\"")


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    if not BINARY.is_file():
        pytest.fail(f"{BINARY} is missing: build it with `cargo build --locked --bin keyroute`")
    state_dir = tmp_path_factory.mktemp("keyroute-state")
    stderr_path = tmp_path_factory.mktemp("keyroute-log") / "keyroute-dev.stderr"
    process, lines = dev_process.start(BINARY, state_dir, stderr_path)

    def log() -> str:
        return stderr_path.read_text(errors="replace")[-6000:]

    found: dict[str, str] = {}
    deadline = time.monotonic() + READY_TIMEOUT_S
    try:
        # Until every wanted line was printed, or the banner ended without one of them.
        while not set(WANTED) <= found.keys() and "end" not in found:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                missing = sorted(set(WANTED) - found.keys())
                pytest.fail(f"keyroute dev did not print {missing} within {READY_TIMEOUT_S:.0f} s; its log:\n{log()}")
            try:
                line = lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            if line is None:
                pytest.fail(f"keyroute dev exited before it was ready; its stderr:\n{log()}")
            _parse(line, found)
    except BaseException:
        dev_process.stop(process)
        raise

    missing = [k for k in ("KEYROUTE_URL", "KEYROUTE_TOKEN", "KEYROUTE_VAULT_ADDR", "KEYROUTE_CERTS_DIR") if k not in found]
    if missing:
        dev_process.stop(process)
        pytest.fail(f"keyroute dev printed no {missing}; its log:\n{log()}")
    admin_env = {k: v for k, v in os.environ.items() if not k.startswith("KEYROUTE_")}
    admin_env["KEYROUTE_VAULT_ADDR"] = found["KEYROUTE_VAULT_ADDR"]
    admin_env["KEYROUTE_CERTS_DIR"] = found["KEYROUTE_CERTS_DIR"]
    yield Gateway(
        url=found["KEYROUTE_URL"].rstrip("/"), token=found["KEYROUTE_TOKEN"], console_link=found.get("console", ""),
        admin_env=admin_env, state_dir=state_dir, stderr_path=stderr_path,
    )
    code = dev_process.stop(process)
    if code != 0:
        pytest.fail(f"keyroute dev exited {code} on SIGTERM instead of stopping cleanly; its log:\n{log()}")


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: tests/browser/run installs Debian's chromium")
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
    yield browser
    browser.close()


def _record(page: Page, recorded: Recorded) -> None:
    def on_response(response) -> None:
        try:
            recorded.bodies.append((response.url, response.text()))
        except Exception:  # noqa: BLE001 - redirects and aborted loads have no body
            pass

    def on_console(message) -> None:
        text = message.text
        # A 401 or 4xx answer is logged by Chromium as a failed load: expected in some flows.
        if message.type == "error" and "Failed to load resource" not in text:
            recorded.errors.append(text)

    page.on("response", on_response)
    page.on("console", on_console)
    page.on("pageerror", lambda error: recorded.errors.append(f"page error: {error}"))


@pytest.fixture
def recorded() -> Recorded:
    return Recorded()


@pytest.fixture
def page(browser: Browser, gateway: Gateway, recorded: Recorded) -> Iterator[Page]:
    context = browser.new_context(base_url=gateway.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    _record(page, recorded)
    yield page
    context.close()
    assert not recorded.errors, f"the page logged errors: {recorded.errors}"


@pytest.fixture
def new_page(browser: Browser, gateway: Gateway, recorded: Recorded):
    """Opens more pages, each in its own context (another person, or a phone)."""
    contexts = []

    def make(**options) -> Page:
        options.setdefault("viewport", {"width": 1280, "height": 900})
        context = browser.new_context(base_url=gateway.url, **options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        _record(page, recorded)
        return page

    yield make
    for context in contexts:
        context.close()
