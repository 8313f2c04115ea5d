"""``supervisor watchdog``: a real fastsnake whose one server process runs
under fastsnake-watchdog, which holds the listening sockets, starts the
server again when it dies (clients that connect meanwhile wait, none is
refused), passes signals on, and exits with code 1 when the server never
started."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.functional.test_reload import Hammer, wait_for_version

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="a POSIX program")

APP = """
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"%s"]
"""

CADDYFILE = """{
    supervisor watchdog
}
:$PORT {
    python {
        module_wsgi "app:app"
        working_dir app
    }
}
"""


def start(serve, tmp_path, text: str = "one", wait: bool = True):
    (tmp_path / "app").mkdir(exist_ok=True)
    (tmp_path / "app" / "app.py").write_text(APP % text)
    return serve(CADDYFILE, wait=wait)


def the_server(server) -> int:
    """The one server process, the watchdog's child."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        pids = server.worker_pids()
        if len(pids) == 1:
            return pids.pop()
        time.sleep(0.05)
    raise AssertionError(f"no single server process under the watchdog: {server.log}")


def get(port: int) -> str:
    """One GET on a new connection, as raw HTTP (no retries)."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    return data.decode()


def test_a_killed_server_is_started_again_and_no_client_is_refused(serve, tmp_path):
    server = start(serve, tmp_path)
    assert os.path.basename(os.readlink(f"/proc/{server.proc.pid}/exe")) == "fastsnake-watchdog"
    assert "workers=1 (supervisor watchdog)" in server.log
    first = the_server(server)
    assert get(server.port).endswith("one")
    mark = len(server.lines)
    os.kill(first, signal.SIGKILL)
    # Connections made while no server runs queue on the watchdog's sockets.
    answers = [get(server.port) for _ in range(5)]
    assert all(answer.startswith("HTTP/1.1 200") and answer.endswith("one") for answer in answers)
    assert server.wait_for_text(f"the server process {first} was killed by signal 9", start=mark)
    second = the_server(server)
    assert second != first
    assert server.stop() == 0  # SIGTERM to the watchdog: the server drains, both exit 0


def test_a_server_that_cannot_start_stops_the_watchdog(serve, tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "app.py").write_text("raise RuntimeError('no database')\n")
    server = serve(CADDYFILE, wait=False)
    assert server.proc.wait(30) == 1
    assert "no database" in server.log and "starting it again" not in server.log


def test_a_server_that_dies_and_cannot_start_is_retried_until_it_can(serve, tmp_path):
    server = start(serve, tmp_path)
    first = the_server(server)
    (tmp_path / "app" / "app.py").write_text("raise RuntimeError('broken for now')\n")
    mark = len(server.lines)
    os.kill(first, signal.SIGKILL)
    assert server.wait_for_text("broken for now", start=mark)
    assert server.wait_for_text("exited with code 1; starting it again in 1.0s", start=mark)
    (tmp_path / "app" / "app.py").write_text(APP % "fixed")
    assert server.wait_for_text("fastsnake: serving", start=mark)
    assert get(server.port).endswith("fixed")


def test_stop_and_reload_reach_the_server_under_it(serve, tmp_path):
    server = start(serve, tmp_path)
    first = the_server(server)
    caddyfile = tmp_path / "Caddyfile"
    hammer = Hammer(server.base_url)
    try:
        (tmp_path / "app" / "app.py").write_text(APP % "two")
        mark = len(server.lines)
        done = subprocess.run([sys.executable, "-m", "fastsnake", "reload", "--config",
                               str(caddyfile)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert server.wait_for_text("configuration checked", start=mark)
        assert wait_for_version(server, "two")
    finally:
        hammer.finish()
    assert hammer.failures == []
    assert the_server(server) == first  # re-executed in place: the watchdog saw no exit
    done = subprocess.run([sys.executable, "-m", "fastsnake", "stop", "--config",
                           str(caddyfile)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert server.proc.wait(20) == 0  # the server exited 0, so did its watchdog
