"""ASGI over a real fastsnake: HTTP, lifespan and errors."""

from __future__ import annotations

import hashlib
import json
import os
import socket

import pytest
import requests

from tests.protocol_harness import parse_responses

ASGI = """
:$PORT {
    python {
        module_asgi "asgi_basic:app"
        working_dir "$APPS"
        workers %d
        lifespan %s
    }
}
"""


def asgi(workers: int = 1, lifespan: str = "off") -> str:
    return ASGI % (workers, lifespan)


def test_scope(serve):
    server = serve(asgi())
    resp = requests.get(server.base_url + "/scope/caf%C3%A9%20x?a=%20b", timeout=10,
                        headers={"X-Custom": "Value"})
    scope = resp.json()
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "http"
    assert scope["root_path"] == ""
    assert scope["path"] == "/scope/café x"
    assert scope["raw_path"] == "/scope/caf%C3%A9%20x"
    assert scope["query_string"] == "a=%20b"
    assert ["x-custom", "Value"] in scope["headers"]
    assert scope["client"][0] == "127.0.0.1"
    assert scope["server"][1] == server.port
    assert scope["state"] is None  # lifespan off: no state


def test_bodies_both_ways(serve):
    server = serve(asgi())
    body = os.urandom(10 * 1024 * 1024)
    resp = requests.post(server.base_url + "/digest", data=body, timeout=30)
    assert resp.text == f"{len(body)} {hashlib.sha256(body).hexdigest()}"
    parts = [os.urandom(5000) for _ in range(30)]
    resp = requests.post(server.base_url + "/digest", data=iter(parts), timeout=30)
    whole = b"".join(parts)
    assert resp.text == f"{len(whole)} {hashlib.sha256(whole).hexdigest()}"
    resp = requests.get(server.base_url + "/stream?50", timeout=10)
    assert resp.headers["transfer-encoding"] == "chunked"
    assert resp.content == b"".join(b"part %d\n" % i for i in range(50))


def test_keep_alive_and_pipelining(serve):
    server = serve(asgi())
    with server.connect() as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n"
                     b"POST /digest HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
                     b"GET /stream?3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    responses = parse_responses(data)
    assert [r[2] for r in responses] == [
        b"hello", f"3 {hashlib.sha256(b'abc').hexdigest()}".encode(),
        b"part 0\npart 1\npart 2\n"]


def test_each_request_runs_in_its_own_current_task(serve):
    # The app's first step runs on the protocol's call (eagerly), yet it is
    # inside a real Task: asyncio.timeout and anyio need current_task(), and
    # a context variable set by one request is not seen by the next.
    server = serve(asgi())
    with requests.Session() as session:
        for _ in range(3):
            view = session.get(server.base_url + "/task", timeout=10).json()
            assert view == {"is_task": True, "fresh_task": True, "same_after_await": True,
                            "mark_before": "unset"}
    # Pipelined: the second request starts from the first one's task.
    with server.connect() as sock:
        sock.sendall(b"GET /task HTTP/1.1\r\nHost: a\r\n\r\n" * 3
                     + b"GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    responses = parse_responses(data)
    assert [r[0] for r in responses] == [200] * 4
    for _status, _headers, body in responses[:3]:
        assert json.loads(body) == {"is_task": True, "fresh_task": True,
                                    "same_after_await": True, "mark_before": "unset"}


def test_pathsend_serves_the_file(serve):
    server = serve(asgi())
    size = 3 * 1024 * 1024 + 5
    resp = requests.get(f"{server.base_url}/pathsend?{size}", timeout=30)
    assert resp.headers["content-length"] == str(size)
    assert resp.content == (bytes(range(256)) * (size // 256 + 1))[:size]


def test_app_errors(serve):
    server = serve(asgi())
    assert requests.get(server.base_url + "/boom", timeout=10).status_code == 500
    assert server.wait_for_text("RuntimeError: asgi boom from the test app")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        _ = requests.get(server.base_url + "/boom-late", timeout=10).content
    assert server.wait_for_text("late asgi boom from the test app")
    assert requests.get(server.base_url + "/no-response", timeout=10).status_code == 500
    assert server.wait_for_text("returned without completing its response")
    assert requests.get(server.base_url + "/hello", timeout=10).text == "hello"


def test_disconnect_mid_stream_is_quiet(serve):
    server = serve(asgi())
    with server.connect() as sock:
        sock.sendall(b"GET /endless HTTP/1.1\r\nHost: a\r\n\r\n")
        assert sock.recv(65536)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    assert server.wait_for_text("endless stream ended")
    with server.connect() as sock:
        sock.sendall(b"GET /wait-disconnect HTTP/1.1\r\nHost: a\r\n\r\n")
        assert sock.recv(65536)
    assert server.wait_for_text("got http.disconnect")
    assert requests.get(server.base_url + "/hello", timeout=10).text == "hello"
    assert "Traceback" not in server.log


def test_lifespan_state_and_shutdown(serve):
    server = serve(asgi(workers=2, lifespan="on"))
    assert server.wait_for_text("lifespan startup in")
    # Once per worker process (two processes may interleave on one line).
    assert server.log.count("lifespan startup in") == 2
    scope = requests.get(server.base_url + "/scope", timeout=10).json()
    assert scope["state"] == {"greeting": "hello from lifespan"}
    assert server.stop() == 0
    assert server.log.count("lifespan shutdown in") == 2


def test_lifespan_startup_failure_stops_the_server(serve):
    server = serve(asgi(workers=2, lifespan="on"), env={"FAIL_STARTUP": "1"}, wait=False)
    assert server.proc.wait(30) == 1
    assert "told to fail" in server.log
    assert "respawning" not in server.log


def test_an_app_that_rejects_the_lifespan_scope_is_served_without_it(serve):
    # ASGI spec: an exception on the lifespan scope itself means "not
    # supported"; the server goes on without lifespan events.
    server = serve(asgi(workers=2, lifespan="on"), env={"REJECT_LIFESPAN": "1"})
    assert requests.get(server.base_url + "/hello", timeout=10).text == "hello"
    assert "does not support the lifespan protocol" in server.log
    assert server.stop() == 0


def test_client_that_stops_mid_body_is_not_an_app_error(serve):
    server = serve(asgi())
    with server.connect() as sock:
        sock.sendall(b"POST /digest HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nonly part")
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(65536) == b""  # nothing can be answered to half a request
    assert requests.get(server.base_url + "/hello", timeout=10).text == "hello"
    assert "ERROR" not in server.log and "Traceback" not in server.log
