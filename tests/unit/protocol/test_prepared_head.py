"""A fixed response's head checked and serialised once (PreparedHead, in
_exchange.pyx) and completed per request by the connection (prepared_head,
in includes/http1_head.pxi): what respond and cached files send.

Each test runs a real HttpProtocol over a socket pair with a RespondHandler
and reads the raw bytes it wrote; the head must be the one the per-request
path (make_head) writes for the same headers.
"""

from __future__ import annotations

import re

import pytest

from fastsnake._exchange import PreparedHead
from fastsnake._respond import RespondHandler
from tests.protocol_harness import parse_responses, run_exchange

HEADERS = [(b"content-type", b"text/plain"), (b"etag", b'"abc-5"')]
DATE = rb"date: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT\r\n"


def answer(handler: RespondHandler, *requests: bytes) -> bytes:
    return run_exchange(None, list(requests), handler=handler)


def test_a_get_gets_the_head_make_head_would_write():
    handler = RespondHandler(200, b"hello", HEADERS)
    assert handler.prepared is not None
    out = answer(handler, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert re.fullmatch(
        rb"HTTP/1\.1 200 OK\r\ncontent-type: text/plain\r\netag: \"abc-5\"\r\n"
        rb"server: fastsnake\r\n" + DATE + rb"content-length: 5\r\n\r\nhello", out), out


def test_head_has_the_length_and_no_body_and_keeps_the_connection():
    handler = RespondHandler(200, b"hello", HEADERS)
    out = answer(handler, b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n",
                 b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    (s1, h1, b1), (s2, h2, b2) = parse_responses(out, head_methods=["HEAD"])
    assert (s1, b1, s2, b2) == (200, b"", 200, b"hello")
    assert h1["content-length"] == h2["content-length"] == "5"
    assert b"connection:" not in out


@pytest.mark.parametrize("request_line, extra, line", [
    (b"GET / HTTP/1.0", b"", b"connection: close"),
    (b"GET / HTTP/1.0", b"Connection: keep-alive\r\n", b"connection: keep-alive"),
    (b"GET / HTTP/1.1", b"Connection: close\r\n", b"connection: close"),
])
def test_the_connection_line_follows_the_request(request_line, extra, line):
    out = answer(RespondHandler(200, b"hello", HEADERS),
                 request_line + b"\r\nHost: a\r\n" + extra + b"\r\n")
    head = out.partition(b"\r\n\r\n")[0].split(b"\r\n")
    assert head[-1] == line and head[-2] == b"content-length: 5"


def test_respond_close_closes_after_the_answer():
    out = answer(RespondHandler(200, b"bye", close=True),
                 b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert out.count(b"HTTP/1.1 200") == 1 and b"connection: close\r\n" in out


def test_a_large_body_goes_out_whole_behind_its_head():
    body = bytes(range(256)) * 400  # past the size copied behind the head
    out = answer(RespondHandler(200, body, HEADERS), b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    (status, headers, got), = parse_responses(out)
    assert status == 200 and got == body and headers["content-length"] == str(len(body))


@pytest.mark.parametrize("status_line, headers", [
    (b"204 No Content", []),
    (b"304 Not Modified", []),
    (b"101 Switching Protocols", []),
    (b"2x0 OK", []),
    (b"200 OK\r\nx: y", []),
    (b"200 OK", [(b"content-length", b"5")]),
    (b"200 OK", [(b"Connection", b"close")]),
    (b"200 OK", [(b"transfer-encoding", b"chunked")]),
    (b"200 OK", [(b"date", b"now")]),
    (b"200 OK", [(b"Server", b"other")]),
    (b"200 OK", [(b"x-a", b"1\r\nx-b: 2")]),
    (b"200 OK", [(b"bad name", b"1")]),
    (b"200 OK", [(b"bad:name", b"1")]),
    (b"200 OK", [(b"", b"1")]),
])
def test_what_only_the_per_request_path_handles_is_refused(status_line, headers):
    with pytest.raises(ValueError):
        PreparedHead(status_line, headers)


def test_a_handler_that_cannot_be_prepared_still_answers():
    handler = RespondHandler(200, b"hello", [(b"Connection", b"close")])
    assert handler.prepared is None
    out = answer(handler, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 OK\r\n") and b"connection: close\r\n" in out
    assert RespondHandler(204).prepared is None
