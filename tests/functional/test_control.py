"""fastsnake reload and fastsnake stop reach the server that runs a Caddyfile,
as caddy reload and caddy stop do; admin off keeps them out."""

from __future__ import annotations

import subprocess
import sys
import time

import requests


def command(*args: str, cwd) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fastsnake", *args], capture_output=True,
                          text=True, timeout=90, cwd=cwd)


SITE = ":$PORT {\n\trespond \"%s\"\n}\n"


def test_reload_and_stop(serve, tmp_path):
    server = serve(SITE % "first")
    assert requests.get(server.base_url, timeout=10).text == "first"
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(caddyfile.read_text().replace("first", "second"))
    done = command("reload", "--config", str(caddyfile), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    deadline = time.monotonic() + 20
    while requests.get(server.base_url, timeout=10).text != "second":
        assert time.monotonic() < deadline, server.log
        time.sleep(0.1)
    done = command("stop", "--config", "Caddyfile", cwd=tmp_path)  # a relative path works too
    assert done.returncode == 0, done.stderr
    assert server.proc.wait(10) == 0
    # Nothing runs it now.
    done = command("reload", "--config", str(caddyfile), cwd=tmp_path)
    assert done.returncode == 1 and "no fastsnake is running" in done.stderr


def test_reload_refuses_a_caddyfile_that_does_not_load(serve, tmp_path):
    server = serve(SITE % "kept")
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(caddyfile.read_text() + "oops {\n")
    done = command("reload", "--config", str(caddyfile), cwd=tmp_path)
    assert done.returncode == 1 and f"{caddyfile}:" in done.stderr
    assert requests.get(server.base_url, timeout=10).text == "kept"


def test_admin_off_keeps_the_commands_out(serve, tmp_path):
    server = serve("{\n\tadmin off\n}\n" + SITE % "private")
    done = command("stop", "--config", str(tmp_path / "Caddyfile"), cwd=tmp_path)
    assert done.returncode == 1 and "admin off" in done.stderr
    assert requests.get(server.base_url, timeout=10).text == "private"
