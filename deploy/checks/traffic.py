"""What the smoke test sends through the running deployment and reads back from it: HTTP
calls, chat requests under load through the edge, the services' metrics (the routers'
requests, vault calls and rate-limit decisions) and the vault's usage records. The scenarios
judge by these.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

from cluster import ROUTERS, Pod
from harness import fail, run


def http(method: str, url: str, body: dict | None = None, token: str | None = None, timeout: float = 10) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError as error:
        return 0, str(error).encode()


def scrape(ip: str, port: int = 9464) -> str:
    """A metrics port's exposition."""
    status, body = http("GET", f"http://{ip}:{port}/metrics")
    if status != 200:
        fail(f"metrics at {ip}:{port}: {status} {body[:200]!r}")
    return body.decode()


def sample(text: str, name: str, having: str = "") -> float:
    """The sum of a series' samples in an exposition (those whose labels contain `having`)."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if (line.startswith(name + " ") or line.startswith(name + "{")) and having in line)


def metric(ip: str, name: str, port: int = 9464, having: str = "") -> float:
    """One series' sum, scraped now."""
    return sample(scrape(ip, port), name, having)


def served(ip: str) -> int:
    """Successful requests a router counted, from its metrics port."""
    return int(metric(ip, "keyroute_router_requests_total", having='outcome="ok"'))


class Load:
    """Chat requests through the edge, `workers` at a time, until stopped: every answer's
    start (monotonic), duration and status, and the failures' bodies."""

    def __init__(self, edge: str, token: str, workers: int = 8) -> None:
        self.results: list[tuple[float, float, int]] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "smoke"}]}

        def client() -> None:
            while not self._stop.is_set():
                started = time.monotonic()
                status, body = http("POST", f"{edge}/v1/chat/completions", chat, token)
                self.results.append((started, time.monotonic() - started, status))
                if status != 200:
                    self.errors.append(f"{status} {body[:300]!r}")

        self._workers = [threading.Thread(target=client) for _ in range(workers)]
        for worker in self._workers:
            worker.start()

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join()

    def since(self, moment: float) -> list[tuple[float, float, int]]:
        """The requests started at or after `moment`."""
        return [r for r in list(self.results) if r[0] >= moment]

    def check(self, what: str) -> None:
        if self.errors:
            fail(f"{what}: {len(self.errors)} of {len(self.results)} requests failed, first: {self.errors[0]}")


def rate_limit_counts(ip: str) -> dict[str, float]:
    """A router's rate limiter, from its metrics: decisions in Redis and alone, Redis's errors,
    refusals, and whether it counts in Redis now."""
    text = scrape(ip)
    names = {"redis": "keyroute_router_rate_limit_redis_decisions_total",
             "fallback": "keyroute_router_rate_limit_fallback_decisions_total",
             "local": "keyroute_router_rate_limit_local_decisions_total",
             "errors": "keyroute_router_rate_limit_redis_errors_total",
             "refusals": "keyroute_router_rate_limit_refusals_total",
             "up": "keyroute_router_rate_limit_redis_up"}
    return {key: sample(text, name) for key, name in names.items()}


def recorded_requests(admin: list[str], owner: str) -> int:
    """This month's requests the vault recorded for `owner`."""
    return int(json.loads(run(admin + ["billing", "usage", owner]))["total"]["requests"])


def usage_settled(pods: dict[str, Pod], admin: list[str], owner: str) -> int:
    """The requests recorded for `owner` once they are all the routers answered (the platform
    client's), so that the load's are counted from there."""
    deadline = time.monotonic() + 20
    while (recorded := recorded_requests(admin, owner)) != (answered := sum(served(pods[r].ip) for r in ROUTERS)):
        if time.monotonic() > deadline:
            fail(f"the routers answered {answered} requests but the vault recorded {recorded}")
        time.sleep(0.2)
    return recorded


def vault_calls(ip: str) -> dict[str, float]:
    """A router's calls to the vault (all, answered, revocation watches answered) and its
    requests (all, served), from one scrape."""
    text = scrape(ip)
    return {"calls": sample(text, "keyroute_router_vault_calls_total"),
            "ok": sample(text, "keyroute_router_vault_calls_total", 'code="0"'),
            "watches": sample(text, "keyroute_router_vault_calls_total", 'method="WatchRevocations",code="0"'),
            "requests": sample(text, "keyroute_router_requests_total"),
            "served": sample(text, "keyroute_router_requests_total", 'outcome="ok"')}
