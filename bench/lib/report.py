"""bench/lib/report.py: the markdown tables of bench/run, from its JSON lines.

usage: report.py RESULTS.jsonl --paths "direct keyroute ..." [options]        (the main table)
       report.py RESULTS.jsonl --soak --paths "keyroute production" [options] (the soak)

Each line of RESULTS is {"path", "kind", ...}: kinds rate200, stream200, long200 and rate2000 carry
keyroute-load's result, saturate wrk's req/s, rss the resident memory of each process,
oha oha's JSON; soak runs add minute, soak and rss_sample lines. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict

NAMES = {"direct": "direct", "keyroute": "keyroute dev", "production": "production (3 processes)", "litellm": "LiteLLM"}
GATEWAYS_WITH_GOALS = ("keyroute", "production")

# Issue 19's goals for what keyroute adds, in ms, per percentile (None: no goal).
GOAL_2000 = (0.25, 1.0, 3.0)
GOAL_TTFB = (0.3, 1.0, None)
GOAL_SATURATION = 16_000  # req/s on wrk, 32 connections
GOAL_LITELLM_RATIO = 100  # keyroute's saturation at least this many times LiteLLM's
GOAL_RSS_MB = 60  # per process
GOAL_SOAK_P999_MS = 3.0
# The soak's constant rate, req/s (bench/lib/soak.sh's SOAK_RATE).
SOAK_RATE = 1000
# Resident memory counts as flat when the last sample is within this of the baseline (the
# sample at 60 s, or the first at 10 s or later in a soak shorter than 2 minutes).
FLAT_MB, FLAT_FRACTION = 5.0, 0.10

PASS, FAIL = "✓", "✗"


def ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    if abs(value) < 1:
        return f"{value:.3f}"
    if abs(value) < 10:
        return f"{value:.2f}"
    return f"{value:.1f}"


def mark(value: float | None, goal: float | None, at_most: bool = True) -> str:
    if value is None or goal is None:
        return ""
    ok = value <= goal if at_most else value >= goal
    return " " + (PASS if ok else FAIL)


def load_results(path: str) -> dict[str, dict[str, list[dict]]]:
    results: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            line = line.strip()
            if line:
                entry = json.loads(line)
                results[entry["path"]][entry["kind"]].append(entry)
    return results


class Table:
    def __init__(self, results: dict, paths: list[str]) -> None:
        self.results, self.paths = results, paths

    def one(self, path: str, kind: str) -> dict | None:
        entries = self.results.get(path, {}).get(kind, [])
        return entries[-1] if entries else None

    def load(self, path: str, kind: str) -> dict | None:
        entry = self.one(path, kind)
        return entry["result"] if entry else None

    def triple(self, path: str, kind: str, keys: tuple[str, str, str]) -> tuple | None:
        result = self.load(path, kind)
        if not result or not result.get("requests"):
            return None
        return tuple(result.get(k) for k in keys)

    def latency_row(self, label: str, kind: str, keys: tuple[str, str, str], goal: tuple | None) -> str:
        direct = self.triple("direct", kind, keys)
        cells = [label]
        for path in self.paths:
            figures = self.triple(path, kind, keys)
            result = self.load(path, kind) or {}
            if result.get("overloaded"):
                # Past its capacity the queue only grew until keyroute-load gave up: the
                # percentiles measure how long it ran, not the gateway.
                achieved = result.get("achieved_rps", result.get("rps", 0))
                cells.append(f"over capacity ({achieved:,.0f} req/s answered)")
                if path != "direct":
                    cells.append("n/a" + (" " + FAIL if goal and path in GATEWAYS_WITH_GOALS else ""))
                continue
            cells.append(" / ".join(ms(v) for v in figures) if figures else "n/a")
            if path == "direct":
                continue
            if not figures or not direct:
                cells.append("n/a")
                continue
            added = [None if a is None or d is None else a - d for a, d in zip(figures, direct)]
            checked = goal if goal and path in GATEWAYS_WITH_GOALS else (None, None, None)
            cells.append(" / ".join(ms(a) + mark(a, g) for a, g in zip(added, checked)))
        cells.append("≤ " + " / ".join("–" if g is None else f"{g:g}" for g in goal) if goal else "–")
        return "| " + " | ".join(cells) + " |"

    def saturation_row(self, label: str) -> str:
        rps = {p: (self.one(p, "saturate") or {}).get("rps") for p in self.paths}
        cells = [label]
        for path in self.paths:
            value = rps.get(path)
            cells.append(f"{value:,.0f}" if value is not None else "n/a")
            if path == "direct":
                continue
            if value is None:
                cells.append("n/a")
                continue
            added = f"{value / rps['direct']:.3f}× direct" if rps.get("direct") else ""
            if path in GATEWAYS_WITH_GOALS:
                added += mark(value, GOAL_SATURATION, at_most=False)
                if rps.get("litellm"):
                    ratio = value / rps["litellm"]
                    added += f"; {ratio:,.0f}× LiteLLM" + mark(ratio, GOAL_LITELLM_RATIO, at_most=False)
            cells.append(added)
        cells.append(f"≥ {GOAL_SATURATION:,} req/s and ≥ {GOAL_LITELLM_RATIO}× LiteLLM")
        return "| " + " | ".join(cells) + " |"

    def rss_row(self, label: str) -> str:
        cells = [label]
        for path in self.paths:
            entry = self.one(path, "rss")
            mb = entry["mb"] if entry else {}
            parts = []
            for name, value in mb.items():
                goal = GOAL_RSS_MB if path in GATEWAYS_WITH_GOALS else None
                parts.append(f"{name} {value:.0f}" + mark(value, goal) if value is not None else f"{name} n/a")
            cells.append(", ".join(parts) or "n/a")
            if path != "direct":
                cells.append("")
        cells.append(f"≤ {GOAL_RSS_MB} MB per process")
        return "| " + " | ".join(cells) + " |"

    def plain_row(self, label: str, cell) -> str:
        cells = [label]
        for path in self.paths:
            cells.append(cell(path))
            if path != "direct":
                cells.append("")
        cells.append("")
        return "| " + " | ".join(cells) + " |"

    def achieved(self, path: str) -> str:
        parts = []
        for kind in ("rate2000", "rate200", "stream200", "long200"):
            result = self.load(path, kind)
            if result:
                achieved = result.get("achieved_rps", result["rps"])
                parts.append(f"{achieved:,.0f}" + (" (gave up)" if result.get("overloaded") else ""))
            else:
                parts.append("n/a")
        return " / ".join(parts)

    def errors(self, path: str) -> str:
        total = 0
        for kind, entries in self.results.get(path, {}).items():
            for entry in entries:
                if kind == "saturate":
                    total += entry.get("errors") or 0
                elif "result" in entry and isinstance(entry["result"], dict):
                    total += entry["result"].get("errors") or 0
        return str(total)


def oha_figures(entry: dict | None) -> tuple | None:
    if not entry:
        return None
    result = entry["result"]
    percentiles = result.get("latencyPercentiles") or {}
    try:
        return tuple(percentiles[k] * 1000 for k in ("p50", "p99", "p99.9"))
    except (KeyError, TypeError):
        return None


def main_table(args: argparse.Namespace, results: dict) -> None:
    paths = args.paths.split()
    table = Table(results, paths)
    header = ["metric"]
    for path in paths:
        header.append(NAMES.get(path, path))
        if path != "direct":
            header.append("added")
    header.append("goal (added by keyroute)")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" + "---:|" * (len(header) - 2) + "---|")
    print(table.latency_row("p50 / p99 / p99.9 at 2,000 req/s (16 connections), ms", "rate2000",
                            ("p50_ms", "p99_ms", "p999_ms"), GOAL_2000))
    print(table.latency_row("p50 / p99 / p99.9 at 200 req/s (8 connections), ms", "rate200",
                            ("p50_ms", "p99_ms", "p999_ms"), None))
    print(table.latency_row("stream first byte p50 / p99 / p99.9 at 200 req/s, ms", "stream200",
                            ("ttfb_p50_ms", "ttfb_p99_ms", "ttfb_p999_ms"), GOAL_TTFB))
    print(table.latency_row("a long agent turn (105 KB request) p50 / p99 / p99.9 at 200 req/s, ms", "long200",
                            ("p50_ms", "p99_ms", "p999_ms"), None))
    print(table.saturation_row(f"saturation, req/s (wrk, 32 connections, {args.seconds} s)"))
    print(table.rss_row("resident memory after the load, MB"))
    print(table.plain_row("achieved req/s at 2,000 / 200 / 200 stream / 200 long (answers in the window)", table.achieved))
    print(table.plain_row("failed requests (all measurements)", table.errors))
    print()
    print(f"{PASS} meets issue 19's goal, {FAIL} misses it. Latency is keyroute-load's, from each request's "
          "scheduled start (an open loop on a precise schedule: queueing behind a slow answer counts); "
          "\"added\" is the gateway's figure minus direct's at the same percentile, in the same run.")
    print()
    awake_note = " (CPUs kept awake)" if args.keep_awake == "1" else ""
    checks = [("rate200", "oha", awake_note)]
    if args.keep_awake != "1":
        checks.append(("rate200_awake", "oha_awake", " with the CPUs kept awake by lowest-priority spinners"))
    lines = []
    for load_kind, oha_kind, note in checks:
        direct = table.load("direct", load_kind)
        if direct and direct.get("requests"):
            lines.append(f"- keyroute-load{note}, from the scheduled start: {ms(direct['p50_ms'])} / "
                         f"{ms(direct['p99_ms'])} / {ms(direct['p999_ms'])}; from the request's write: "
                         f"{ms(direct['service_p50_ms'])} / {ms(direct['service_p99_ms'])} / "
                         f"{ms(direct['service_p999_ms'])}; its own dispatch delay (schedule to write): "
                         f"{ms(direct['dispatch_p50_ms'])} / {ms(direct['dispatch_p99_ms'])} / "
                         f"{ms(direct['dispatch_p999_ms'])}")
        oha = oha_figures(table.one("direct", oha_kind))
        if oha:
            lines.append(f"- oha {args.oha}{note} (-q 200 -c 8, from the request's start): "
                         + " / ".join(ms(v) for v in oha))
    if lines:
        print("Harness check, direct to the mock at 200 req/s over 8 connections (p50 / p99 / p99.9, ms):")
        print()
        print("\n".join(lines))
        print()
    stalls = []
    for path in paths:
        r = table.load(path, "rate2000")
        if r and "pacer_stalls" in r:
            worst = f" (worst {ms(r['pacer_worst_ms'])} ms)" if r["pacer_stalls"] else ""
            stalls.append(f"{NAMES.get(path, path)} {r['pacer_stalls']}{worst}")
    if stalls:
        print("Load generator stalls during the 2,000 req/s measurements (its pacing thread more than "
              "2 ms late: the host stopped its virtual CPU, or every CPU was busy; requests due "
              "meanwhile left late; direct's count is the machine's baseline): "
              + ", ".join(stalls) + ".")
        print()
    loads = [e["load1"] for kinds in results.values() for entries in kinds.values() for e in entries
             if isinstance(e.get("load1"), (int, float))]
    during = f"; 1-minute load average {min(loads):g} to {max(loads):g} as the measurements ended" if loads else ""
    print(f"Machine: {args.cores} cores shared by load generator, mock and gateway; load average "
          f"(1/5/15 min) {args.load} at the start, {args.load_after} at the end{during}. Mock: {args.mock}. "
          f"{args.seconds} s per measurement after 1 s of warm-up, one path at a time"
          + (f"; LiteLLM {args.litellm} with 1 worker" if "litellm" in paths else "; LiteLLM skipped")
          + ("" if "production" in paths else "; production processes skipped")
          + ("; every CPU kept awake by lowest-priority spinners (--keep-awake)" if args.keep_awake == "1" else "")
          + ("; production's edge on CPU 0, its router and vault on the other CPUs (--own-cpus)"
             if args.own_cpus == "1" and "production" in paths else "")
          + ".")
    if args.errors or args.failed_runs:
        print()
        print(f"**{args.errors} failed requests and {args.failed_runs} failed measurements in this run.**")


def stalls_cell(result: dict) -> str:
    """The load generator's own stalls in a result: how many, and the worst."""
    if "pacer_stalls" not in result:
        return "–"
    if not result["pacer_stalls"]:
        return "0"
    return f"{result['pacer_stalls']} ({ms(result['pacer_worst_ms'])})"


