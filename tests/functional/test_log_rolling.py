"""A real fastsnake with two workers rolls its access log once per crossing,
loses no request's line, and reopens its files on SIGUSR1 (logrotate)."""

from __future__ import annotations

import gzip
import json
import signal
import sys
import threading
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="fork, flock and SIGUSR1")

APP = ("def app(environ, start_response):\n"
       "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
       "    return [b'ok']\n")

ROLL_SIZE = 4096

CADDYFILE = """
:$PORT {
    log {
        output file access.log {
            %s
        }
        format json
    }
    python {
        module_wsgi "app:app"
        workers 2
    }
}
"""


def start(serve, tmp_path: Path, options: str):
    (tmp_path / "app.py").write_text(APP)
    return serve(CADDYFILE % options)


def request_all(url: str, numbers: range, threads: int = 4) -> None:
    """One request per number, ?n=<number>, each on a new connection (so the
    kernel spreads them over both workers), from a few threads."""
    failures: list[str] = []

    def run(part: range) -> None:
        for n in part:
            resp = requests.get(f"{url}/?n={n}", headers={"Connection": "close"}, timeout=10)
            if resp.status_code != 200:
                failures.append(f"{n}: {resp.status_code}")

    workers = [threading.Thread(target=run, args=(numbers[i::threads],)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert failures == []


def read_logs(folder: Path) -> dict[str, bytes]:
    """access.log and its backups, decompressed. A backup found both ways was
    compressed and not yet removed when its worker stopped: the .gz is whole."""
    found: dict[str, bytes] = {}
    for item in sorted(folder.iterdir()):
        if not item.name.startswith("access"):
            continue
        if item.name.endswith(".gz"):
            found[item.name[:-3]] = gzip.decompress(item.read_bytes())
        elif item.name not in found:
            found[item.name] = item.read_bytes()
    return found


def numbers_in(data: bytes) -> list[int]:
    """The ?n= of each line (each line whole JSON, or this fails)."""
    numbers = []
    for line in data.splitlines():
        entry = json.loads(line)
        assert entry["msg"] == "handled request"
        numbers.append(int(entry["request"]["uri"].partition("=")[2]))
    return numbers


def test_two_workers_roll_one_log_once_per_crossing(serve, tmp_path):
    server = start(serve, tmp_path, f"roll_size {ROLL_SIZE // 1024}KiB\nroll_keep 100000")
    count = 1200
    request_all(server.base_url, range(count))
    assert len(server.worker_pids()) == 2
    assert server.stop() == 0  # every line is written once the workers have drained
    logs = read_logs(tmp_path)
    backups = {name: data for name, data in logs.items() if name != "access.log"}
    assert len(backups) >= 20
    for name in backups:  # access-2026-01-30T22-15-42.123-size.log, timberjack's name
        assert name.startswith("access-") and name.endswith("-size.log"), name
    # A second roll for one crossing would rename a fresh, nearly empty file.
    assert all(len(data) >= ROLL_SIZE for data in backups.values())
    assert any((tmp_path / (name + ".gz")).exists() for name in backups)  # gzip by default
    seen = [n for data in logs.values() for n in numbers_in(data)]
    assert sorted(seen) == list(range(count))  # every request's line, once
    assert "log rolling" not in server.log  # no roll or mill complained


def test_roll_keep_bounds_the_backups(serve, tmp_path):
    server = start(serve, tmp_path, f"roll_size {ROLL_SIZE // 1024}KiB\nroll_keep 2")
    request_all(server.base_url, range(400))
    assert server.stop() == 0
    logs = read_logs(tmp_path)
    assert len(logs) == 3  # access.log and two backups
    seen = [n for data in logs.values() for n in numbers_in(data)]
    assert len(seen) == len(set(seen))


def test_sigusr1_reopens_the_log_after_logrotate_renamed_it(serve, tmp_path):
    server = start(serve, tmp_path, "roll_disabled")
    request_all(server.base_url, range(0, 40))
    (tmp_path / "access.log").rename(tmp_path / "access.log.1")  # logrotate's rename
    mark = len(server.lines)
    server.signal(signal.SIGUSR1)  # its postrotate
    assert server.wait_for_text("received SIGUSR1", start=mark)
    request_all(server.base_url, range(40, 80))
    assert server.proc.poll() is None  # SIGUSR1 stops nothing
    assert server.stop() == 0
    renamed = numbers_in((tmp_path / "access.log.1").read_bytes())
    reopened = numbers_in((tmp_path / "access.log").read_bytes())
    # A worker writes a request's line once the response is complete, which
    # may be just after the client has read it (Caddy too logs after the
    # handler returned): the last lines before the rename may have gone to
    # either file. Every line after SIGUSR1 goes to the new one.
    assert sorted(renamed + reopened) == list(range(80))  # each once
    assert max(renamed, default=-1) < 40 and set(range(40, 80)) <= set(reopened)
    assert "(and 2 workers were told)" in server.log
