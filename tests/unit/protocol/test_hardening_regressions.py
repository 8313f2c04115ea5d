"""Regression tests for what the hardening work found in _http.pyx (by review
of the vector table, the timeouts and fuzzing), in-process.

Each test names the old behaviour it guards against.
"""

from __future__ import annotations

import asyncio
import email.utils
import socket

import pytest
import uvloop

from fastsnake import _http
from fastsnake._asgi import AsgiHandler
from fastsnake._wsgi import WsgiHandler
from tests.protocol_harness import parse_responses, run_exchange


def capture_app(seen: list):
    def app(environ, start_response):
        environ["body"] = environ["wsgi.input"].read()
        seen.append(environ)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]
    return app


def test_trailer_fields_are_not_merged_into_the_environ():
    # Was: trailer fields were appended to the request's header list, and the
    # WSGI environ (built at the end of the body) showed them as headers, so
    # a client could add e.g. X-Forwarded-For after a proxy checked the head.
    seen: list = []
    out = run_exchange(capture_app(seen), [
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\nX-Forwarded-For: 6.6.6.6\r\nHost: evil\r\n\r\n"])
    (status, _, _), = parse_responses(out)
    assert status == 200
    environ, = seen
    assert environ["body"] == b"abc"
    assert "HTTP_X_FORWARDED_FOR" not in environ
    assert environ["HTTP_HOST"] == "a" and environ["SERVER_NAME"] == "a"


def test_trailer_section_counts_against_the_header_limits():
    fields = b"".join(b"X-%d: v\r\n" % i for i in range(101))
    out = run_exchange(capture_app([]), [
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\n" + fields + b"\r\n"])
    assert parse_responses(out)[-1][0] == 431


@pytest.mark.parametrize("limit", [None, 10])
def test_content_length_past_2_63_is_413_not_ignored(limit):
    # Was: 2**63..2**64-1 turned negative in a long long, read as "no
    # Content-Length": no response at all, the body limit bypassed, and the
    # body bytes dropped unseen.
    seen: list = []
    out = run_exchange(capture_app(seen), [
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551615\r\n\r\nabc"],
        limits=_http.Limits(max_body_size=limit))
    (status, headers, _), = parse_responses(out)
    assert (status, headers["connection"]) == (413, "close")
    assert not seen


@pytest.mark.parametrize("chunks", [[b"GET /\r\n"], [b"GET /", b"\r", b"\n"],
                                    [b"GET /x\n"]])
def test_http09_request_is_refused_at_once(chunks):
    # Was: llhttp took "GET /\r\n" as HTTP/0.9 and waited for header lines the
    # client never sends, until the read_header timeout.
    (status, headers, _), = parse_responses(run_exchange(capture_app([]), chunks))
    assert (status, headers["connection"]) == (505, "close")


def test_absolute_form_reaches_the_app_with_path_and_authority():
    # Was: PATH_INFO was "http://example.com/x" and Host stayed "other".
    seen: list = []
    run_exchange(capture_app(seen), [b"GET http://example.com/x HTTP/1.1\r\nHost: other\r\n\r\n"])
    environ, = seen
    assert (environ["PATH_INFO"], environ["HTTP_HOST"]) == ("/x", "example.com")


def test_connect_does_not_reach_the_app():
    # Was: CONNECT went to the app (200) as if it were an ordinary request.
    seen: list = []
    out = run_exchange(capture_app(seen), [b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"])
    (status, headers, _), = parse_responses(out)
    assert (status, headers["connection"]) == (405, "close")
    assert "CONNECT" not in headers["allow"]
    assert not seen


@pytest.mark.parametrize("raw, status", [
    # Was 400: llhttp's "Pause on PRI/Upgrade" was taken for a parse error.
    (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
    # Was 505: every HPE_INVALID_VERSION, also "Expected CRLF after version".
    (b"GET / HTTP/1.1\nHost: a\n\n", 400),
])
def test_version_errors_get_the_right_status(raw, status):
    (got, _, _), = parse_responses(run_exchange(capture_app([]), [raw]))
    assert got == status


class Clock:
    """Drive _http's tick() with a made-up clock, as the worker does."""

    def __init__(self) -> None:
        self.now = 1000.0

    def tick(self, seconds: float = 0.5) -> None:
        self.now += seconds
        _http.tick(self.now, email.utils.formatdate(usegmt=True).encode("ascii"))


def drive(handler_of, chunks_and_ticks, limits: _http.Limits) -> tuple[bytes, bool]:
    """Feed chunks and advance the clock in between (a float in the list is a
    tick of that many seconds, a callable is called); return what the server
    wrote and whether the connection was closed by then."""
    loop = uvloop.new_event_loop()
    server_end, client_end = socket.socketpair()
    clock = Clock()
    clock.tick()
    clock.tick()  # the tick period is now known: 0.5 s
    proto = _http.HttpProtocol(loop, handler_of(loop), limits, None)
    try:
        async def run():
            transport, _ = await loop.connect_accepted_socket(lambda: proto, server_end)
            for item in chunks_and_ticks:
                if isinstance(item, float):
                    clock.tick(item)
                elif callable(item):
                    item()
                else:
                    proto.data_received(item)
                for _ in range(5):
                    await asyncio.sleep(0)
            await asyncio.sleep(0.01)
            return transport

        transport = loop.run_until_complete(run())
        closed = transport.is_closing()
        transport.close()
        loop.run_until_complete(asyncio.sleep(0.01))
        client_end.settimeout(5)
        out = bytearray()
        while True:
            block = client_end.recv(65536)
            if not block:
                break
            out += block
        return bytes(out), closed
    finally:
        client_end.close()
        loop.close()


RELEASE: list[asyncio.Event] = []


def slow_asgi(loop):
    """An app that answers only once the test calls release()."""
    RELEASE[:] = [asyncio.Event()]

    async def app(scope, receive, send):
        while (await receive()).get("more_body"):
            pass
        await RELEASE[0].wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})
    return AsgiHandler(app, loop=loop)


def release() -> None:
    RELEASE[0].set()


def test_read_body_deadline_does_not_outlive_the_body():
    # Was: the read_body deadline set at the end of the head stayed after the
    # body had arrived (and was set for bodyless requests too), so an app
    # slower than read_body had its connection closed under it.
    limits = _http.Limits(read_body_timeout=1.0)
    for request in (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
                    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"):
        out, _ = drive(slow_asgi, [request, 0.5, 0.5, 0.5, 0.5, 0.5, release], limits)
        assert out.endswith(b"\r\n\r\ndone")


def test_read_body_deadline_still_applies_to_a_stalled_body():
    limits = _http.Limits(read_body_timeout=1.0)
    out, _ = drive(slow_asgi, [b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\na",
                               0.5, 0.5, 0.5, 0.5, release], limits)
    (status, headers, _), = parse_responses(out)
    assert (status, headers["connection"]) == (408, "close")


def test_a_deadline_never_passes_early():
    # Was: deadlines counted from the last tick's clock, up to one tick period
    # behind, so a 1 s read_header could fire 0.5 s after the head began.
    limits = _http.Limits(read_header_timeout=1.0)

    def wsgi(loop):
        return WsgiHandler(capture_app([]), server_port=8080)

    # The head starts 0.4 s after the last tick (not visible to _http), then
    # ticks come at +0.1 s and +0.6 s from its start: neither is 1 s later.
    out, closed = drive(wsgi, [b"GET / HTTP/1.1\r\n", 0.5, 0.5], limits)
    assert out == b"" and not closed
    out, closed = drive(wsgi, [b"GET / HTTP/1.1\r\n", 0.5, 0.5, 0.5, 0.5], limits)
    assert parse_responses(out)[0][0] == 408


def test_chunked_framing_flood_is_refused():
    # Was: any number of 1-byte chunks (or a chunk line of any length, in
    # extensions or leading zeros) was parsed, each chunk costing a callback.
    head = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    for body in (b"1\r\nx\r\n" * 20_000 + b"0\r\n\r\n",
                 b"1;" + b"e" * 20_000 + b"\r\nx\r\n0\r\n\r\n",
                 b"0" * 20_000 + b"1\r\nx\r\n0\r\n\r\n"):
        pieces = [body[i:i + 1000] for i in range(0, len(body), 1000)]
        for chunks in ([head + body], [head, *pieces]):
            (status, headers, _), = parse_responses(run_exchange(capture_app([]), chunks))
            assert (status, headers["connection"]) == (400, "close")
    # Ordinary chunk sizes are far from the limit.
    body = b"".join(b"%x\r\n%s\r\n" % (n, b"y" * n) for n in range(1, 2000, 7)) + b"0\r\n\r\n"
    (status, _, _), = parse_responses(run_exchange(capture_app([]), [head + body]))
    assert status == 200


@pytest.mark.parametrize("raw", [
    # found by fuzz/fuzz_http.py (ASGI): an error answer to HEAD carried content
    b"HEAD /s HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
    b"HEAD / HTTP/1.1\r\nHost: a b\r\n\r\n",
    b"HEAD / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551615\r\n\r\n",
])
@pytest.mark.parametrize("interface", ["wsgi", "asgi"])
def test_error_response_to_head_has_no_content(raw, interface):
    # Was: send_error wrote its "400 Bad Request\n" body whatever the method
    # (RFC 9110 9.3.2: a response to HEAD has no content).
    async def asgi(scope, receive, send):
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = capture_app([]) if interface == "wsgi" else asgi
    out = run_exchange(app, [raw], interface=interface)
    (status, headers, _), = parse_responses(out, head_methods=["HEAD"])
    assert status in (400, 413) and headers["connection"] == "close"
    assert out.endswith(b"\r\n\r\n")


@pytest.mark.parametrize("interface", ["wsgi", "asgi"])
def test_request_cut_short_then_fin_is_closed_not_held(serve, interface):
    """Found by stress/soak.py: a POST whose body stops short, then a normal
    close, left the server's socket in CLOSE_WAIT holding the partial body."""
    server = serve(f"""
:$PORT {{
    python {{
        module_{interface} "{interface}_basic:app"
        working_dir "$APPS"
        workers 1
    }}
}}
""")
    with server.connect() as sock:
        sock.sendall(b"POST /digest HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\npartial")
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(65536) == b""  # the server closes its end too
