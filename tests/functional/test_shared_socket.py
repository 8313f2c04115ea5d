"""Workers sharing one listening socket from the supervisor (the macOS way,
exercised here with FASTSNAKE_SHARED_SOCKET=1)."""

from __future__ import annotations

import os
import signal
import sys

import pytest
import requests

from tests.functional.test_reload import Hammer, wait_for_version

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="reads /proc for worker pids")

SHARED = {"FASTSNAKE_SHARED_SOCKET": "1"}

APPS = '''
import os

def one(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"one"]

def two(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"two"]

def pid(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
'''

CADDYFILE = """
:{port} {{
    python /pid {{
        module_wsgi "apps:pid"
        working_dir app
        workers 2
    }}
    python {{
        module_wsgi "apps:{name}"
        working_dir app
        workers 2
    }}
}}
"""


def test_shared_socket_serves_respawns_and_reloads(serve, tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "apps.py").write_text(APPS)
    server = serve(CADDYFILE.format(port="$PORT", name="one"), env=SHARED)
    assert requests.get(server.base_url, timeout=10).text == "one"
    pids = server.worker_pids()
    assert len(pids) == 2
    served = {requests.get(server.base_url + "/pid", timeout=10).text for _ in range(200)}
    assert served <= {str(p) for p in pids}

    victim = sorted(pids)[0]
    mark = len(server.lines)
    os.kill(victim, signal.SIGKILL)
    assert server.wait_for_text("respawned", start=mark)
    assert requests.get(server.base_url, timeout=10).text == "one"

    hammer = Hammer(server.base_url)
    try:
        (tmp_path / "Caddyfile").write_text(CADDYFILE.format(port=server.port, name="two"))
        mark = len(server.lines)
        server.signal(signal.SIGHUP)
        assert server.wait_for_text("configuration reloaded", start=mark)
        assert wait_for_version(server, "two")
    finally:
        hammer.finish()
    assert hammer.failures == []
