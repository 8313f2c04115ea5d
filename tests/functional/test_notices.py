"""Every load-time notice reaches the user: ``validate``, ``adapt`` and
``run`` print what the Caddyfile asked for that fastsnake ignores or does
differently, though the server's own logging is set up only after the load."""

from __future__ import annotations

import subprocess
import sys

import pytest

APP = "def app(environ, start_response):\n    start_response('200 OK', [])\n    return [b'']\n"

NOTICES = [
    pytest.param("{\n\tadmin off\n}\n:$PORT {\n\trespond ok\n}\n",
                 "admin off: 'fastsnake reload' and 'fastsnake stop' cannot reach", id="admin-off"),
    pytest.param("{\n\tadmin localhost:2019\n}\n:$PORT {\n\trespond ok\n}\n",
                 "global option 'admin' is ignored", id="admin-address"),
    pytest.param("{\n\tstorage file_system $DIR/data\n}\nlocalhost:$PORT {\n\trespond ok\n}\n",
                 "from fastsnake's local CA: clients trust it once 'fastsnake trust' has "
                 "installed its root", id="local-ca"),
    pytest.param(':$PORT {\n\tpython {\n\t\tmodule_wsgi "app:app"\n\t\tlifespan on\n\t}\n}\n',
                 "lifespan only applies to ASGI apps", id="lifespan-wsgi"),
    pytest.param(':$PORT {\n\tpython {\n\t\tmodule_asgi "app:app"\n\t\tthreads 4\n\t}\n}\n',
                 "threads only applies to WSGI apps", id="threads-asgi"),
    pytest.param(":$PORT {\n\tencode zstd gzip\n\trespond ok\n}\n",
                 "zstd needs Python 3.14+", id="zstd",
                 marks=pytest.mark.skipif(sys.version_info >= (3, 14),
                                          reason="compression.zstd exists here")),
]


def write(tmp_path, text: str, port: int = 8080):
    (tmp_path / "app.py").write_text(APP)
    path = tmp_path / "Caddyfile"
    path.write_text(text.replace("$PORT", str(port)).replace("$DIR", str(tmp_path)))
    return path


@pytest.mark.parametrize(("caddyfile", "notice"), NOTICES)
@pytest.mark.parametrize("command", ["validate", "adapt"])
def test_a_notice_is_printed(tmp_path, caddyfile, notice, command):
    path = write(tmp_path, caddyfile)
    done = subprocess.run([sys.executable, "-m", "fastsnake", command, "--config", str(path)],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert notice in done.stderr
    assert f"{path}:" in done.stderr  # where it comes from


def test_run_prints_the_notices_before_serving(serve, tmp_path):
    server = serve("{\n\tadmin off\n}\n:$PORT {\n\tpython {\n\t\tmodule_asgi "
                   "asgi_basic:app\n\t\tworking_dir \"$APPS\"\n\t\tthreads 4\n\t}\n}\n")
    assert "admin off" in server.log
    assert "threads only applies to WSGI apps" in server.log
    # Once each: the server's own logging does not repeat them.
    assert server.log.count("admin off") == 1
