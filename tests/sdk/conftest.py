"""Fixtures for the official-SDK conformance suite.

One `keyroute dev --mock` gateway per test session (vault, router, edge and mock providers in
one process, on a free loopback port, with a fresh state directory), and clients of the
official `openai` and `anthropic` SDKs pointed at it, as a user would configure them from the
gateway's dev.env. The SDKs retry nothing (max_retries=0), so every failure the gateway
returns is seen as it is.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import anthropic
import openai
import pytest

from support import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tests" / "lib"))
import dev_process  # noqa: E402  (tests/lib, shared with the other Python suite)

BINARY = Path(os.environ.get("KEYROUTE_BIN", REPO_ROOT / "target" / "debug" / "keyroute"))
READY_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 30.0

# The SDKs read their base URLs, credentials and extra headers from the environment; the suite
# must talk to its own gateway only, whatever the calling shell has exported.
for _name in list(os.environ):
    if _name.startswith(("OPENAI_", "ANTHROPIC_")):
        del os.environ[_name]


@dataclass(frozen=True)
class Gateway:
    """A running `keyroute dev --mock`: its base URL and the dev user's gateway token."""

    url: str
    token: str
    state_dir: Path
    stderr_path: Path


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
        while not {"KEYROUTE_URL", "KEYROUTE_TOKEN"} <= found.keys():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"keyroute dev printed no KEYROUTE_URL within {READY_TIMEOUT_S:.0f} s; its log:\n{log()}")
            try:
                line = lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            if line is None:  # stdout closed: the process is gone (or going)
                try:
                    code = process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    code = "still running, stdout closed"
                pytest.fail(f"keyroute dev exited ({code}) before it was ready; its stderr:\n{log()}")
            key, sep, value = line.partition("=")
            if sep and key in ("KEYROUTE_URL", "KEYROUTE_TOKEN"):
                found[key] = value.strip()
    except BaseException:
        dev_process.stop(process)
        raise

    yield Gateway(url=found["KEYROUTE_URL"].rstrip("/"), token=found["KEYROUTE_TOKEN"], state_dir=state_dir, stderr_path=stderr_path)

    # SIGTERM is a graceful stop: vault, router and edge shut down and the process exits 0.
    code = dev_process.stop(process)
    if code != 0:
        pytest.fail(f"keyroute dev exited {code} on SIGTERM instead of stopping cleanly; its log:\n{log()}")


@pytest.fixture
def openai_client(gateway: Gateway) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(
        base_url=f"{gateway.url}/v1", api_key=gateway.token, max_retries=0, timeout=REQUEST_TIMEOUT_S
    )
    yield client
    client.close()


@pytest.fixture
def anthropic_client(gateway: Gateway) -> Iterator[anthropic.Anthropic]:
    client = anthropic.Anthropic(
        base_url=gateway.url, api_key=gateway.token, max_retries=0, timeout=REQUEST_TIMEOUT_S
    )
    yield client
    client.close()


@pytest.fixture
def api(gateway: Gateway) -> Iterator[httpx.Client]:
    """A plain HTTP client for the management REST API, with the dev user's token."""
    client = httpx.Client(
        base_url=gateway.url,
        headers={"authorization": f"Bearer {gateway.token}"},
        timeout=REQUEST_TIMEOUT_S,
    )
    yield client
    client.close()
