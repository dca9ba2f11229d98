"""Small helpers shared by the SDK conformance tests (no fixtures here: see conftest.py)."""

from __future__ import annotations

import base64
import struct
import time
import zlib
from typing import Callable, Mapping, TypeVar

try:  # the HTTP client the SDKs themselves depend on (httpx2 in current releases)
    import httpx2 as httpx  # noqa: F401 - re-exported for conftest and the REST tests
except ImportError:  # pragma: no cover - older SDK releases use httpx
    import httpx  # type: ignore[no-redef]  # noqa: F401

T = TypeVar("T")

OPENAI_MODEL = "gpt-4o-mini"
ANTHROPIC_MODEL = "claude-haiku-4-5"  # claude-sonnet-4-5 draws a DeprecationWarning from anthropic 2.12

# What the mock providers answer (crates/mock-providers/src/answer.rs): text echoes the last
# user message; a request offering tools gets a call to the first tool with arguments
# {"query": <last user text>}; thinking requests get this reasoning text and a signature
# starting with SIGNATURE_PREFIX; signatures, tool results and images the request carried are
# listed after the echo. Token counts are word counts.
THINKING_TEXT = "Thinking about it."
SIGNATURE_PREFIX = "mock-signature-"


def words(*texts: str) -> int:
    """The mock's token count: whitespace-separated words."""
    return sum(len(text.split()) for text in texts)


def tiny_png(width: int = 2, height: int = 2) -> bytes:
    """A valid RGB PNG of the given size, built here (no image files in the repo)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def png_data_url() -> str:
    return "data:image/png;base64," + base64.b64encode(tiny_png()).decode("ascii")


def png_base64() -> str:
    return base64.b64encode(tiny_png()).decode("ascii")


def served_by(headers: Mapping[str, str]) -> dict[str, str | None]:
    """The gateway's who-served-it headers."""
    return {
        name: headers.get(name)
        for name in ("x-keyroute-provider", "x-keyroute-key-source", "x-keyroute-credential", "x-request-id")
    }


def header_fingerprint(api_fingerprint: str) -> str:
    """The management API shows fingerprints as `openai:…0001` (U+2026); the router writes the
    `x-keyroute-credential` header in ASCII, `openai:...0001` (services/router/src/service/chat.rs)."""
    return api_fingerprint.replace("\u2026", "...")


def eventually(check: Callable[[], T], *, timeout: float = 5.0, interval: float = 0.1) -> T:
    """Runs `check` until it stops raising AssertionError, at most `timeout` seconds: for
    changes that reach routing asynchronously (the vault pushes revocations within ~1 s and
    routers cache leases briefly). The last failure is raised as is."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
        time.sleep(interval)
