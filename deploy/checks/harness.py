"""How the smoke test (smoke.py) ends and runs what it needs, shared by all of its modules: a
failure is one line on stderr and exit 1, raised from wherever the test is; a command it runs
must succeed; a server it started is stopped with the signal that server expects, then killed
if it does not stop.
"""

from __future__ import annotations

import signal
import subprocess
import sys


def fail(message: str) -> None:
    print(f"smoke: FAILED: {message}", file=sys.stderr)
    raise SystemExit(1)


def run(argv: list[str], stdin: str = "") -> str:
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True)
    if done.returncode != 0:
        fail(f"{' '.join(argv)}: {done.stderr}")
    return done.stdout


def stop(server: subprocess.Popen | None, sig: signal.Signals) -> None:
    if server is None:
        return
    server.send_signal(sig)
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
