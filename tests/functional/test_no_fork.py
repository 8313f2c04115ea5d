"""The path for platforms without fork (Windows), exercised here.

FASTSNAKE_NO_FORK=1 makes fastsnake serve in its own process, as it must
where there is no fork; FASTSNAKE_LOOP=asyncio runs asyncio's own event loop
instead of uvloop, as on Windows.
"""

from __future__ import annotations

import pytest
import requests

NO_FORK = {"FASTSNAKE_NO_FORK": "1", "FASTSNAKE_LOOP": "asyncio"}

CADDYFILE = """
:$PORT {
    python /ws/* {
        module_asgi "asgi_basic:app"
        working_dir "$APPS"
        workers_runtime thread
    }
    python {
        module_wsgi "wsgi_basic:app"
        working_dir "$APPS"
        workers_runtime thread
    }
}
"""


def test_thread_runtime_in_process_on_asyncio(serve):
    server = serve(CADDYFILE, env=NO_FORK)
    assert server.worker_pids() == set()  # no worker processes at all
    assert requests.get(server.base_url + "/hello", timeout=10).text == "hello"
    body = b"z" * (2 * 1024 * 1024)
    assert requests.post(server.base_url + "/digest", data=body, timeout=30).text.startswith(
        f"{len(body)} ")
    assert requests.get(server.base_url + "/stream", timeout=10).content.count(b"part") == 10
    size = 1024 * 1024 + 3
    assert len(requests.get(f"{server.base_url}/file?{size}", timeout=30).content) == size
    websockets = pytest.importorskip("websockets.sync.client")
    with websockets.connect(f"ws://127.0.0.1:{server.port}/ws/echo") as ws:
        ws.send("over asyncio")
        assert ws.recv(timeout=10) == "over asyncio"
    assert server.stop() == 0
    assert "uvloop" not in server.log


def test_serves_with_uvloop_absent(serve, tmp_path):
    """As on Windows: uvloop cannot be imported at all (a sitecustomize
    blocks it), so asyncio's loop is used without being asked for."""
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text("import sys\nsys.modules['uvloop'] = None\n")
    env = {"FASTSNAKE_NO_FORK": "1", "PYTHONPATH": str(blocker)}
    server = serve(CADDYFILE, env=env)
    assert requests.get(server.base_url + "/hello", timeout=10).text == "hello"
    assert server.stop() == 0


def test_process_runtime_is_refused_without_fork(serve):
    server = serve(CADDYFILE.replace("workers_runtime thread", "workers_runtime process"),
                   env=NO_FORK, wait=False)
    assert server.proc.wait(30) == 1
    assert "needs fork" in server.log
