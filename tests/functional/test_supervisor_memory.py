"""What the supervisor loads: with one worker, nothing only a worker needs;
with more, what every worker imports, loaded once before forking them. What a
worker loads: only what its Caddyfile uses.

Structural checks through /proc/<pid>/maps (which shared objects a process
has mapped), not memory thresholds: the measurements are in memory.py.
"""

from __future__ import annotations

import pathlib
import signal
import sys

import pytest
import requests

from tests.server import TEST_APPS

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="reads /proc/<pid>/maps")

CADDYFILE = """
:$PORT {
    python {
        module_wsgi "wsgi_basic:app"
        working_dir "$APPS"
        workers %d
    }
}
"""

# Extension modules only a worker uses: the HTTP protocol, the WSGI adapter,
# uvloop's loop, asyncio's C part, ssl (no TLS listener here); the exchange
# seam, whose types the config's matchers name only in annotations.
WORKER_ONLY = ("fastsnake/_http.", "fastsnake/_wsgi.", "uvloop/loop.", "/_asyncio.", "/_ssl.",
               "fastsnake/_exchange.")
# Neither side forks or talks through multiprocessing (server/forked.py): its
# C parts and pickle's are in no process of a plain server.
NO_PROCESS = ("/_multiprocessing.", "/_pickle.")


def mapped(pid: int) -> set[str]:
    """The files a process has mapped."""
    lines = pathlib.Path(f"/proc/{pid}/maps").read_text().splitlines()
    return {line.split(maxsplit=5)[5] for line in lines if len(line.split(maxsplit=5)) == 6}


def loaded(pid: int, marker: str) -> bool:
    return any(marker in path for path in mapped(pid))


def test_one_worker_supervisor_loads_no_worker_module_and_more_share_them(serve, tmp_path):
    server = serve(CADDYFILE % 1)
    assert requests.get(server.base_url + "/hello", timeout=10).text == "hello"
    supervisor = server.proc.pid
    (worker,) = server.worker_pids()
    for marker in WORKER_ONLY[:3]:
        assert loaded(worker, marker), marker
    for marker in WORKER_ONLY:
        assert not loaded(supervisor, marker), marker
    for marker in NO_PROCESS:
        assert not loaded(supervisor, marker), marker
        assert not loaded(worker, marker), marker
    assert not loaded(supervisor, "watchfiles"), "no autoreload: no watcher"

    # SIGHUP to two workers: the supervisor now loads the worker's modules
    # before forking, so both workers share them.
    text = (CADDYFILE % 2).replace("$PORT", str(server.port)).replace("$APPS", str(TEST_APPS))
    (tmp_path / "Caddyfile").write_text(text)
    mark = len(server.lines)
    server.signal(signal.SIGHUP)
    assert server.wait_for_text("configuration reloaded", start=mark)
    assert server.wait_for_text("fastsnake: serving", start=mark)
    assert requests.get(server.base_url + "/hello", timeout=10).text == "hello"
    for marker in WORKER_ONLY[:3]:
        assert loaded(supervisor, marker), marker


# Modules a worker loads only for a feature its Caddyfile uses: TLS and
# certificates, file_server, basic_auth, per-request apps, the ASGI adapter,
# access and server logs;
# and stdlib packages nothing in a plain worker needs (email for the Date
# line, importlib.resources through importlib.abc, uuid and http.cookies for
# placeholders it does not use; multiprocessing and pickle, which the
# supervisor's pipe does without). ``ssl`` itself is not
# here: asyncio imports it in every process that runs an event loop.
FEATURE_ONLY = ("fastsnake.server.tls", "fastsnake.server.on_demand", "fastsnake.certs.store",
                "fastsnake.files.server", "fastsnake.files.browse", "fastsnake.routing.auth",
                "fastsnake.apps.dynamic", "fastsnake.apps.tenant_env", "fastsnake._asgi",
                "fastsnake._websocket", "fastsnake.routing.accesslog", "fastsnake.routing.logroll",
                "mimetypes", "hashlib", "difflib", "email", "uuid", "http.cookies",
                "importlib.resources", "multiprocessing", "pickle")

MODULES_CADDYFILE = """
:$PORT {
    %s
    python {
        module_wsgi "wsgi_modules:app"
        working_dir "$APPS"
        workers 1
    }
}
"""


def worker_modules(server) -> set[str]:
    return set(requests.get(server.base_url + "/", timeout=10).text.split())


def test_a_wsgi_worker_loads_no_module_of_a_feature_it_does_not_use(serve):
    modules = worker_modules(serve(MODULES_CADDYFILE % ""))
    assert "fastsnake._wsgi" in modules  # the list is the worker's
    assert sorted(modules.intersection(FEATURE_ONLY)) == []


def test_a_feature_the_caddyfile_uses_is_loaded(serve, tmp_path):
    # The control: the names above are the modules that serve those features.
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "a.txt").write_text("a")
    used = f"handle_path /files/* {{\n root * {tmp_path / 'site'}\n file_server\n }}"
    server = serve(MODULES_CADDYFILE % used)
    assert requests.get(server.base_url + "/files/a.txt", timeout=10).text == "a"
    assert {"fastsnake.files.server", "mimetypes"} <= worker_modules(server)
