"""Checks that keyroute's dashboard and alert rules name only metrics the services expose.

Starts `keyroute dev --mock` with the router's and vault's metrics ports on, sends a few
requests through the edge, scrapes all three `/metrics` endpoints (every metric is listed
there from the start, with its HELP and TYPE lines, even before it has a series), and
compares that with every metric name in the Grafana dashboard's PromQL and the Prometheus
rule file's expressions. Fails, naming panel or rule and metric, on any name no service has.
The rules' syntax and their unit tests are promtool's job (deploy/checks/run).

usage: observability.py KEYROUTE_BINARY DASHBOARD.json RULES.yaml
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

# PromQL words that are not metric names.
KEYWORDS = {
    "and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
    "group_left", "group_right", "inf", "nan", "atan2",
}


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects: identifiers that are not functions, keywords,
    label names (inside braces or grouping clauses), strings, durations or numbers."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', " ", expr)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\$\{?\w+\}?", " ", e)
    e = re.sub(r"(?<![A-Za-z_:])\d+(\.\d+)?([eE][+-]?\d+)?", " ", e)
    names = set()
    for match in re.finditer(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*(\()?", e):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in KEYWORDS:
            continue
        names.add(name)
    return names


def dashboard_exprs(dashboard: dict) -> list[tuple[str, str]]:
    """(panel title, expr) for every query of every panel, rows' nested panels included."""
    found = []

    def walk(panels: list) -> None:
        for panel in panels:
            for target in panel.get("targets", []):
                if target.get("expr"):
                    found.append((panel.get("title", "?"), target["expr"]))
            walk(panel.get("panels", []))

    walk(dashboard.get("panels", []))
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        if variable.get("type") == "query" and query:
            inner = re.match(r"label_values\((.*?)(,\s*\w+)?\)$", query)
            found.append((f"variable {variable['name']}", inner.group(1) if inner else query))
    return found


def rule_exprs(rules: dict) -> list[tuple[str, str]]:
    return [
        (rule.get("alert") or rule.get("record", "?"), rule["expr"])
        for group in rules.get("groups", [])
        for rule in group.get("rules", [])
    ]


def exposed(text: str) -> set[str]:
    """Series names a Prometheus text exposition offers, histograms' parts included."""
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            names.add(name)
            if kind == "histogram":
                names.update(f"{name}_{part}" for part in ("bucket", "sum", "count"))
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str, token: str | None = None, body: dict | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body else None)
    if token:
        request.add_header("authorization", f"Bearer {token}")
    if body:
        request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def scrape_running_gateway(binary: str) -> set[str]:
    router_port, vault_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as state:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEYROUTE_")}
        log = open(Path(state) / "dev.log", "wb")
        process = subprocess.Popen(
            [binary, "dev", "--mock", "--http-addr", "127.0.0.1:0", "--state-dir", state,
             "--router-metrics-addr", f"127.0.0.1:{router_port}",
             "--vault-metrics-addr", f"127.0.0.1:{vault_port}"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=state,
        )
        try:
            env_file = Path(state) / "dev.env"
            deadline = time.monotonic() + 60
            while not env_file.exists():
                if process.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"observability: keyroute dev did not start:\n{(Path(state) / 'dev.log').read_text()}")
                time.sleep(0.2)
            time.sleep(0.2)
            values = dict(
                line.split("=", 1) for line in env_file.read_text().splitlines()
                if "=" in line and not line.startswith("#")
            )
            url, token = values["KEYROUTE_URL"], values["KEYROUTE_TOKEN"]
            chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
            for body in (chat, {**chat, "stream": True}, {**chat, "model": "no-such-model"}):
                get(f"{url}/v1/chat/completions", token, body)
            names = set()
            for where in (f"{url}/metrics", f"http://127.0.0.1:{router_port}/metrics",
                          f"http://127.0.0.1:{vault_port}/metrics"):
                status, text = get(where)
                if status != 200:
                    sys.exit(f"observability: {where} answered {status}")
                names |= exposed(text)
            return names
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()


def main() -> int:
    binary, dashboard_path, rules_path = sys.argv[1:]
    binary = str(Path(binary).resolve())
    # The extractor itself, on a query shaped like the dashboard's.
    sample = 'sum by (le, provider) (rate(a_bucket{x="y",k=~"$v"}[$__rate_interval])) / on(i) b_total * 3600 / 1e6'
    assert metric_names(sample) == {"a_bucket", "b_total"}, metric_names(sample)

    queries = [("dashboard", title, expr) for title, expr in
               dashboard_exprs(json.loads(Path(dashboard_path).read_text()))]
    queries += [("rules", name, expr) for name, expr in
                rule_exprs(yaml.safe_load(Path(rules_path).read_text()))]
    wanted = {(where, title, name) for where, title, expr in queries for name in metric_names(expr)}
    if len(queries) < 10 or not wanted:
        print(f"observability: only {len(queries)} queries found; is the dashboard empty?")
        return 1

    names = scrape_running_gateway(binary)
    missing = sorted(w for w in wanted if w[2] not in names)
    for where, title, name in missing:
        print(f"observability: {where} {title!r} names {name}, which no service exposes")
    print(
        f"observability: {len(queries)} queries name {len({w[2] for w in wanted})} metrics; "
        f"the services expose {len(names)} series names: "
        f"{'ok' if not missing else f'{len(missing)} unknown'}"
    )
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
