"""bind unix//path (with Caddy's |mode) and bind fd/N (socket activation, as
systemd's socket units do), for the process and the thread runtime, with
real sockets."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys

import pytest

from tests.server import BANNER, RunningServer

APP = '''
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("%s|%s" % (environ["REMOTE_ADDR"], environ["PATH_INFO"])).encode()]

async def asgi(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body",
                "body": repr((scope["client"], scope["server"])).encode()})
'''

RUNTIMES = {"process": "workers 2", "thread": "workers_runtime thread"}


def caddyfile(tmp_path, bind: str, runtime: str, module: str = "module_wsgi \"sockapp:app\""):
    (tmp_path / "sockapp.py").write_text(APP)
    path = tmp_path / "Caddyfile"
    path.write_text(f":8080 {{\n\tbind {bind}\n\tpython {{\n\t\t{module}\n"
                    f"\t\tworking_dir \"{tmp_path}\"\n\t\t{RUNTIMES[runtime]}\n\t}}\n}}\n")
    return path


def ask(sock: socket.socket, path: str = "/x") -> bytes:
    sock.settimeout(10)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_unix_socket_with_its_mode(tmp_path, runtime):
    socket_path = tmp_path / "app.sock"
    server = RunningServer(caddyfile(tmp_path, f"unix/{socket_path}|0660", runtime), 0)
    try:
        server.wait_ready()
        assert stat.S_IMODE(os.stat(socket_path).st_mode) == 0o660
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(str(socket_path))
            answer = ask(client)
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"|/x")
    finally:
        assert server.stop() == 0
    assert not socket_path.exists()  # removed when the server stops, as Caddy does


def test_an_asgi_app_on_a_unix_socket_sees_its_path(tmp_path):
    socket_path = tmp_path / "asgi.sock"
    server = RunningServer(caddyfile(tmp_path, f"unix/{socket_path}", "process",
                                     'module_asgi "sockapp:asgi"'), 0)
    try:
        server.wait_ready()
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(str(socket_path))
            answer = ask(client)
        assert answer.endswith(repr((None, (str(socket_path), None))).encode())
    finally:
        server.stop()


def test_a_stale_socket_file_is_replaced_and_a_live_one_refused(tmp_path):
    socket_path = tmp_path / "app.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(socket_path))  # bound, never listening: what a dead server leaves
    stale.close()
    server = RunningServer(caddyfile(tmp_path, f"unix/{socket_path}", "process"), 0)
    try:
        server.wait_ready()
        second = subprocess.run([sys.executable, "-m", "fastsnake", str(tmp_path / "Caddyfile")],
                                capture_output=True, text=True, timeout=60, cwd=tmp_path)
        assert second.returncode == 1
        assert "another server listens on this socket" in second.stderr
    finally:
        server.stop()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_socket_activation_with_an_inherited_fd(tmp_path, runtime):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    fd = listener.fileno()
    path = caddyfile(tmp_path, f"fd/{fd}", runtime)
    proc = subprocess.Popen([sys.executable, "-m", "fastsnake", str(path)], pass_fds=(fd,),
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    listener.close()  # the server holds it now
    try:
        line = ""
        while BANNER not in line:
            line = proc.stderr.readline()
            assert line, "fastsnake did not start"
        assert f"fd/{fd}" in line
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            answer = ask(client)
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"127.0.0.1|/x")
    finally:
        proc.terminate()
        assert proc.wait(30) == 0


def test_bind_errors(tmp_path):
    for bind, message in [("unix/", "unix/ needs a socket path"),
                          ("unix//tmp/a.sock|9x", "the mode after '|' must be octal"),
                          ("fd/three", "fd/ takes a file descriptor number"),
                          ("unixgram//tmp/a.sock", "datagram sockets cannot carry HTTP/1.1"),
                          (f"unix/{tmp_path}/missing/a.sock", "does not exist")]:
        path = caddyfile(tmp_path, bind, "process")
        done = subprocess.run([sys.executable, "-m", "fastsnake", "validate", "--config",
                               str(path)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 1 and f"{path}:2: " in done.stderr, done.stderr
        assert message in done.stderr, done.stderr
