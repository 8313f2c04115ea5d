"""Replacing workers under a stream of new connections loses none of them.

Each worker's listening socket has its own accept queue (SO_REUSEPORT);
connections the kernel has queued there must still be served when the worker
is replaced (SIGHUP, autoreload in the process runtime, max_requests) or the
server stops (SIGTERM). Every request here comes on a new TCP connection, so
any connection reset from a closing listener shows up as a failure.
"""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import sys

import pytest

from tests.functional.test_tls import make_cert
from tests.server import FreshConnections

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="SO_REUSEPORT spreading and /proc are Linux's")

APP = '''
import os
import pathlib
import time

if pathlib.Path(__file__).with_name("broken").exists():
    raise RuntimeError("broken on purpose")

VERSION = {version}

def app(environ, start_response):
    # A little work on the worker's loop, so that new connections are
    # usually waiting in its accept queue when it is replaced.
    time.sleep(0.001)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"v%d %d" % (VERSION, os.getpid())]
'''

CADDYFILE = """
:{port} {{
    python {{
        module_wsgi "main:app"
        working_dir app
        workers 2
        {extra}
    }}
}}
"""

SHARED = {"FASTSNAKE_SHARED_SOCKET": "1"}


def start(serve, tmp_path, extra: str = "", env: dict[str, str] | None = None):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "main.py").write_text(APP.format(version=1))
    return serve(CADDYFILE.format(port="$PORT", extra=extra), env=env)


def wait_for_lines(server, text: str, count: int, start: int) -> bool:
    """Until ``count`` log lines with ``text`` came since line ``start``."""
    seen = 0

    def counted(line: str) -> bool:
        nonlocal seen
        seen += text in line
        return seen >= count

    return server.wait_for(counted, start=start) is not None


def wait_for_retired(server, count: int, start: int) -> bool:
    return wait_for_lines(server, "retired", count, start)


def versions_and_pids(answers: list[str]) -> tuple[set[str], set[str]]:
    return {a.split()[0] for a in answers}, {a.split()[1] for a in answers}


@pytest.mark.parametrize("env", [None, SHARED], ids=["reuseport", "shared"])
def test_sighup_loses_no_new_connection(serve, tmp_path, env):
    server = start(serve, tmp_path, env=env)
    first = server.worker_pids()
    hammer = FreshConnections(server.port, threads=8)
    try:
        hammer.wait_for_more(200)
        for version in (2, 3, 4):
            (tmp_path / "app" / "main.py").write_text(APP.format(version=version))
            mark = len(server.lines)
            server.signal(signal.SIGHUP)
            assert wait_for_retired(server, 2, mark)
            hammer.wait_for_more(200)
    finally:
        hammer.finish()
    assert hammer.failures == []
    versions, pids = versions_and_pids(hammer.answers)
    assert versions == {"v1", "v2", "v3", "v4"}
    assert hammer.answers[-1].startswith("v4")
    assert len(pids) == 8  # four generations of two workers
    assert not (server.worker_pids() & first)


def test_sighup_changing_the_worker_count_loses_no_new_connection(serve, tmp_path):
    # More workers: new sockets join as their workers get ready. Fewer: the
    # sockets left over stop taking handshakes before their workers stop.
    server = start(serve, tmp_path)
    hammer = FreshConnections(server.port, threads=8)
    try:
        hammer.wait_for_more(200)
        for version, workers in ((2, 3), (3, 1), (4, 2)):
            (tmp_path / "Caddyfile").write_text(CADDYFILE.format(
                port=server.port, extra="").replace("workers 2", f"workers {workers}"))
            (tmp_path / "app" / "main.py").write_text(APP.format(version=version))
            mark = len(server.lines)
            before = server.worker_pids()
            server.signal(signal.SIGHUP)
            assert wait_for_retired(server, len(before), mark)
            hammer.wait_for_more(300)
            assert len(server.worker_pids()) == workers
            recent = {a.split()[1] for a in hammer.answers[-300:] if a.startswith(f"v{version}")}
            assert len(recent) == workers  # every new worker takes its share
    finally:
        hammer.finish()
    assert hammer.failures == []


