"""``module_esgi`` (caddy-snake's ESGI 0.1 draft) on the gevent worker: an
ESGI app driven over real sockets, HTTP and WebSocket, with the Caddyfile
caddy-snake's docs write for it."""

from __future__ import annotations

import os
import socket
import struct
import sys
import textwrap

import pytest
import requests

from tests.websocket_helpers import RawClient as Client

pytest.importorskip("gevent")
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="gevent workers need fork")

APP = '''
import time

def application(scope, protocol):
    path = scope["path"]
    if scope["proto"] == "ws":
        if path != "/ws":
            protocol.close(code=1008, reason="no such socket")
            return
        ws = protocol.accept()
        while True:
            msg = ws.receive()
            if msg.kind == 0:
                break
            if msg.kind == 2:
                ws.send_str("echo:" + msg.data)
            else:
                ws.send_bytes(b"echo:" + msg.data)
        protocol.close()
        return
    if path == "/hello":
        protocol.response_bytes(200, [("Content-Type", "text/plain")], b"hello esgi")
    elif path == "/echo":
        protocol.response_bytes(200, [("Content-Type", "application/octet-stream")],
                                protocol.read_body())
    elif path == "/scope":
        shown = {k: scope[k] for k in ("proto", "esgi_version", "http_version", "scheme",
                                       "method", "path", "query_string")}
        shown["agent"] = scope["headers"]["x-agent"]
        protocol.response_str(200, [("Content-Type", "text/plain")], repr(shown))
    elif path == "/file":
        protocol.response_file(200, [("Content-Type", "text/plain")], "data.txt")
    elif path == "/range":
        protocol.response_file_range(206, [("Content-Type", "text/plain")], "data.txt", 2, 6)
    elif path == "/sleep":
        time.sleep(0.5)  # monkey-patched: other requests go on meanwhile
        protocol.response_empty(204, [])
    elif path == "/boom":
        raise RuntimeError("boom")
    else:
        protocol.response_bytes(404, [("Content-Type", "text/plain")], b"not found")


class Counter:
    """An app object with __esgi__ (preferred over __call__)."""

    def __init__(self):
        self.count = 0

    def __esgi__(self, scope, protocol):
        self.count += 1
        protocol.response_str(200, [], str(self.count))

    def __call__(self, scope, protocol):
        raise AssertionError("__esgi__ is preferred")


counter = Counter()
'''

# caddy-snake's docs/docs/esgi.md block (runtime gevent may be left out).
CADDYFILE = """
:$PORT {
\tpython /* {
\t\tmodule_esgi "%s"
\t\t%s
\t\tworking_dir "%s"
\t\tworkers 1
\t}
}
"""


@pytest.fixture
def server(serve, tmp_path):
    (tmp_path / "esgi_app.py").write_text(APP)
    (tmp_path / "data.txt").write_text("0123456789")
    return serve(CADDYFILE % ("esgi_app:application", "runtime gevent", tmp_path))


def test_http_requests(server):
    base = server.base_url
    with requests.Session() as session:  # one keep-alive connection
        assert session.get(base + "/hello", timeout=10).content == b"hello esgi"
        payload = os.urandom(300_000)
        assert session.post(base + "/echo", data=payload, timeout=10).content == payload
        chunked = session.post(base + "/echo", data=iter([b"ab", b"cd"]), timeout=10)
        assert chunked.content == b"abcd"
        scope = session.get(base + "/scope?x=1", headers={"X-Agent": "t"}, timeout=10).text
        assert scope == repr({"proto": "http", "esgi_version": "0.1", "http_version": "1.1",
                              "scheme": "http", "method": "GET", "path": "/scope",
                              "query_string": "x=1", "agent": "t"})
        assert session.get(base + "/file", timeout=10).text == "0123456789"
        answer = session.get(base + "/range", timeout=10)
        assert (answer.status_code, answer.text) == (206, "2345")
        head = session.head(base + "/hello", timeout=10)
        assert (head.status_code, head.headers["Content-Length"], head.content) == (
            200, "10", b"")
        assert session.get(base + "/nope", timeout=10).status_code == 404
        assert session.get(base + "/boom", timeout=10).status_code == 500
        assert session.get(base + "/hello", timeout=10).status_code == 200
    assert "RuntimeError: boom" in server.log


def test_blocking_calls_yield_to_other_connections(server):
    sockets = []
    for _ in range(20):
        sock = server.connect(timeout=30)
        sock.sendall(b"GET /sleep HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        sockets.append(sock)
    # While 20 sleepers hold the one worker, a fresh request is answered.
    assert requests.get(server.base_url + "/hello", timeout=10).text == "hello esgi"
    for sock in sockets:
        assert recv_all(sock).startswith(b"HTTP/1.1 204")
        sock.close()


def test_esgi_method_is_preferred(serve, tmp_path):
    (tmp_path / "esgi_app.py").write_text(APP)
    server = serve(CADDYFILE % ("esgi_app:counter", "", tmp_path))  # runtime: its default
    assert [requests.get(server.base_url + "/", timeout=10).text for _ in range(3)] == [
        "1", "2", "3"]
    assert "runtime=gevent" in server.log


def recv_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_websocket_echo(server):
    client = Client(server)
    assert client.head.startswith(b"HTTP/1.1 101")
    client.send(0x1, "héllo".encode())
    assert client.recv() == (0x1, "echo:héllo".encode())
    blob = os.urandom(70_000)
    client.send(0x2, blob)
    assert client.recv() == (0x2, b"echo:" + blob)
    client.send(0x1, b"frag", fin=False)
    client.send(0x9, b"are you there")  # a ping between fragments
    assert client.recv() == (0xA, b"are you there")
    client.send(0x0, b"mented")
    assert client.recv() == (0x1, b"echo:fragmented")
    client.send(0x8, struct.pack("!H", 1000))
    assert client.recv() == (0x8, struct.pack("!H", 1000))
    assert client.file.read() == b""  # and the connection is closed


def test_websocket_refused_and_broken(server):
    refused = Client(server, "/elsewhere")
    assert refused.head.startswith(b"HTTP/1.1 403")
    client = Client(server)
    client.send(0x1, b"\xff\xfe")  # not UTF-8
    assert client.recv() == (0x8, struct.pack("!H", 1007))
    client = Client(server)
    client.sock.sendall(b"\x81\x05hello")  # unmasked
    assert client.recv() == (0x8, struct.pack("!H", 1002))


def test_module_esgi_refused_without_gevent_runtime(serve, tmp_path):
    (tmp_path / "esgi_app.py").write_text(APP)
    server = serve(textwrap.dedent(CADDYFILE % ("esgi_app:application", "runtime sync",
                                                tmp_path)), wait=False)
    assert server.proc.wait(30) == 1
    server.reader.join(5)
    assert ("Caddyfile:5: module_esgi runs on runtime gevent only (ESGI's protocol calls "
            "block, and greenlets let them), got 'sync'") in server.log
