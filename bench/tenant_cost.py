"""What a tenant process costs: memory, cold start, and the hop.

Starts fastsnake (one worker, pinned with taskset) on a Caddyfile with one
dynamic WSGI hello app, in ``isolation process`` and ``isolation worker``,
and reports, as medians of a few runs:

- the tenant process's RSS and PSS (``/proc/PID/smaps_rollup``), and how
  much the worker itself grows when it holds the tenant in-process;
- the first request of a new tenant (cold start), measured by the client;
- requests per second on one warm tenant (wrk on another CPU).

    python bench/tenant_cost.py [--runs 3] [--server-cpus 0] [--wrk-cpus 1]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from procs import descendants, free_port  # noqa: E402

APP = '''def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]
'''
CADDYFILE = """{
    admin off
}
http://*.example.com:%d {
    python {
        module_wsgi "app:app"
        working_dir "tenants/{http.request.host.labels.2}"
        workers 1
        isolation %s
    }
}
"""


def memory(pid: int) -> dict[str, int]:
    text = pathlib.Path(f"/proc/{pid}/smaps_rollup").read_text()
    return {key: int(re.search(rf"^{key}:\s+(\d+) kB", text, re.M).group(1))
            for key in ("Rss", "Pss")}


def request(port: int, host: str) -> float:
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200"), data[:100]
    return (time.perf_counter() - started) * 1000


def wait_up(port: int) -> None:
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def one_run(isolation: str, args: argparse.Namespace, folder: pathlib.Path) -> dict:
    port = free_port()
    (folder / "Caddyfile").write_text(CADDYFILE % (port, isolation))
    server = subprocess.Popen(["taskset", "-c", args.server_cpus, sys.executable, "-m",
                               "fastsnake", "Caddyfile"], cwd=folder,
                              stderr=subprocess.DEVNULL)
    try:
        wait_up(port)
        time.sleep(0.5)
        worker = [pid for pid in descendants(server.pid)][0]
        before = memory(worker)
        cold = [request(port, f"t{n}.example.com") for n in range(args.tenants)]
        tenants = [pid for pid in descendants(worker)]
        after = memory(worker)
        tenant_memory = [memory(pid) for pid in tenants]
        out = subprocess.run(
            ["taskset", "-c", args.wrk_cpus, "wrk", "-t1", "-c16", f"-d{args.seconds}s",
             "-H", "Host: t0.example.com", f"http://127.0.0.1:{port}/"],
            capture_output=True, text=True, check=True).stdout
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        return {"cold_ms": statistics.median(cold), "rps": rps,
                "worker_growth_kb": {k: after[k] - before[k] for k in after},
                "tenant_kb": tenant_memory[0] if tenant_memory else None,
                "tenants": len(tenants)}
    finally:
        server.terminate()
        server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tenants", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--server-cpus", default="0")
    parser.add_argument("--wrk-cpus", default="1")
    args = parser.parse_args()
    results: dict[str, list[dict]] = {"process": [], "worker": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = pathlib.Path(tmp)
        for n in range(args.tenants):
            (folder / "tenants" / f"t{n}").mkdir(parents=True)
            (folder / "tenants" / f"t{n}" / "app.py").write_text(APP)
        for _ in range(args.runs):  # interleaved, so drift hits both alike
            for isolation in results:
                results[isolation].append(one_run(isolation, args, folder))
    summary = {}
    for isolation, runs in results.items():
        summary[isolation] = {
            "cold_ms": round(statistics.median(r["cold_ms"] for r in runs), 1),
            "rps": round(statistics.median(r["rps"] for r in runs)),
            "worker_growth_kb": statistics.median(
                r["worker_growth_kb"]["Rss"] for r in runs) / args.tenants,
            "tenant_rss_kb": runs[0]["tenant_kb"] and statistics.median(
                r["tenant_kb"]["Rss"] for r in runs),
            "tenant_pss_kb": runs[0]["tenant_kb"] and statistics.median(
                r["tenant_kb"]["Pss"] for r in runs),
            "tenant_processes": runs[0]["tenants"],
        }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
