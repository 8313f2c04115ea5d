"""Caddy's `servers { timeouts { read_header read_body write idle } }` against a
real server, each at 1s. The worker's tick checks deadlines every 0.5 s, so a
deadline is met within about 1.5 s; the tests wait for behaviour (a status, a
close, a log line), never on a time budget.
"""

from __future__ import annotations

import select
import socket

import pytest

from tests.protocol_harness import parse_responses
from tests.server import start_hardening_server

TIMEOUTS = """
{
    servers {
        timeouts {
            read_header 1s
            read_body 1s
            write 1s
            idle 1s
        }
    }
}"""


@pytest.fixture(scope="module")
def wsgi_server(tmp_path_factory):
    server = start_hardening_server(tmp_path_factory.mktemp("timeouts-wsgi"), "wsgi", TIMEOUTS)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def asgi_server(tmp_path_factory):
    server = start_hardening_server(tmp_path_factory.mktemp("timeouts-asgi"), "asgi", TIMEOUTS)
    yield server
    server.stop()


@pytest.fixture(params=["wsgi", "asgi"])
def server(request):
    return request.getfixturevalue(f"{request.param}_server")


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything until EOF; socket.timeout (the test fails) if it never comes."""
    data = bytearray()
    while True:
        try:
            block = sock.recv(65536)
        except ConnectionResetError:
            return bytes(data)
        if not block:
            return bytes(data)
        data += block


def test_read_header_timeout_is_408_and_close(server):
    with server.connect(timeout=10) as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: a\r\n")
        (status, headers, _), = parse_responses(read_until_closed(sock))
    assert (status, headers["connection"]) == (408, "close")


def test_slowloris_is_cut_at_the_read_header_deadline(server):
    """One header byte every 200 ms: the deadline counts from the head's first
    byte, so trickling does not extend it; the head (80 bytes, 16 s at this
    pace) is cut long before it could finish."""
    value = b"x" * 80
    sent = 0
    with server.connect(timeout=10) as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: a\r\nX-Slow: ")
        while sent < len(value):
            readable, _, _ = select.select([sock], [], [], 0.2)
            if readable:
                break
            try:
                sock.sendall(value[sent:sent + 1])
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += 1
        (status, headers, _), = parse_responses(read_until_closed(sock))
    assert (status, headers["connection"]) == (408, "close")
    assert sent < len(value)


def test_read_body_timeout_is_408_and_close(server):
    with server.connect(timeout=10) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
        (status, headers, _), = parse_responses(read_until_closed(sock))
    assert (status, headers["connection"]) == (408, "close")


def test_read_body_timeout_covers_a_trickled_chunked_body(server):
    with server.connect(timeout=10) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(40):  # 8 s of one small chunk every 200 ms
            readable, _, _ = select.select([sock], [], [], 0.2)
            if readable:
                break
            sock.sendall(b"1\r\nx\r\n")
        (status, headers, _), = parse_responses(read_until_closed(sock))
    assert (status, headers["connection"]) == (408, "close")


def test_read_body_deadline_ends_with_the_body(asgi_server):
    """The app may take longer than read_body once the body is in (and when
    there is none): that is not the client's delay."""
    with asgi_server.connect(timeout=10) as sock:
        sock.sendall(b"POST /slow-body?2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
                     b"GET /slow-body?2 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        responses = parse_responses(read_until_closed(sock))
    assert [(r[0], r[2]) for r in responses] == [(200, b"slow 3"), (200, b"slow 0")]


def test_write_timeout_aborts_a_client_that_stops_reading(server):
    mark = len(server.lines)
    with server.connect(timeout=10) as sock:
        sock.sendall(b"GET /endless HTTP/1.1\r\nHost: a\r\n\r\n")
        # Never read: the socket fills, the server pauses, the deadline passes.
        assert server.wait_for_text("endless stream ended", timeout=30, start=mark)
        data = read_until_closed(sock)  # what was in flight, then EOF or reset
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")


def test_idle_keep_alive_connection_is_closed(server):
    with server.connect(timeout=10) as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n")
        (status, headers, body), = parse_responses(read_until_closed(sock))
    assert (status, body) == (200, b"hello")
    assert "connection" not in headers  # kept alive, then closed by the idle timeout


def test_a_connection_that_never_speaks_is_closed(server):
    with server.connect(timeout=10) as sock:
        assert read_until_closed(sock) == b""
