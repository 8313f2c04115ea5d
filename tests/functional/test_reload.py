"""Autoreload in both runtimes, with requests in flight during the swap."""

from __future__ import annotations

import threading

import pytest
import requests

WSGI_APP = '''
VERSION = {version}

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"v%d" % VERSION]
'''

ASGI_APP = '''
VERSION = {version}

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({{"type": "http.response.start", "status": 200, "headers": []}})
    await send({{"type": "http.response.body", "body": b"v%d" % VERSION}})
'''

CADDYFILE = """
:$PORT {
    python {
        %s "main:app"
        working_dir app
        %s
        autoreload
    }
}
"""

RUNTIMES = {"process": "workers 2", "thread": "workers_runtime thread"}


class Hammer:
    """Sends requests in a loop from a thread; records every answer."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.answers: list[str] = []
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        with requests.Session() as session:
            while not self.stop.is_set():
                try:
                    resp = session.get(self.url, timeout=10)
                    if resp.status_code == 200:
                        self.answers.append(resp.text)
                    else:
                        self.failures.append(f"{resp.status_code} {resp.text}")
                except requests.RequestException as exc:
                    self.failures.append(repr(exc))

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(30)


def wait_for_version(server, version: str, count: int = 2000) -> bool:
    """Until every worker answers with version (the process runtime replaces
    its workers one at a time): 20 answers in a row."""
    in_a_row = 0
    for _ in range(count):  # bounded: each answer takes a round trip
        # A new connection each time: one queued as a worker is replaced
        # must be served too (tests/functional/test_replacement.py).
        text = requests.get(server.base_url, timeout=10).text
        in_a_row = in_a_row + 1 if text == version else 0
        if in_a_row == 20:
            return True
    return False


@pytest.mark.parametrize("runtime", ["process", "thread"])
@pytest.mark.parametrize("interface", ["wsgi", "asgi"])
def test_edit_reloads_without_failing_requests(serve, tmp_path, runtime, interface):
    source = WSGI_APP if interface == "wsgi" else ASGI_APP
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "main.py").write_text(source.format(version=1))
    server = serve(CADDYFILE % (f"module_{interface}", RUNTIMES[runtime]))
    assert requests.get(server.base_url, timeout=10).text == "v1"
    hammer = Hammer(server.base_url)
    try:
        (app_dir / "main.py").write_text(source.format(version=2))
        assert server.wait_for_text("reloading")
        assert wait_for_version(server, "v2")
        # A broken edit: 500 until it is fixed.
        hammer.finish()
        (app_dir / "main.py").write_text("VERSION = (\n")
        assert server.wait_for_text("failed to load")
        assert wait_for_version(server, "500 Internal Server Error\n")
        (app_dir / "main.py").write_text(source.format(version=3))
        assert wait_for_version(server, "v3")
    finally:
        hammer.finish()
    assert hammer.failures == []
    assert "v1" in hammer.answers and len(hammer.answers) > 10
    assert "Traceback" in server.log  # the syntax error is logged with its traceback


def test_hidden_and_cache_folders_are_ignored(serve, tmp_path):
    app_dir = tmp_path / "app"
    (app_dir / ".hidden").mkdir(parents=True)
    (app_dir / "__pycache__").mkdir()
    (app_dir / "main.py").write_text(WSGI_APP.format(version=1))
    server = serve(CADDYFILE % ("module_wsgi", RUNTIMES["thread"]))
    mark = len(server.lines)
    (app_dir / ".hidden" / "x.py").write_text("x = 1\n")
    (app_dir / "__pycache__" / "y.py").write_text("y = 1\n")
    (app_dir / "notes.txt").write_text("not python\n")
    (app_dir / "other.py").write_text("z = 1\n")  # this one counts
    line = server.wait_for_text("reloading", start=mark)
    assert line is not None
    reloads = [x for x in server.lines[mark:] if "reloading" in x]
    assert len(reloads) == 1
