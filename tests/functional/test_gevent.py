"""``runtime gevent``: WSGI apps on monkey-patched gevent worker processes,
many blocking requests at once in one process."""

from __future__ import annotations

import concurrent.futures
import json
import pathlib
import signal
import sys
import threading

import pytest
import requests

from tests.functional.test_reload import wait_for_version

pytest.importorskip("gevent")
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="gevent workers need fork")

CADDYFILE = """
:$PORT {
    python {
        module_wsgi "gevent_app:app"
        working_dir "$APPS"
        runtime gevent
        workers 1
        %s
    }
}
"""


def test_the_app_runs_monkey_patched(serve):
    server = serve(CADDYFILE % "")
    assert requests.get(server.base_url + "/patched", timeout=10).text == "True"
    assert "runtime=gevent workers=1" in server.log
    if sys.platform.startswith("linux"):  # only the worker loads gevent, never the supervisor
        assert "greenlet" not in pathlib.Path(f"/proc/{server.proc.pid}/maps").read_text()
        (worker,) = server.worker_pids()
        assert "greenlet" in pathlib.Path(f"/proc/{worker}/maps").read_text()


def test_an_app_error_is_a_500_and_logged(serve):
    server = serve(CADDYFILE % "")
    assert requests.get(server.base_url + "/boom", timeout=10).status_code == 500
    assert server.wait_for_text("boom from the gevent test app")
    assert requests.get(server.base_url + "/hello", timeout=10).text == "hello"


def test_many_blocking_requests_at_once_in_one_process(serve):
    server = serve(CADDYFILE % "")
    # Each request waits in the app until all 20 are inside it: served one at
    # a time, the first would wait for ever (the barrier breaks, 500s).
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(
            lambda _: requests.get(server.base_url + "/barrier", timeout=90), range(20)))
    assert [(a.status_code, a.text) for a in answers] == [(200, "through")] * 20
    assert len({requests.get(server.base_url + "/pid", timeout=10).text
                for _ in range(5)}) == 1  # one process served them


def test_time_sleep_does_not_stall_other_requests(serve):
    server = serve(CADDYFILE % "")
    slow_done = threading.Event()

    def slow() -> str:
        text = requests.get(server.base_url + "/sleep?3", timeout=30).text
        slow_done.set()
        return text

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        slow_future = pool.submit(slow)
        assert server.wait_for_text("sleep started")
        for _ in range(10):
            assert requests.get(server.base_url + "/hello", timeout=10).text == "hello"
        assert not slow_done.is_set()  # answered while the sleep went on
        assert slow_future.result(30) == "slept"


def test_an_app_that_does_not_import_stops_the_server(serve):
    server = serve(CADDYFILE.replace("gevent_app:app", "no_such_module:app") % "", wait=False)
    assert server.proc.wait(30) == 1
    assert "cannot import module 'no_such_module'" in server.log


def test_sigterm_lets_an_inflight_request_finish(serve):
    server = serve(CADDYFILE % "")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        slow = pool.submit(requests.get, server.base_url + "/sleep?2", timeout=30)
        assert server.wait_for_text("sleep started")
        server.signal(signal.SIGTERM)
        answer = slow.result(30)
    assert (answer.status_code, answer.text) == (200, "slept")
    assert server.proc.wait(30) == 0


def test_sighup_replaces_the_gevent_workers(serve):
    server = serve(CADDYFILE % "")
    before = server.worker_pids()
    mark = len(server.lines)
    server.signal(signal.SIGHUP)
    assert server.wait_for_text("configuration reloaded", start=mark)
    assert server.wait_for_text("retired", start=mark)
    assert not (server.worker_pids() & before)
    assert requests.get(server.base_url + "/patched", timeout=10).text == "True"


def test_max_requests_replaces_the_worker(serve):
    server = serve(CADDYFILE % "max_requests 3")
    first = requests.get(server.base_url + "/pid", timeout=10).text
    for _ in range(3):
        requests.get(server.base_url + "/hello", timeout=10)
    assert server.wait_for_text("retired")
    assert requests.get(server.base_url + "/pid", timeout=10).text != first


def test_request_body_limit(serve):
    server = serve(CADDYFILE % "request_body max_size 10")
    assert requests.post(server.base_url + "/echo", data=b"0123456789",
                         timeout=10).text == "0123456789"
    assert requests.post(server.base_url + "/echo", data=b"x" * 11,
                         timeout=10).status_code == 413


def test_handle_path_mount_host_and_access_log(serve, tmp_path):
    access = tmp_path / "access.log"
    server = serve(f"""
http://127.0.0.1:$PORT {{
    log {{
        output file {access}
    }}
    handle_path /api/* {{
        python {{
            module_wsgi "gevent_app:app"
            working_dir "$APPS"
            runtime gevent
            workers 2
        }}
    }}
}}
""")
    assert requests.get(server.base_url + "/api/mount", timeout=10).text == "/api|/mount"
    # Outside the mount, or for another Host: no route, Caddy's empty 200.
    outside = requests.get(server.base_url + "/mount", timeout=10)
    assert (outside.status_code, outside.text) == (200, "")
    other = requests.get(server.base_url + "/api/mount", headers={"Host": "example.com"},
                         timeout=10)
    assert (other.status_code, other.text) == (200, "")
    server.stop()
    entries = [json.loads(line) for line in access.read_text().splitlines()]
    first = entries[0]
    assert (first["request"]["uri"], first["status"], first["size"]) == ("/api/mount", 200,
                                                                         len("/api|/mount"))
    assert len(entries) == 3


def test_without_fork_runtime_gevent_is_refused(serve):
    server = serve(CADDYFILE % "", env={"FASTSNAKE_NO_FORK": "1"}, wait=False)
    assert server.proc.wait(30) == 1
    assert "runtime gevent needs fork (worker processes)" in server.log


def test_request_body_limit_on_a_chunked_body(serve):
    server = serve(CADDYFILE % "request_body max_size 10")

    def chunks(*parts: bytes):
        yield from parts

    small = requests.post(server.base_url + "/echo", data=chunks(b"01234", b"56789"),
                          timeout=10)
    assert small.text == "0123456789"
    big = requests.post(server.base_url + "/echo", data=chunks(b"012345", b"678901"),
                        timeout=10)
    assert big.status_code == 413


def test_autoreload_replaces_the_gevent_workers(serve, tmp_path):
    folder = tmp_path / "app"
    folder.mkdir()
    source = ('import gevent.monkey\n\ndef app(environ, start_response):\n'
              '    start_response("200 OK", [("Content-Type", "text/plain")])\n'
              '    return [b"%s " + str(gevent.monkey.is_module_patched("socket")).encode()]\n')
    (folder / "versioned.py").write_text(source % "one")
    server = serve(f"""
:$PORT {{
    python {{
        module_wsgi "versioned:app"
        working_dir "{folder}"
        runtime gevent
        workers 2
        autoreload
    }}
}}
""")
    assert requests.get(server.base_url, timeout=10).text == "one True"
    (folder / "versioned.py").write_text(source % "two")
    assert wait_for_version(server, "two True")

