"""``supervisor off``: a real fastsnake that serves from the one process it
started as (no supervisor, no worker processes), drains and stops on
SIGTERM, reopens its logs on SIGUSR1, and reloads by re-executing itself
without refusing a connection."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading

import pytest
import requests

from tests.functional.test_reload import Hammer, wait_for_version
from tests.functional.test_sighup import APPS  # apps:one and apps:two
from tests.server import RunningServer, free_port

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and fork")

CADDYFILE = """{
    supervisor off
}
:$PORT {
    log {
        output file access.log
        format json
    }
    python /ws/* {
        module_asgi "asgi_basic:app"
        working_dir "$APPS"
    }
    python {
        module_wsgi "wsgi_basic:app"
        working_dir "$APPS"
    }
}
"""


def command(*args: str, cwd) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fastsnake", *args], capture_output=True,
                          text=True, timeout=90, cwd=cwd)


def test_serves_wsgi_and_asgi_from_the_one_process(serve):
    server = serve(CADDYFILE)
    assert server.worker_pids() == set()  # no supervisor, so no children either
    assert "workers=1 (supervisor off)" in server.log
    # The WSGI app runs in the process fastsnake started as.
    assert requests.get(server.base_url + "/whoami", timeout=10).text.split()[0] == str(
        server.proc.pid)
    body = b"z" * (3 * 1024 * 1024)
    assert requests.post(server.base_url + "/digest", data=body, timeout=30).text.startswith(
        f"{len(body)} ")
    assert requests.get(server.base_url + "/boom", timeout=10).status_code == 500
    assert "Traceback" in server.log
    assert requests.get(server.base_url + "/hello", timeout=10).text == "hello"
    websockets = pytest.importorskip("websockets.sync.client")
    with websockets.connect(f"ws://127.0.0.1:{server.port}/ws/echo") as ws:
        ws.send("one process")
        assert ws.recv(timeout=10) == "one process"
    assert server.stop() == 0


def test_sigterm_lets_the_request_in_flight_finish(serve):
    server = serve(CADDYFILE)
    answers: list[requests.Response] = []
    slow = threading.Thread(target=lambda: answers.append(
        requests.get(server.base_url + "/slow?1.5", timeout=30)))
    slow.start()
    assert server.wait_for_text("slow request started")
    server.signal(signal.SIGTERM)
    slow.join(30)
    assert [(r.status_code, r.text) for r in answers] == [(200, "slow done")]
    assert server.proc.wait(30) == 0


def test_sigusr1_reopens_the_access_log(serve, tmp_path):
    server = serve(CADDYFILE)
    assert requests.get(server.base_url + "/hello?before", timeout=10).status_code == 200
    (tmp_path / "access.log").rename(tmp_path / "access.log.1")  # logrotate's rename
    mark = len(server.lines)
    server.signal(signal.SIGUSR1)  # its postrotate
    assert server.wait_for_text("received SIGUSR1", start=mark)
    assert requests.get(server.base_url + "/hello?after", timeout=10).status_code == 200
    assert server.stop() == 0
    assert "before" in (tmp_path / "access.log.1").read_text()
    reopened = (tmp_path / "access.log").read_text()
    assert "after" in reopened and "before" not in reopened


RELOADED = """{
    supervisor off
}
:%d {
    python {
        module_wsgi "apps:%s"
        working_dir app
    }
}
"""


def test_reload_reexecutes_without_failing_a_request(serve, tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "apps.py").write_text(APPS)
    port = free_port()
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(RELOADED % (port, "one"))
    # Started as `fastsnake Caddyfile`: the reload reads it again although the
    # app's working_dir has become the process's current directory.
    server = RunningServer(caddyfile, port, relative=True)
    try:
        reload_and_stop(server, caddyfile, tmp_path)
    finally:
        server.stop()


def reload_and_stop(server: RunningServer, caddyfile, tmp_path) -> None:
    server.wait_ready()
    assert requests.get(server.base_url, timeout=10).text == "one"
    hammer = Hammer(server.base_url)  # keep-alive requests throughout
    try:
        caddyfile.write_text(RELOADED % (server.port, "two"))
        mark = len(server.lines)
        done = command("reload", "--config", str(caddyfile), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert server.wait_for_text("configuration checked", start=mark)
        assert server.wait_for_text("fastsnake: serving", start=mark)  # the new image
        assert wait_for_version(server, "two")  # new connections, some queued meanwhile
    finally:
        hammer.finish()
    assert hammer.failures == []
    assert {"one", "two"} <= set(hammer.answers)
    assert server.worker_pids() == set()  # still one process: the same one, re-executed
    assert requests.get(server.base_url + "/", timeout=10).text == "two"

    # An app that does not import, then a Caddyfile that does not load: each
    # is logged, and the running configuration keeps serving.
    caddyfile.write_text(RELOADED % (server.port, "three"))
    mark = len(server.lines)
    server.signal(signal.SIGHUP)
    assert server.wait_for_text("apps do not load, keeping the old one", start=mark)
    assert "three" in server.log
    caddyfile.write_text((RELOADED % (server.port, "one")).replace("off", "watchdog"))
    mark = len(server.lines)
    server.signal(signal.SIGHUP)
    assert server.wait_for_text("switches between 'supervisor off' and 'supervisor watchdog'; "
                                "that needs a restart", start=mark)
    caddyfile.write_text(f":{server.port} {{\n    bogus\n}}\n")
    mark = len(server.lines)
    server.signal(signal.SIGHUP)
    assert server.wait_for_text("does not load, keeping the old one", start=mark)
    assert requests.get(server.base_url, timeout=10).text == "two"
    done = command("stop", "--config", str(caddyfile), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert server.proc.wait(10) == 0


def test_a_refused_combination_exits_1_with_the_line(serve, tmp_path):
    server = serve(CADDYFILE.replace('module_wsgi "wsgi_basic:app"',
                                     'module_wsgi "wsgi_basic:app"\n        workers 4'),
                   wait=False)
    assert server.proc.wait(30) == 1
    assert (f"{tmp_path / 'Caddyfile'}:13: workers 4 needs worker processes, which needs the "
            "supervisor") in server.log


@pytest.mark.parametrize("mode", ["off", "watchdog"])
def test_apps_slower_than_start_timeout_are_a_startup_failure(serve, tmp_path, mode):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "apps.py").write_text("import time\ntime.sleep(30)\n" + APPS)
    server = serve((RELOADED.replace("%d", "$PORT") % "one").replace(
        "working_dir app", "working_dir app\n        start_timeout 1s").replace(
        "supervisor off", f"supervisor {mode}"), wait=False)
    assert server.proc.wait(20) == 1  # an import that hangs: the timer runs in a thread
    assert "the apps were not ready within start_timeout 1s" in server.log
    assert "fastsnake: serving" not in server.log
