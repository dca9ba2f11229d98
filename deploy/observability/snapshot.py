"""The dashboard as a picture: see deploy/observability/snapshot, which installs what this
needs and runs it. Starts `keyroute dev --mock` and Prometheus (scraping it every second),
drives traffic, queries every panel's PromQL over the traffic window and renders the panels
with Chart.js into one static page, screenshotted by Playwright with Debian's Chromium."""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import random
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

# Grafana's variables as the picture uses them: every provider, and a rate window of four
# scrapes (Grafana's $__rate_interval for a 1 s scrape interval).
VARIABLES = {"$__rate_interval": "10s", "$provider": ".*", "${datasource}": ""}
COLORS = ["#73bf69", "#f2cc0c", "#5794f2", "#ff780a", "#f2495c", "#b877d9", "#8ab8ff",
          "#ff9830", "#96d98d", "#ca95e5", "#fade2a", "#37872d", "#c4162a", "#1f60c4"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(url: str, token: str | None = None, body: dict | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body else None)
    if token:
        request.add_header("authorization", f"Bearer {token}")
    if body is not None:
        request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_gateway(binary: str, state: Path, router_port: int, vault_port: int) -> tuple[subprocess.Popen, dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYROUTE_")}
    process = subprocess.Popen(
        [binary, "dev", "--mock", "--http-addr", "127.0.0.1:0", "--state-dir", str(state),
         "--router-metrics-addr", f"127.0.0.1:{router_port}",
         "--vault-metrics-addr", f"127.0.0.1:{vault_port}"],
        stdin=subprocess.DEVNULL, stdout=open(state / "dev.log", "wb"),
        stderr=subprocess.STDOUT, env=env, cwd=state,
    )
    env_file = state / "dev.env"
    deadline = time.monotonic() + 60
    while not env_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"keyroute dev did not start:\n{(state / 'dev.log').read_text()}")
        time.sleep(0.2)
    time.sleep(0.3)
    values = dict(line.split("=", 1) for line in env_file.read_text().splitlines()
                  if "=" in line and not line.startswith("#"))
    return process, values


def start_prometheus(state: Path, targets: list[str], port: int) -> subprocess.Popen:
    config = state / "prometheus.yml"
    jobs = "\n".join(
        f"  - job_name: {name}\n    static_configs:\n      - targets: ['{target}']"
        for name, target in zip(["edge", "router", "vault"], targets)
    )
    config.write_text(f"global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n{jobs}\n")
    return subprocess.Popen(
        ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={state / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}", "--enable-feature=exemplar-storage"],
        stdin=subprocess.DEVNULL, stdout=open(state / "prometheus.log", "wb"), stderr=subprocess.STDOUT,
    )


def drive(url: str, token: str, seconds: float) -> None:
    """A few minutes of mixed traffic in waves: chats and streams on several managed models,
    a user's own key the provider refuses (it falls back to the platform's), unknown models."""
    # A personal key for Mistral the mock refuses: tried first, then the managed key serves.
    http(f"{url}/api/v1/keys", token, {"provider": "mistral", "secret": "sk-refused-by-the-mock-0000"})
    models = ["gpt-4o-mini", "claude-sonnet-4-5", "gemini-2.5-flash", "mistral-large-latest", "gpt-4o"]
    started = time.monotonic()
    rng = random.Random(18)

    def one(i: int) -> None:
        model = rng.choice(models)
        if i % 23 == 0:
            model = f"no-such-model-{i % 3}"
        stream = i % 3 == 0
        words = " ".join(["tell me about observability"] * rng.randint(1, 12))
        if "claude" in model and not stream:
            body = {"model": model, "max_tokens": 200, "messages": [{"role": "user", "content": words}]}
            http(f"{url}/v1/messages", token, body)
        else:
            body = {"model": model, "stream": stream, "messages": [{"role": "user", "content": words}]}
            http(f"{url}/v1/chat/completions", token, body)

    i = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        while time.monotonic() - started < seconds:
            elapsed = time.monotonic() - started
            # Waves: between 5 and 25 requests a second.
            rate = 15 + 10 * __import__("math").sin(elapsed / 20)
            list(pool.map(one, range(i, i + int(rate))))
            i += int(rate)
            time.sleep(max(0.0, 1.0 - (time.monotonic() - started - elapsed)))


def query_range(prometheus: str, expr: str, start: float, end: float) -> list[dict]:
    for name, value in VARIABLES.items():
        expr = expr.replace(name, value)
    params = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": "2"})
    status, body = http(f"{prometheus}/api/v1/query_range?{params}")
    answer = json.loads(body)
    if status != 200 or answer.get("status") != "success":
        raise SystemExit(f"query failed ({status}): {expr}\n{body[:300]!r}")
    return answer["data"]["result"]


def legend(template: str, labels: dict) -> str:
    out = template
    for key, value in labels.items():
        out = out.replace("{{" + key + "}}", value)
    return out.replace("{{", "").replace("}}", "") or "value"


def render_html(dashboard: dict, data: list[dict], chart_js: str, window: tuple[float, float]) -> str:
    cells = []
    for n, panel in enumerate(data):
        if panel["type"] == "row":
            cells.append(f'<div class="row">{panel["title"]}</div>')
            continue
        cells.append(
            f'<div class="panel" style="grid-column: span {panel["w"]}"><div class="title">{panel["title"]}</div>'
            f'<div class="chart"><canvas id="c{n}"></canvas></div></div>')
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{dashboard['title']}</title>
<style>
body {{ background:#111217; color:#ccccdc; font-family: Inter, Helvetica, Arial, sans-serif; margin:0; padding:16px; width:1568px; }}
h1 {{ font-size:20px; font-weight:500; margin:0 0 4px 4px; }}
.sub {{ color:#8e8e98; font-size:12px; margin:0 0 12px 4px; }}
.grid {{ display:grid; grid-template-columns: repeat(24, 1fr); gap:8px; }}
.row {{ grid-column: span 24; font-size:15px; font-weight:500; margin:10px 0 0 4px; }}
.panel {{ background:#181b1f; border:1px solid #2c3235; border-radius:2px; padding:6px 8px 8px; }}
.title {{ font-size:13px; font-weight:500; margin-bottom:4px; }}
.chart {{ position:relative; height:230px; }}
</style><script>{Path(chart_js).read_text()}</script></head><body>
<h1>{dashboard['title']}</h1>
<div class="sub">{dashboard['description']} Rendered from Prometheus (1 s scrapes) on keyroute dev --mock traffic; the same PromQL as deploy/observability/grafana/keyroute.json.</div>
<div class="grid">{''.join(cells)}</div>
<script>
const data = {json.dumps(data)};
Chart.defaults.color = '#8e8e98'; Chart.defaults.borderColor = '#2c3235';
Chart.defaults.font.size = 10; Chart.defaults.animation = false;
function fmt(unit, v) {{
  if (v === null || v === undefined) return '';
  if (unit === 's') return v >= 1 ? v.toFixed(2) + ' s' : v >= 0.001 ? (v * 1e3).toFixed(1) + ' ms' : (v * 1e6).toFixed(0) + ' µs';
  if (unit === 'percentunit') return (v * 100).toFixed(1) + '%';
  if (unit === 'currencyUSD') return '$' + v.toFixed(v < 1 ? 4 : 2);
  if (unit === 'reqps') return v.toFixed(v < 10 ? 2 : 0) + ' req/s';
  return Math.abs(v) >= 1000 ? (v / 1000).toFixed(1) + 'k' : v.toFixed(v < 10 ? 2 : 0);
}}
data.forEach((panel, n) => {{
  if (panel.type === 'row') return;
  new Chart(document.getElementById('c' + n), {{
    type: 'line',
    data: {{ datasets: panel.series.map((s, i) => ({{
      label: s.label, data: s.points.map(([x, y]) => ({{x: x * 1000, y}})),
      borderColor: {json.dumps(COLORS)}[i % {len(COLORS)}], backgroundColor: {json.dumps(COLORS)}[i % {len(COLORS)}] + (panel.stack ? '66' : '22'),
      fill: panel.stack ? (i === 0 ? 'origin' : '-1') : false, pointRadius: 0, borderWidth: 1.4, tension: 0.2,
    }})) }},
    options: {{
      maintainAspectRatio: false, parsing: false, spanGaps: true,
      scales: {{
        x: {{ type: 'linear', min: {window[0] * 1000}, max: {window[1] * 1000}, ticks: {{ maxTicksLimit: 6, callback: v => new Date(v).toISOString().substr(11, 5) }} }},
        y: {{ stacked: !!panel.stack, beginAtZero: true, ticks: {{ maxTicksLimit: 5, callback: v => fmt(panel.unit, v) }} }},
      }},
      plugins: {{ legend: {{ position: 'bottom', labels: {{ boxWidth: 10, boxHeight: 2, padding: 6 }} }} }},
    }},
  }});
}});
window.rendered = true;
</script></body></html>"""


def screenshot(html: Path, png: Path) -> None:
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1600, "height": 1000}, device_scale_factor=1)
        page.goto(html.resolve().as_uri())
        page.wait_for_function("window.rendered === true")
        page.screenshot(path=str(png), full_page=True)
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    for flag in ("--keyroute", "--chart-js", "--dashboard", "--html", "--png"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--seconds", type=float, default=150)
    args = parser.parse_args()
    dashboard = json.loads(Path(args.dashboard).read_text())
    with tempfile.TemporaryDirectory() as scratch:
        state = Path(scratch)
        router_port, vault_port, prometheus_port = free_port(), free_port(), free_port()
        gateway, values = start_gateway(args.keyroute, state, router_port, vault_port)
        prometheus = start_prometheus(
            state,
            [values["KEYROUTE_URL"].removeprefix("http://"), f"127.0.0.1:{router_port}", f"127.0.0.1:{vault_port}"],
            prometheus_port,
        )
        try:
            time.sleep(3)
            start = time.time()
            drive(values["KEYROUTE_URL"], values["KEYROUTE_TOKEN"], args.seconds)
            time.sleep(3)
            end = time.time()
            prom = f"http://127.0.0.1:{prometheus_port}"
            data = []
            for panel in dashboard["panels"]:
                if panel["type"] == "row":
                    data.append({"type": "row", "title": panel["title"]})
                    continue
                series = []
                for target in panel["targets"]:
                    for result in query_range(prom, target["expr"], start, end):
                        points = [[float(t), None if v in ("NaN", "+Inf", "-Inf") else float(v)]
                                  for t, v in result["values"]]
                        series.append({"label": legend(target.get("legendFormat", ""), result["metric"]),
                                       "points": points})
                data.append({"type": "panel", "title": panel["title"], "w": panel["gridPos"]["w"],
                             "unit": panel["fieldConfig"]["defaults"].get("unit", ""),
                             "stack": panel["fieldConfig"]["defaults"]["custom"]["stacking"]["mode"] == "normal",
                             "series": series})
            empty = [d["title"] for d in data if d["type"] == "panel" and not d["series"]]
            if empty:
                print(f"snapshot: panels without data: {empty}")
        finally:
            stop(prometheus)
            stop(gateway)
    html = Path(args.html)
    html.write_text(render_html(dashboard, data, args.chart_js, (start, end)))
    screenshot(html, Path(args.png))
    print(f"snapshot: {args.png}")


if __name__ == "__main__":
    main()