def soak_table(args: argparse.Namespace, results: dict) -> None:
    print(f"Soak: {args.seconds} s at a constant 1,000 req/s (16 connections), per path. Latency "
          "from each request's scheduled start, per minute of completed requests; resident memory "
          "sampled every 10 s.")
    print()
    verdicts = []
    for path in args.paths.split():
        kinds = results.get(path, {})
        print(f"### {NAMES.get(path, path)}")
        print()
        print("| minute | requests | p50 ms | p99 ms | p99.9 ms | max ms | errors | generator stalls (worst ms) |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        worst = None
        for entry in kinds.get("minute", []):
            r = entry["result"]
            # The load generator's trailing interval holds what completed after the last full
            # minute: often a request or two, whose p99.9 is their slowest. Judged only when it
            # holds at least a second's worth of requests.
            partial = r["interval"] == "last" and r["requests"] < SOAK_RATE
            if not partial:
                worst = r["p999_ms"] if worst is None else max(worst, r["p999_ms"])
            verdict = " (partial, not judged)" if partial else mark(r["p999_ms"], GOAL_SOAK_P999_MS)
            print(f"| {r['interval']} | {r['requests']:,} | {ms(r['p50_ms'])} | {ms(r['p99_ms'])} | "
                  f"{ms(r['p999_ms'])}{verdict} | {ms(r['max_ms'])} | {r['errors']} | {stalls_cell(r)} |")
        total = kinds.get("soak", [{}])[-1].get("result") if kinds.get("soak") else None
        if total and total.get("overloaded"):
            verdicts.append(f"{NAMES.get(path, path)}: fell behind the schedule by more than the give-up "
                            f"delay and stopped early {FAIL}")
        if total:
            print(f"| all | {total['requests']:,} | {ms(total['p50_ms'])} | {ms(total['p99_ms'])} | "
                  f"{ms(total['p999_ms'])} | {ms(total['max_ms'])} | {total['errors']} | {stalls_cell(total)} |")
        print()
        samples = kinds.get("rss_sample", [])
        names = list(samples[0]["mb"]) if samples else []
        if samples:
            print("| t, s | " + " | ".join(f"{n} MB" for n in names) + " |")
            print("|---:|" + "---:|" * len(names))
            for s in samples:
                print(f"| {s['t']} | " + " | ".join(ms(s["mb"].get(n)) for n in names) + " |")
            print()
            base = next((s for s in samples if s["t"] >= 60), None) if args.seconds >= 120 else None
            base = base or next((s for s in samples if s["t"] >= 10), samples[0])
            last = samples[-1]
            for n in names:
                b, e = base["mb"].get(n), last["mb"].get(n)
                if b is None or e is None:
                    continue
                flat = e - b <= max(FLAT_MB, FLAT_FRACTION * b)
                minutes = max((last["t"] - base["t"]) / 60, 1e-9)
                verdicts.append(f"{NAMES.get(path, path)} {n}: {b:.1f} MB at {base['t']} s, {e:.1f} MB at "
                                f"{last['t']} s ({(e - b) / minutes:+.2f} MB/min): "
                                + ("flat " + PASS if flat else "grew " + FAIL)
                                + ("" if e <= GOAL_RSS_MB else f", above {GOAL_RSS_MB} MB {FAIL}"))
        if worst is not None:
            verdicts.append(f"{NAMES.get(path, path)}: worst minute's p99.9 {ms(worst)} ms"
                            + mark(worst, GOAL_SOAK_P999_MS) + f" (goal under {GOAL_SOAK_P999_MS:g} ms in every minute)")
    print("Verdicts (resident memory counts as flat when the last sample is within "
          f"max({FLAT_MB:g} MB, {FLAT_FRACTION:.0%}) of the sample at 60 s, or at 10 s in a soak shorter than 2 minutes):")
    print()
    for v in verdicts:
        print(f"- {v}")
    print()
    print(f"Machine: {args.cores} cores; load average (1/5/15 min) {args.load} at the start, "
          f"{args.load_after} at the end. Mock: {args.mock}.")
    if args.errors or args.failed_runs:
        print()
        print(f"**{args.errors} failed requests and {args.failed_runs} failed measurements in this run.**")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("results")
    parser.add_argument("--paths", required=True)
    parser.add_argument("--soak", action="store_true")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--cores", default="?")
    parser.add_argument("--load", default="?")
    parser.add_argument("--load-after", default="?")
    parser.add_argument("--mock", default="?")
    parser.add_argument("--litellm", default="")
    parser.add_argument("--oha", default="")
    parser.add_argument("--keep-awake", default="0")
    parser.add_argument("--own-cpus", default="0")
    parser.add_argument("--errors", type=int, default=0)
    parser.add_argument("--failed-runs", type=int, default=0)
    args = parser.parse_args()
    results = load_results(args.results)
    if args.soak:
        soak_table(args, results)
    else:
        main_table(args, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
