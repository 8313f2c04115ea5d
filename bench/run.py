"""Side-by-side benchmark of fastsnake and its peers: one command.

    python bench/run.py                      # every scenario, 3 rounds x 5 s
    python bench/run.py --quick              # CI smoke: 1 round x 2 s, 2 scenarios
    python bench/run.py --scenarios wsgi-hello,ws-echo --servers fastsnake,granian
    python bench/run.py --load-generator h2load   # the same under nghttp2's h2load

Each server runs one worker pinned to core 0, the load generator is pinned to
core 1; servers start fresh for every (scenario, server, round), and rounds are
interleaved (A B C A B C) so drift on this noisy machine hits every server alike.
Prints a table of medians and writes bench/results/<timestamp>.json and .png.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

import h2load
import procs
import report
import wrk
from scenarios import QUICK, SCENARIOS, Scenario
from servers import SERVERS, Server, is_fastsnake

BENCH = pathlib.Path(__file__).resolve().parent
RESULTS = BENCH / "results"
WARMUP = 1.0
H2LOAD_UNSUITED = frozenset({"gunicorn"})


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="1 round, 2 s, wsgi-hello and asgi-hello, installed servers only")
    parser.add_argument("--scenarios", help="comma-separated: " + ",".join(SCENARIOS))
    parser.add_argument("--servers", help="comma-separated: " + ",".join(SERVERS))
    parser.add_argument("--rounds", type=int, help="rounds per server (default 3)")
    parser.add_argument("--duration", type=float, help="seconds per measured run (default 5)")
    parser.add_argument("--connections", type=int, default=64,
                        help="connections where the scenario names none (default 64)")
    parser.add_argument("--load-generator", choices=("wrk", "h2load"), default="wrk",
                        help="HTTP load generator (default wrk; h2load cross-checks it "
                             "on the scenarios that need no Lua script)")
    parser.add_argument("--no-chart", action="store_true", help="skip the PNG")
    parser.add_argument("--from-json", metavar="PATH",
                        help="run nothing: print the table of an earlier results JSON")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.duration = args.duration or (2.0 if args.quick else 5.0)
    return args


def pick(names: str | None, known: dict[str, Any], default: tuple[str, ...]) -> list[str]:
    chosen = names.split(",") if names else list(default)
    unknown = [n for n in chosen if n not in known]
    if unknown:
        raise SystemExit(f"unknown: {', '.join(unknown)} (known: {', '.join(known)})")
    return chosen


def plan(args: argparse.Namespace) -> list[tuple[Scenario, list[Server]]]:
    names = pick(args.scenarios, SCENARIOS, QUICK if args.quick else tuple(SCENARIOS))
    wanted = set(pick(args.servers, SERVERS, tuple(SERVERS)))
    out = []
    for name in names:
        scenario = SCENARIOS[name]
        if args.load_generator == "h2load" and (scenario.script or scenario.websocket):
            print(f"bench: {name} skipped: h2load cannot run it", file=sys.stderr)
            continue
        servers = [SERVERS[s] for s in scenario.servers if s in wanted]
        if args.load_generator == "h2load":
            # gunicorn's sync worker closes every connection, and h2load's
            # timed mode does not open new ones: it would wait out its timeout.
            servers = [s for s in servers if s.name not in H2LOAD_UNSUITED]
        if args.quick:
            servers = [s for s in servers if s.installed()]
        if servers:
            out.append((scenario, servers))
    return out


def machine_info(load_generator: str) -> dict[str, Any]:
    model = ""
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    commit = subprocess.run(["git", "-C", str(BENCH.parent), "describe", "--always", "--dirty"],
                            capture_output=True, text=True).stdout.strip()
    return {"nproc": int(nproc or 0), "cpu_model": model, "kernel": platform.release(),
            "python": platform.python_version(),
            "wrk": wrk.version() if load_generator == "wrk" else h2load.version(),
            "fastsnake_commit": commit, "loadavg_at_start": os.getloadavg()}


def measure(scenario: Scenario, port: int, duration: float,
            connections: int, load_generator: str = "wrk") -> wrk.LoadResult:
    gen_cpus = "0,1" if scenario.shared_cpus else "1"
    if scenario.websocket:
        argv = ["taskset", "-c", gen_cpus, sys.executable, str(BENCH / "wsload.py"),
                "--port", str(port), "--connections", str(connections),
                "--duration", str(duration)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
        if not done.stdout.strip():
            raise RuntimeError(f"wsload failed: {done.stderr.strip()[-500:]}")
        out = json.loads(done.stdout)
        return wrk.LoadResult(
            requests=out["messages"], seconds=out["seconds"], rate=out["rate"],
            p50_ms=out["p50_ms"], p99_ms=out["p99_ms"],
            non_2xx=out["failed"] + out["bad_echo"],
            socket_errors={"lost": out["lost"]}, client_cpu=out["cpu"])
    if load_generator == "h2load":
        argv = h2load.command(f"http://127.0.0.1:{port}{scenario.path}",
                              connections=connections, duration=duration,
                              threads=2 if scenario.shared_cpus else 1, cpus=gen_cpus,
                              headers=scenario.headers)
        return h2load.run(argv, timeout=duration + 60)
    argv = wrk.command(f"http://127.0.0.1:{port}{scenario.path}", connections=connections,
                       duration=duration, threads=2 if scenario.shared_cpus else 1,
                       script=scenario.script_path(), cpus=gen_cpus, headers=scenario.headers)
    return wrk.run(argv, timeout=duration + 60)


def run_one(scenario: Scenario, server: Server, args: argparse.Namespace) -> dict[str, Any]:
    record: dict[str, Any] = {"scenario": scenario.name, "server": server.name, "ok": False,
                              "error": None, "load": None, "rss_kib": None, "server_cpu": None,
                              "per_cpu_second": None}
    connections = scenario.connections or args.connections
    folder = pathlib.Path(tempfile.mkdtemp(prefix=f"fastsnake-bench-{server.name}-"))
    port = procs.free_port()
    launch = server.build(server.python(), scenario.app, port)
    for name, text in launch.files.items():
        (folder / name).write_text(text)
    cpus = "0,1" if scenario.shared_cpus else server.cpus
    launched = time.monotonic()
    running = procs.RunningServer(launch.argv, cpus, folder, server.has_master, launch.env)
    try:
        running.wait_ready(port)
        record["ready_seconds"] = time.monotonic() - launched
        measure(scenario, port, WARMUP, connections, args.load_generator)
        cpu_before, started = running.cpu_seconds(), time.monotonic()
        load = measure(scenario, port, args.duration, connections, args.load_generator)
        used = running.cpu_seconds() - cpu_before
        record["server_cpu"] = used / (time.monotonic() - started)
        record["per_cpu_second"] = load.requests / used if used > 0 else None
        record["rss_kib"] = running.peak_rss_kib()
        record["load"] = dataclasses.asdict(load)
        if load.requests == 0 or load.non_2xx >= load.requests:
            record["error"] = f"served nothing good ({load.non_2xx} non-2xx)"
        else:
            record["ok"] = True
    except (RuntimeError, ValueError, OSError, subprocess.TimeoutExpired) as exc:
        record["error"] = f"{exc}\n{running.log_tail()}"
    finally:
        running.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return record


def progress(round_no: int, rounds: int, record: dict[str, Any]) -> None:
    where = f"[{round_no + 1}/{rounds}] {record['scenario']:16} {record['server']:17}"
    if record["load"] and record["ok"]:
        load = record["load"]
        p99 = "-" if load["p99_ms"] is None else f"{load['p99_ms']:.2f}"
        print(f"{where} {load['rate']:>11,.0f}/s  p99 {p99} ms", file=sys.stderr, flush=True)
    else:
        print(f"{where} FAILED: {record['error']}", file=sys.stderr, flush=True)


def print_results(document: dict[str, Any], rounds: int, duration: float,
                  connections: int) -> None:
    machine = document["machine"]
    print(f"\n{machine['cpu_model']}, {machine['nproc']} CPUs, Linux {machine['kernel']}, "
          f"Python {machine['python']}, {machine['wrk']}, fastsnake at "
          f"{machine['fastsnake_commit']}")
    print("versions: " + "; ".join(
        f"{name} " + " ".join(f"{d}={v}" for d, v in found.items())
        for name, found in document["versions"].items()))
    print(f"{rounds} round(s) x {duration:g} s, {connections} connections unless "
          f"the scenario says; server on core 0, load generator on core 1 "
          f"(scaling: both share cores 0-1)\n")
    print(report.scenario_notes(list(document["scenarios"])) + "\n")
    print(report.table(document["summary"]))
    print("\n" + report.LEGEND)


def reprint(path: str) -> int:
    document = json.loads(pathlib.Path(path).read_text())
    document["summary"] = report.summarise(document["runs"])
    settings = document["settings"]
    print_results(document, settings["rounds"], settings["duration"], settings["connections"])
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.from_json:
        return reprint(args.from_json)
    if shutil.which("wrk") is None or shutil.which("taskset") is None:
        raise SystemExit("bench needs wrk and taskset (apt-get install -y wrk util-linux)")
    if args.load_generator == "h2load" and shutil.which("h2load") is None:
        raise SystemExit("--load-generator h2load needs h2load "
                         "(apt-get install -y nghttp2-client)")
    work = plan(args)
    servers = list({s.name: s for _, group in work for s in group}.values())
    if not args.quick:
        for server in servers:
            server.install()
    document: dict[str, Any] = {
        "machine": machine_info(args.load_generator),
        "versions": {s.name: s.version() for s in servers},
        "settings": {"rounds": args.rounds, "duration": args.duration, "warmup": WARMUP,
                     "connections": args.connections, "quick": args.quick,
                     "load_generator": args.load_generator,
                     "server_cpus": "0", "load_cpus": "1"},
        "scenarios": {s.name: {**dataclasses.asdict(s), "servers": [v.name for v in group]}
                      for s, group in work},
        "runs": [],
    }
    began = time.monotonic()
    total = sum(len(group) for _, group in work) * args.rounds
    print(f"bench: {total} runs of {args.duration:g} s (+ start, {WARMUP:g} s warm-up, stop)",
          file=sys.stderr, flush=True)
    for scenario, group in work:
        for round_no in range(args.rounds):
            for server in group:
                record = run_one(scenario, server, args)
                record["round"] = round_no
                document["runs"].append(record)
                progress(round_no, args.rounds, record)
    rows = report.summarise(document["runs"])
    document["summary"] = rows
    document["headlines"] = report.headlines(rows)
    finished = time.time()
    # The file is named in local time; publish.py wants the UTC time too.
    document["finished_utc"] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(finished))
    json_path = RESULTS / f"{time.strftime('%Y%m%d-%H%M%S', time.localtime(finished))}.json"
    report.write_json(json_path, document)
    print_results(document, args.rounds, args.duration, args.connections)
    print(f"\n{len(document['runs'])} runs in {(time.monotonic() - began) / 60:.1f} min; "
          f"JSON: {json_path}")
    if not args.no_chart:
        png_path = json_path.with_suffix(".png")
        problem = report.draw_chart(json_path, png_path, install=not args.quick)
        print(problem or f"chart: {png_path}")
    failed = [r for r in document["runs"] if not r["ok"]]
    fastsnake_failed = [r for r in failed if is_fastsnake(r["server"])]
    if failed:
        print(f"\n{len(failed)} run(s) failed ({len(fastsnake_failed)} of fastsnake)",
              file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
