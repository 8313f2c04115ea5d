"""Turn the runs into medians and ratios: the plain-text table, the JSON, the chart."""

from __future__ import annotations

import json
import pathlib
import statistics
import subprocess
from typing import Any

import venvs
from scenarios import SCENARIOS
from servers import PEERS

PLOT = pathlib.Path(__file__).resolve().parent / "plot.py"


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (scenario, server), in the order first run."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault((run["scenario"], run["server"]), []).append(run)
    rows = []
    for (scenario, server), group in groups.items():
        done = [r for r in group if r["ok"]]
        loads = [r["load"] for r in done]
        rss = [r["rss_kib"] for r in done if r["rss_kib"] is not None]
        rows.append({
            "scenario": scenario, "server": server,
            "rounds": len(group), "failed_rounds": len(group) - len(done),
            "rates": [load["rate"] for load in loads],
            "rate": _median([load["rate"] for load in loads]),
            "p50_ms": _median([load["p50_ms"] for load in loads]),
            "p99_ms": _median([load["p99_ms"] for load in loads]),
            "non_2xx": sum(load["non_2xx"] for load in loads),
            "socket_errors": sum(sum(load["socket_errors"].values()) for load in loads),
            "peak_rss_kib": max(rss) if rss else None,
            "server_cpu": _median([r["server_cpu"] for r in done]),
            "per_cpu_second": _median([r["per_cpu_second"] for r in done]),
            "client_cpu": _median([load["client_cpu"] for load in loads]),
        })
    add_ratios(rows)
    return rows


def add_ratios(rows: list[dict[str, Any]]) -> None:
    """fastsnake's rate over each server's, per scenario, and the scenario's headline."""
    by_scenario: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_scenario.setdefault(row["scenario"], []).append(row)
    for group in by_scenario.values():
        ours = _ours({r["server"]: r for r in group})
        for row in group:
            row["fastsnake_ratio"] = (ours["rate"] / row["rate"]
                                      if ours and ours["rate"] and row["rate"] else None)


def _ours(group: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """fastsnake's row: the plain one, else the scaling pair's one worker, else
    the thread runtime's."""
    for name in ("fastsnake", "fastsnake-1w", "fastsnake-thread"):
        if name in group:
            return group[name]
    return None


def headlines(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per scenario: fastsnake over the best peer, and its share of the ceiling."""
    out: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys(r["scenario"] for r in rows):
        group = {r["server"]: r for r in rows if r["scenario"] == name}
        line: dict[str, Any] = {}
        ours = _ours(group)
        if ours is not None and ours["server"] == "fastsnake-1w":
            ours = None  # the scaling pair has no peers
        peers = [r for s, r in group.items() if s in PEERS and r["rate"]]
        if ours and ours["rate"] and peers:
            best = max(peers, key=lambda r: r["rate"])
            line["best_peer"] = best["server"]
            line["vs_best_peer"] = ours["rate"] / best["rate"]
        costed = [r for r in peers if r["per_cpu_second"]]
        if ours and ours["per_cpu_second"] and costed:
            best = max(costed, key=lambda r: r["per_cpu_second"])
            line["best_peer_per_cpu"] = best["server"]
            line["vs_best_peer_per_cpu"] = ours["per_cpu_second"] / best["per_cpu_second"]
        ceiling = group.get("ceiling")
        if ours and ours["rate"] and ceiling and ceiling["rate"]:
            line["share_of_ceiling"] = ours["rate"] / ceiling["rate"]
        one, two = group.get("fastsnake-1w"), group.get("fastsnake-2w")
        if one and two and one["rate"] and two["rate"]:
            line["two_workers_over_one"] = two["rate"] / one["rate"]
        out[name] = line
    return out


def _num(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(rows: list[dict[str, Any]]) -> str:
    header = ["scenario", "server", "rate/s", "fs/x", "p50 ms", "p99 ms", "non2xx",
              "sockerr", "RSS MiB", "srv cpu", "per cpu-s", "gen cpu", "fail"]
    lines = [header]
    last = None
    for row in rows:
        scenario = row["scenario"] if row["scenario"] != last else ""
        last = row["scenario"]
        lines.append([
            scenario, row["server"], _num(row["rate"], ",.0f"),
            _num(row["fastsnake_ratio"], ".2f"), _num(row["p50_ms"], ".2f"),
            _num(row["p99_ms"], ".2f"), str(row["non_2xx"]), str(row["socket_errors"]),
            _num(row["peak_rss_kib"] and row["peak_rss_kib"] / 1024, ".1f"),
            _num(row["server_cpu"], ".2f"), _num(row["per_cpu_second"], ",.0f"),
            _num(row["client_cpu"], ".2f"),
            str(row["failed_rounds"]) if row["failed_rounds"] else "",
        ])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    right = {i for i in range(2, len(header))}
    out = []
    for line in lines:
        cells = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(line, widths, strict=True))]
        out.append("  ".join(cells).rstrip())
    out.insert(1, "-" * len(out[0]))
    for name, line in headlines(rows).items():
        parts = []
        if "vs_best_peer" in line:
            parts.append(f"fastsnake / best peer ({line['best_peer']}) = "
                         f"{line['vs_best_peer']:.2f}x")
        if "vs_best_peer_per_cpu" in line:
            parts.append(f"per CPU-second: / {line['best_peer_per_cpu']} = "
                         f"{line['vs_best_peer_per_cpu']:.2f}x")
        if "share_of_ceiling" in line:
            parts.append(f"fastsnake / ceiling = {line['share_of_ceiling']:.0%}")
        if "two_workers_over_one" in line:
            parts.append(f"2 workers / 1 worker = {line['two_workers_over_one']:.2f}x")
        if parts:
            out.append(f"{name}: " + "; ".join(parts))
    return "\n".join(out)


LEGEND = """\
rate/s: median over rounds of requests/s (ws-echo: echoed messages/s).
fs/x: fastsnake's median rate / this server's (>1: fastsnake is faster).
p50/p99: median over rounds of wrk's latency percentiles. non2xx, sockerr: summed over rounds.
RSS: largest VmHWM of a worker process. srv cpu / gen cpu: CPU cores used by the server's
process tree and by the load generator during the measured run (1.00 = a whole core);
this machine is shared, so a server rarely gets its whole core: per cpu-s (requests per
CPU-second of the server) is the cost view, steadier than rate/s under noise.
fail: rounds in which the server did not start or serve."""


def scenario_notes(names: list[str]) -> str:
    out = [f"{name:16} {SCENARIOS[name].about}" for name in names if name in SCENARIOS]
    return "\n".join(out)


def write_json(target: pathlib.Path, document: dict[str, Any]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(document, indent=2) + "\n")


def draw_chart(json_path: pathlib.Path, png_path: pathlib.Path, install: bool) -> str | None:
    """Draw the PNG with the plot venv's matplotlib; a reason string if not drawn."""
    if not venvs.is_installed("plot", ("matplotlib",)):
        if not install:
            return "no chart: bench/.venvs/plot is not installed (a full run installs it)"
        venvs.ensure("plot", ("matplotlib",))
    done = subprocess.run([venvs.python("plot"), str(PLOT), str(json_path), str(png_path)],
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        return f"chart failed: {done.stderr.strip()[-500:]}"
    return None
