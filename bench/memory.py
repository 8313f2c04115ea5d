"""What a one-worker server costs in memory, next to uvicorn, in one run.

    python bench/memory.py [--uvicorn-python PY] [--requests N] [--rounds N]

Starts each server in turn on the hello apps of bench/apps (fastsnake with
``workers 1`` on the WSGI and on the ASGI hello, under its supervisor, with
``supervisor off`` (one process) and with ``supervisor watchdog`` (one
process under the C watchdog); uvicorn on the ASGI hello, one process),
sends N keep-alive requests so that every lazy path has run,
then reads /proc/<pid>/smaps_rollup of the server's whole process tree
(fastsnake: the supervisor and its worker). It prints, per server, each
process's RSS and PSS and their sums. RSS counts a page shared by two
processes in both (``ps``'s view); PSS splits it among them (what the server
costs the machine). PSS also depends on who else maps the same libraries, so
only numbers from the same run compare.

uvicorn comes from a venv that has it (``--uvicorn-python``; default: the
bench's own venv bench/.venvs/uvicorn when it exists); without one its row
is skipped.
"""

from __future__ import annotations

import argparse
import itertools
import pathlib
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

BENCH = pathlib.Path(__file__).resolve().parent
APPS = BENCH / "apps"

CADDYFILE = """\
{options}
:{port} {{
    python {{
        module_{interface} "{module}:hello"
        working_dir "{apps}"
        workers {workers}
    }}
}}
"""


@dataclass
class Usage:
    pid: int
    role: str
    rss_kib: int
    pss_kib: int


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> list[int]:
    try:
        text = pathlib.Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def rollup(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in KiB from smaps_rollup."""
    values = {}
    for line in pathlib.Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("Rss", "Pss"):
            values[name] = int(rest.split()[0])
    return values["Rss"], values["Pss"]


def get(proc: subprocess.Popen[bytes], port: int, count: int) -> None:
    """``count`` GETs on one keep-alive connection; waits for the server."""
    deadline = time.monotonic() + 30
    while True:
        try:
            conn = socket.create_connection(("127.0.0.1", port), timeout=10)
            break
        except OSError as exc:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start (exit code {proc.poll()})") from exc
            time.sleep(0.1)
    request = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
    with conn:
        for _ in range(count):
            conn.sendall(request)
            data = b""
            while b"Hello, world!" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    raise RuntimeError("connection closed")
                data += chunk


def measure(name: str, argv: list[str], port: int, count: int, cwd: str,
            workers_expected: int) -> list[Usage]:
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    try:
        try:
            get(proc, port, count)
        except RuntimeError:
            log.seek(0)
            sys.stderr.write(log.read().decode(errors="replace"))
            raise
        deadline = time.monotonic() + 10
        while len(children(proc.pid)) < workers_expected and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1)  # let the worker settle (gc, trims) after the last answer
        usages = []
        for pid, role in [(proc.pid, "main"), *[(c, "worker") for c in children(proc.pid)]]:
            rss, pss = rollup(pid)
            usages.append(Usage(pid, role, rss, pss))
        return usages
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def report(name: str, usages: list[Usage]) -> str:
    parts = [f"{u.role} {u.rss_kib / 1024:.1f}/{u.pss_kib / 1024:.1f}" for u in usages]
    rss = sum(u.rss_kib for u in usages) / 1024
    pss = sum(u.pss_kib for u in usages) / 1024
    return f"{name:<28} RSS {rss:6.1f} MB  PSS {pss:6.1f} MB   ({', '.join(parts)}; RSS/PSS MB)"


def default_uvicorn() -> str | None:
    candidate = BENCH / ".venvs" / "uvicorn" / "bin" / "python"
    return str(candidate) if candidate.exists() else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uvicorn-python", default=default_uvicorn())
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--workers", type=int, default=1,
                        help="fastsnake's workers (uvicorn always runs one process)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="measure each server this many times, interleaved")
    args = parser.parse_args()
    rows: dict[str, list[list[Usage]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for interface, mode in itertools.product(("wsgi", "asgi"), ("on", "off", "watchdog")):
                supervised = mode == "on"
                if not supervised and args.workers != 1:
                    continue  # one process is one worker
                port = free_port()
                caddyfile = pathlib.Path(tmp) / f"Caddyfile.{interface}"
                caddyfile.write_text(CADDYFILE.format(
                    port=port, interface=interface, module=f"{interface}_apps", apps=APPS,
                    workers=args.workers,
                    options="" if supervised else f"{{\n    supervisor {mode}\n}}"))
                argv = [sys.executable, "-m", "fastsnake", "run", "--config", str(caddyfile)]
                name = f"fastsnake {interface} w{args.workers}" + (
                    "" if supervised else f" {mode}")
                rows.setdefault(name, []).append(
                    measure("fastsnake", argv, port, args.requests, tmp,
                            {"on": args.workers, "off": 0, "watchdog": 1}[mode]))
            if args.uvicorn_python:
                port = free_port()
                argv = [args.uvicorn_python, "-m", "uvicorn", "asgi_apps:hello", "--host",
                        "127.0.0.1", "--port", str(port), "--log-level", "warning",
                        "--no-access-log"]
                rows.setdefault("uvicorn asgi", []).append(
                    measure("uvicorn", argv, port, args.requests, str(APPS), 0))
    for name, runs in rows.items():
        for usages in runs:
            print(report(name, usages))
    return 0


if __name__ == "__main__":
    sys.exit(main())