def test_autoreload_rolling_replacement_loses_no_new_connection(serve, tmp_path):
    server = start(serve, tmp_path, extra="autoreload")
    first = server.worker_pids()
    hammer = FreshConnections(server.port, threads=8)
    try:
        hammer.wait_for_more(200)
        for version in (2, 3):
            mark = len(server.lines)
            (tmp_path / "app" / "main.py").write_text(APP.format(version=version))
            assert wait_for_retired(server, 2, mark)  # one at a time, both replaced
            hammer.wait_for_more(200)
    finally:
        hammer.finish()
    assert hammer.failures == []
    versions, _ = versions_and_pids(hammer.answers)
    assert versions == {"v1", "v2", "v3"}
    assert hammer.answers[-1].startswith("v3")
    assert not (server.worker_pids() & first)


def test_max_requests_recycling_loses_no_new_connection(serve, tmp_path):
    server = start(serve, tmp_path, extra="max_requests 200")
    first = server.worker_pids()
    mark = len(server.lines)
    hammer = FreshConnections(server.port, threads=8)
    try:
        assert wait_for_retired(server, 6, mark)
        hammer.wait_for_more(200)
    finally:
        hammer.finish()
    assert hammer.failures == []
    _, pids = versions_and_pids(hammer.answers)
    assert len(pids) >= 8
    assert "reached max_requests" in server.log
    assert not (server.worker_pids() & first)


def test_a_worker_that_keeps_dying_takes_no_connections(serve, tmp_path):
    server = start(serve, tmp_path)
    (tmp_path / "app" / "broken").touch()  # no new worker can import the app now
    survivor, victim = sorted(server.worker_pids())
    mark = len(server.lines)
    os.kill(victim, signal.SIGKILL)
    # Its respawns fail, each after a longer backoff (0, 0.1 s, 0.2 s, ...).
    assert wait_for_lines(server, "respawning in", 3, mark)
    hammer = FreshConnections(server.port, threads=8)
    try:
        mark = len(server.lines)
        assert wait_for_lines(server, "respawning in", 2, mark)  # two more, under load
    finally:
        hammer.finish()
    assert hammer.failures == []
    _, pids = versions_and_pids(hammer.answers)
    assert pids == {str(survivor)}


@pytest.mark.parametrize("env", [None, SHARED, {"FASTSNAKE_NO_FORK": "1"}],
                         ids=["reuseport", "shared", "no-fork"])
def test_sigterm_answers_every_accepted_connection(serve, tmp_path, env):
    extra = "workers_runtime thread" if env and "FASTSNAKE_NO_FORK" in env else ""
    server = start(serve, tmp_path, extra=extra, env=env)
    hammer = FreshConnections(server.port, threads=8)
    try:
        hammer.wait_for_more(300)
        server.signal(signal.SIGTERM)
        assert server.proc.wait(30) == 0
    finally:
        hammer.finish()
    # Connections made once the server has stopped are refused; every
    # connection it accepted (the kernel completed the handshake) is answered.
    assert hammer.failures == []
    assert hammer.count() >= 300


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")
def test_queued_tls_connections_are_served_through_sighup_and_sigterm(serve, tmp_path):
    cert, key = make_cert(tmp_path, "localhost")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "main.py").write_text(APP.format(version=1))
    site = CADDYFILE.replace(":{port} {{", "localhost:{port} {{\n    tls " + f"{cert} {key}")
    server = serve(site.format(port="$PORT", extra=""))
    hammer = FreshConnections(server.port, threads=8, host="localhost",
                              tls=ssl.create_default_context(cafile=str(cert)))
    try:
        hammer.wait_for_more(100)
        (tmp_path / "app" / "main.py").write_text(APP.format(version=2))
        mark = len(server.lines)
        server.signal(signal.SIGHUP)
        assert wait_for_retired(server, 2, mark)
        hammer.wait_for_more(100)
        server.signal(signal.SIGTERM)
        assert server.proc.wait(30) == 0
    finally:
        hammer.finish()
    assert hammer.failures == []
    versions, _ = versions_and_pids(hammer.answers)
    assert versions == {"v1", "v2"}
