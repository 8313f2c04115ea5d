"""Multi-worker scaling: fastsnake and Granian with 1, 2, 4, 8 workers.

    python bench/scaling.py                       # needs a machine with >= 12 cores
    python bench/scaling.py --workers 1,2 --server-cpus 0-1 --load-cpus 2-3

What two cores cannot show: how requests/s grows with worker processes.
Each server gets the cores ``--server-cpus`` (all of them, whatever its
worker count, as a user's machine would give it), wrk gets the disjoint
``--load-cpus`` with one thread per core there, and rounds are interleaved
(fastsnake N, Granian N, fastsnake N, ...) so drift hits both alike. Prints
medians per (app, workers) and fastsnake's ratio to Granian, and writes
bench/results/scaling-<timestamp>.json. ``--granian-python`` names the
interpreter that has Granian (the harness's venv by default).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import sys
import tempfile
import time

import procs
import venvs
import wrk
from servers import APPS, CADDYFILE

BENCH = pathlib.Path(__file__).resolve().parent
APPS_UNDER_TEST = {"wsgi": "wsgi_apps:hello", "asgi": "asgi_apps:hello"}


def cpu_list(spec: str) -> list[int]:
    """``0-3,8`` -> [0, 1, 2, 3, 8] (taskset's syntax)."""
    cores: list[int] = []
    for part in spec.split(","):
        first, _, last = part.partition("-")
        cores += range(int(first), int(last or first) + 1)
    return cores


def fastsnake_argv(interface: str, workers: int, port: int, folder: pathlib.Path) -> list[str]:
    caddyfile = folder / "Caddyfile"
    caddyfile.write_text(CADDYFILE.format(port=port, interface=interface,
                                          target=APPS_UNDER_TEST[interface], apps=APPS,
                                          workers=workers, runtime=""))
    return [sys.executable, "-m", "fastsnake", "run", "--config", str(caddyfile)]


def granian_argv(python: str, interface: str, workers: int, port: int) -> list[str]:
    return [python, "-m", "granian", "--interface", interface, "--host", "127.0.0.1",
            "--port", str(port), "--workers", str(workers), "--runtime-mode", "st",
            "--loop", "uvloop", "--no-access-log", "--log-level", "warning",
            "--working-dir", str(APPS), APPS_UNDER_TEST[interface]]


def measure(argv: list[str], port: int, folder: pathlib.Path, args: argparse.Namespace,
            load_threads: int) -> float:
    server = procs.RunningServer(argv, args.server_cpus, folder, True)
    try:
        server.wait_ready(port, timeout=60)
        url = f"http://127.0.0.1:{port}/"
        wrk.run(wrk.command(url, connections=args.connections, duration=1,
                            threads=load_threads, cpus=args.load_cpus), timeout=60)
        result = wrk.run(wrk.command(url, connections=args.connections,
                                     duration=args.duration, threads=load_threads,
                                     cpus=args.load_cpus), timeout=args.duration + 60)
        if result.non_2xx or sum(result.socket_errors.values()):
            print(f"  {result.non_2xx} non-2xx, socket errors {result.socket_errors}",
                  file=sys.stderr)
        return result.rate
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2,4,8")
    parser.add_argument("--apps", default="wsgi,asgi")
    parser.add_argument("--server-cpus", default="0-7")
    parser.add_argument("--load-cpus", default="8-15")
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--granian-python", default=None)
    args = parser.parse_args()
    granian_python = args.granian_python or venvs.python("granian")
    load_threads = len(cpu_list(args.load_cpus))
    counts = [int(n) for n in args.workers.split(",")]
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="fastsnake-scaling-") as tmp:
        folder = pathlib.Path(tmp)
        for interface in args.apps.split(","):
            for workers in counts:
                for round_number in range(args.rounds):
                    for name in ("fastsnake", "granian"):
                        port = procs.free_port()
                        argv = (fastsnake_argv(interface, workers, port, folder)
                                if name == "fastsnake"
                                else granian_argv(granian_python, interface, workers, port))
                        rps = measure(argv, port, folder, args, load_threads)
                        key = f"{interface} {workers} {name}"
                        results.setdefault(key, []).append(rps)
                        print(f"{key} round {round_number + 1}: {rps:,.0f} req/s",
                              file=sys.stderr, flush=True)
    print("\n| app | workers | fastsnake | Granian | ratio |\n|---|---:|---:|---:|---:|")
    table = []
    for interface in args.apps.split(","):
        for workers in counts:
            ours = statistics.median(results[f"{interface} {workers} fastsnake"])
            theirs = statistics.median(results[f"{interface} {workers} granian"])
            table.append({"app": interface, "workers": workers, "fastsnake": ours,
                          "granian": theirs})
            print(f"| {interface} hello | {workers} | {ours:,.0f} | {theirs:,.0f} "
                  f"| {ours / theirs:.2f}x |")
    out = BENCH / "results"
    out.mkdir(exist_ok=True)
    path = out / f"scaling-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "server_cpus": args.server_cpus, "load_cpus": args.load_cpus,
                    "connections": args.connections, "duration": args.duration,
                    "rounds": args.rounds, "wrk": wrk.version()},
        "medians": table, "rounds": results}, indent=1))
    print(f"\nwrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
