"""`keyroute dev --mock` as a child process, for the Python suites (tests/sdk, tests/browser):
started on a free loopback port with a fresh state directory and a clean environment, its
stdout lines handed over as they come (so the pipe never fills), stopped with SIGTERM.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
from pathlib import Path

STOP_TIMEOUT_S = 20.0


def _read_lines(stream, sink: "queue.Queue[str | None]") -> None:
    """Forwards every stdout line to `sink`, then None at EOF."""
    try:
        for raw in iter(stream.readline, b""):
            sink.put(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
    finally:
        sink.put(None)


def start(binary: Path, state_dir: Path, stderr_path: Path) -> tuple[subprocess.Popen, "queue.Queue[str | None]"]:
    """Starts the gateway; returns the process and the queue its stdout lines arrive on (None
    once stdout closed). No `KEYROUTE_*` variable of the caller's reaches it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYROUTE_")}
    with open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(
            [str(binary), "dev", "--mock", "--http-addr", "127.0.0.1:0", "--state-dir", str(state_dir)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
            cwd=state_dir,
        )
    lines: "queue.Queue[str | None]" = queue.Queue()
    threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True).start()
    return process, lines


def stop(process: subprocess.Popen) -> int:
    """SIGTERM, then wait; SIGKILL only if it will not stop. Returns the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()
    return process.returncode
