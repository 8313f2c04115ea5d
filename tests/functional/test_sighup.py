"""SIGHUP: re-read the Caddyfile and replace the workers, under load."""

from __future__ import annotations

import signal
import sys

import pytest
import requests

from tests.functional.test_reload import Hammer, wait_for_version

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGHUP is POSIX")

APPS = '''
def one(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"one"]

def two(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"two"]
'''

CADDYFILE = """
:%d {
    python {
        module_wsgi "apps:%s"
        working_dir app
        workers 2
    }
}
"""


def test_sighup_replaces_workers_without_failing_requests(serve, tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "apps.py").write_text(APPS)
    server = serve(CADDYFILE.replace("%d", "$PORT") % "one")
    caddyfile = tmp_path / "Caddyfile"
    assert requests.get(server.base_url, timeout=10).text == "one"
    hammer = Hammer(server.base_url)
    try:
        before = server.worker_pids()
        caddyfile.write_text(CADDYFILE.replace("%d", str(server.port)) % "two")
        mark = len(server.lines)
        seen: set[str] = set()
        server.signal(signal.SIGHUP)
        assert server.wait_for_text("configuration reloaded", start=mark)
        assert wait_for_version(server, "two")
        assert server.wait_for_text("fastsnake: serving", start=mark)
    finally:
        hammer.finish()
    assert hammer.failures == []
    assert {"one", "two"} <= set(hammer.answers)
    for _ in before:  # every old worker drains and exits
        line = server.wait_for(lambda text: "retired" in text and text not in seen, start=mark)
        assert line is not None
        seen.add(line)
    assert not (server.worker_pids() & before)

    # A Caddyfile that does not load: logged, and the old config keeps serving.
    caddyfile.write_text(f":{server.port} {{\n    bogus\n}}\n")
    mark = len(server.lines)
    server.signal(signal.SIGHUP)
    assert server.wait_for_text("does not load", start=mark)
    assert requests.get(server.base_url, timeout=10).text == "two"
