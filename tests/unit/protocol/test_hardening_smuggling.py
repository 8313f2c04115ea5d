"""Request smuggling and parser abuse: one table of raw requests and the
status each must get.

A refused vector (4xx/5xx) must get exactly that status as the last response,
with ``connection: close``, and the server must close (the client reads EOF);
the app never sees it. An accepted vector (200) is answered and the connection
stays open. Each vector runs in-process through the real protocol (split at
several points, so every parser state meets a buffer edge) and a subset runs
against a real server.

Choices where the RFCs leave room (the ids say which):
  * ``Transfer-Encoding: chunked `` and ``:\\tchunked`` are valid: a field value
    excludes its leading and trailing OWS (SP / HTAB, RFC 9110 5.5).
  * ``Content-Length: 5, 5`` and a repeated identical Content-Length are
    refused (RFC 9110 8.6 allows accepting them; refusing is safer when a
    front end might pick either).
  * Whitespace in a chunk line (``5 ;ext``) is refused although RFC 9112 7.1.1's
    grammar allows BWS there: senders MUST NOT generate it (RFC 9110 5.6.3),
    and parsers disagree about it (a known desync vector). Well-formed chunk
    extensions are ignored as RFC 9112 7.1.1 requires.
  * A chunked body whose framing (chunk lines, extensions, CRLFs, trailers)
    outweighs its data by more than 16 KiB is refused: that bounds chunk lines
    and floods of tiny chunks.
  * Trailer fields are parsed and dropped, never merged into the headers.
  * HTTP/0.9 and the HTTP/2 preface get 505; CONNECT gets 405 (no proxying).
  * Empty lines (also bare LF) before a request line are skipped
    (RFC 9112 2.2: a server SHOULD ignore at least one).
"""

from __future__ import annotations

import asyncio
import http.client
import socket

import pytest
import uvloop

from fastsnake import _http
from fastsnake._asgi import AsgiHandler
from fastsnake._wsgi import WsgiHandler
from tests.apps import hardening_apps
from tests.protocol_harness import parse_responses, run_exchange
from tests.server import start_server

LIVE: set[str] = set()  # ids also run against a real server


def vector(raw: bytes, status: int, id: str, live: bool = False):
    if live:
        LIVE.add(id)
    return pytest.param(raw, status, id=id)


def post(fields: bytes, body: bytes = b"", target: bytes = b"/echo") -> bytes:
    return b"POST " + target + b" HTTP/1.1\r\nHost: a\r\n" + fields + b"\r\n" + body


def get(fields: bytes = b"", target: bytes = b"/echo") -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\nHost: a\r\n" + fields + b"\r\n"


TE = b"Transfer-Encoding: chunked\r\n"
HELLO = b"5\r\nhello\r\n0\r\n\r\n"

VECTORS = [
    # --- framing: Content-Length against Transfer-Encoding (RFC 9112 6.1, 6.3)
    # both present: MAY reject, MUST close after (6.1)
    vector(post(b"Content-Length: 6\r\n" + TE, b"0\r\n\r\nG"), 400, "cl-te-9112-6.1", live=True),
    vector(post(TE + b"Content-Length: 4\r\n", b"5c\r\nGPOST / HTTP/1.1\r\n\r\n0\r\n\r\n"), 400,
           "te-cl-9112-6.1", live=True),
    # OWS around a field value is not part of it (RFC 9110 5.5): valid
    vector(post(b"Transfer-Encoding: chunked \r\n", HELLO), 200, "te-trailing-space-9110-5.5",
           live=True),
    vector(post(b"Transfer-Encoding:\tchunked\r\n", HELLO), 200, "te-htab-9110-5.5"),
    # coding names are case-insensitive (RFC 9112 7)
    vector(post(b"Transfer-Encoding: CHUNKED\r\n", HELLO), 200, "te-uppercase-9112-7"),
    # an unknown coding: 501 (RFC 9112 6.1, RFC 9110 15.6.2)
    vector(post(b"Transfer-Encoding: xchunked\r\n", HELLO), 501, "te-xchunked-9112-6.1",
           live=True),
    vector(post(b"Transfer-Encoding: identity, chunked\r\n", HELLO), 501,
           "te-identity-chunked-9112-6.1"),
    vector(post(b"Transfer-Encoding: identity\r\n" + TE, HELLO), 501,
           "te-two-fields-identity-9112-6.1"),
    # chunked not last: MUST 400 and close (RFC 9112 6.3 item 4)
    vector(post(b"Transfer-Encoding: chunked, identity\r\n", HELLO), 400,
           "te-chunked-identity-9112-6.3", live=True),
    # chunked applied twice: MUST NOT (RFC 9112 6.1)
    vector(post(TE + TE, HELLO), 400, "te-two-fields-chunked-9112-6.1", live=True),
    vector(post(b"Transfer-Encoding: chunked, chunked\r\n", HELLO), 400,
           "te-chunked-chunked-9112-6.1"),
    # empty list elements: refused (stricter than RFC 9110 5.6.1)
    vector(post(b"Transfer-Encoding: chunked,\r\n", HELLO), 400, "te-trailing-comma-9110-5.6.1"),
    vector(post(b"Transfer-Encoding: \r\n", HELLO), 400, "te-empty-9112-6.1"),
    # no whitespace between name and colon: MUST 400 (RFC 9112 5.1)
    vector(post(b"Transfer-Encoding : chunked\r\n", HELLO), 400, "te-space-colon-9112-5.1",
           live=True),
    # VT is no OWS, and a CTL is no field-vchar (RFC 9110 5.5)
    vector(post(b"Transfer-Encoding:\x0bchunked\r\n", HELLO), 400, "te-vtab-9110-5.5",
           live=True),
    vector(post(b"Transfer-Encoding: chunked\x0b\r\n", HELLO), 400, "te-vtab-after-9110-5.5"),
    # Transfer-Encoding in HTTP/1.0: framing is faulty (RFC 9112 6.1)
    vector(b"POST /echo HTTP/1.0\r\n" + TE + b"\r\n" + HELLO, 400, "te-http10-9112-6.1"),
    # --- Content-Length (RFC 9110 8.6, RFC 9112 6.3 item 5)
    vector(post(b"Content-Length: 5\r\nContent-Length: 5\r\n", b"hello"), 400,
           "cl-repeated-same-9110-8.6"),
    vector(post(b"Content-Length: 5, 5\r\n", b"hello"), 400, "cl-list-same-9110-8.6", live=True),
    vector(post(b"Content-Length: 5\r\nContent-Length: 6\r\n", b"hello!"), 400,
           "cl-repeated-different-9112-6.3"),
    vector(post(b"Content-Length: 5, 6\r\n", b"hello!"), 400, "cl-list-different-9112-6.3"),
    vector(post(b"Content-Length: -1\r\n"), 400, "cl-negative-9110-8.6", live=True),
    vector(post(b"Content-Length: +5\r\n", b"hello"), 400, "cl-plus-9110-8.6"),
    vector(post(b"Content-Length: 0x5\r\n", b"hello"), 400, "cl-hex-9110-8.6"),
    vector(post(b"Content-Length: 1 2\r\n", b"hello"), 400, "cl-inner-space-9110-8.6"),
    vector(post(b"Content-Length: \r\n"), 400, "cl-empty-9110-8.6"),
    vector(post(b"Content-Length: 99999999999999999999999\r\n"), 400, "cl-overflow-9110-8.6"),
    # 2**64 - 1 fits llhttp's counter but no body of ours: 413 (RFC 9110 15.5.14)
    vector(post(b"Content-Length: 18446744073709551615\r\n"), 413, "cl-2e64-9110-15.5.14",
           live=True),
    vector(post(b"Content-Length: 5 \r\n", b"hello"), 200, "cl-trailing-ows-9110-5.5"),
    # --- field syntax (RFC 9112 2.2, 5, 5.2; RFC 9110 5.5)
    # obs-fold: MUST 400 or unfold (RFC 9112 5.2)
    vector(get(b"X: a\r\n b\r\n"), 400, "obs-fold-sp-9112-5.2", live=True),
    vector(get(b"X: a\r\n\tb\r\n"), 400, "obs-fold-htab-9112-5.2"),
    vector(b"GET /echo HTTP/1.1\r\n Host: a\r\n\r\n", 400, "space-before-first-field-9112-2.2"),
    # bare LF: a server MAY take it as a line end (RFC 9112 2.2); we do not
    vector(b"GET /echo HTTP/1.1\nHost: a\n\n", 400, "bare-lf-request-line-9112-2.2", live=True),
    vector(get(b"X: y\n"), 400, "bare-lf-field-9112-2.2"),
    vector(b"GET /echo HTTP/1.1\r\nHost: a\r\n\n", 400, "bare-lf-end-of-head-9112-2.2"),
    # bare CR: MUST be invalid or replaced (RFC 9112 2.2)
    vector(b"GET /echo HTTP/1.1\r\nHost: a\rX: y\r\n\r\n", 400, "bare-cr-9112-2.2", live=True),
    vector(get(b"X: a\rb\r\n"), 400, "bare-cr-in-value-9112-2.2"),
    # NUL: MUST reject or replace (RFC 9110 5.5); other CTLs are no field-vchar
    vector(get(b"X: a\x00b\r\n"), 400, "nul-in-value-9110-5.5", live=True),
    vector(get(b"X\x00: y\r\n"), 400, "nul-in-name-9110-5.1"),
    vector(get(b"X: a\x01b\r\n"), 400, "ctl-in-value-9110-5.5"),
    vector(get(b"X: a\x7fb\r\n"), 400, "del-in-value-9110-5.5"),
    vector(get(b"X\x01: y\r\n"), 400, "ctl-in-name-9110-5.1"),
    vector(get(b"X : y\r\n"), 400, "space-before-colon-9112-5.1", live=True),
    vector(get(b": y\r\n"), 400, "empty-name-9110-5.1"),
    vector(get(b"X Y: z\r\n"), 400, "space-in-name-9110-5.1"),
    # --- chunked framing (RFC 9112 7.1)
    vector(post(TE, b"0x5\r\nhello\r\n0\r\n\r\n"), 400, "chunk-size-0x-9112-7.1", live=True),
    vector(post(TE, b"-1\r\nhello\r\n0\r\n\r\n"), 400, "chunk-size-negative-9112-7.1"),
    vector(post(TE, b"+5\r\nhello\r\n0\r\n\r\n"), 400, "chunk-size-plus-9112-7.1"),
    vector(post(TE, b"1" + b"0" * 17 + b"\r\nhello\r\n0\r\n\r\n"), 400,
           "chunk-size-overflow-9112-7.1"),
    vector(post(TE, b"5 \r\nhello\r\n0\r\n\r\n"), 400, "chunk-size-trailing-space-9112-7.1"),
    vector(post(TE, b"5\nhello\r\n0\r\n\r\n"), 400, "chunk-line-bare-lf-9112-7.1"),
    vector(post(TE, b"5\r\nhelloX0\r\n\r\n"), 400, "chunk-data-overrun-9112-7.1", live=True),
    vector(post(TE, b"5\r\nhello\n0\r\n\r\n"), 400, "chunk-data-bare-lf-9112-7.1"),
    # extensions are legal and ignored (RFC 9112 7.1.1) ...
    vector(post(TE, b"5;name=value\r\nhello\r\n0\r\n\r\n"), 200, "chunk-ext-9112-7.1.1",
           live=True),
    vector(post(TE, b'5;a="b;c\\"d";e\r\nhello\r\n0;f=g\r\n\r\n'), 200,
           "chunk-ext-quoted-9112-7.1.1"),
    # ... malformed ones are refused
    vector(post(TE, b"5;\r\nhello\r\n0\r\n\r\n"), 400, "chunk-ext-no-name-9112-7.1.1"),
    vector(post(TE, b"5;a\x01\r\nhello\r\n0\r\n\r\n"), 400, "chunk-ext-ctl-9112-7.1.1"),
    vector(post(TE, b"5 ;a=b\r\nhello\r\n0\r\n\r\n"), 400, "chunk-ext-bws-9112-7.1.1", live=True),
    vector(post(TE, b'5;a="b\r\nhello\r\n0\r\n\r\n'), 400, "chunk-ext-open-quote-9112-7.1.1"),
    # oversized chunk lines and floods of tiny chunks: more framing than data
    vector(post(TE, b"5;a=" + b"x" * 100_000 + b"\r\nhello\r\n0\r\n\r\n"), 400,
           "chunk-line-100k-ext-9112-7.1.1", live=True),
    vector(post(TE, b"0" * 20_000 + b"5\r\nhello\r\n0\r\n\r\n"), 400,
           "chunk-line-20k-zeros-9112-7.1"),
    vector(post(TE, b"1\r\nx\r\n" * 20_000 + b"0\r\n\r\n"), 400, "chunks-20k-tiny-9112-7.1",
           live=True),
    vector(post(TE, b"1\r\nx\r\n" * 100 + b"0\r\n\r\n"), 200, "chunks-100-tiny-9112-7.1"),
    # trailer fields are parsed and dropped (RFC 9112 7.1.2, RFC 9110 6.5.1)
    vector(post(TE, b"5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n"), 200, "trailer-9112-7.1.2"),
    vector(post(TE, b"5\r\nhello\r\n0\r\nX T: 1\r\n\r\n"), 400, "trailer-bad-name-9112-7.1.2"),
    vector(post(TE, b"5\r\nhello\r\n0\r\nX-T: a\r\n b\r\n\r\n"), 400,
           "trailer-obs-fold-9112-5.2"),
    # --- request line and target (RFC 9112 2.3, 3, 3.2)
    # absolute-form: MUST be accepted (RFC 9112 3.2.2)
    vector(b"GET http://example.com/echo/x?q=1 HTTP/1.1\r\nHost: other\r\n\r\n", 200,
           "absolute-form-9112-3.2.2", live=True),
    vector(b"GET http://u:p@example.com/echo HTTP/1.1\r\nHost: a\r\n\r\n", 400,
           "absolute-form-userinfo-9110-4.2.4"),
    vector(b"GET http:///echo HTTP/1.1\r\nHost: a\r\n\r\n", 400,
           "absolute-form-empty-host-9110-4.2.1"),
    vector(b"GET ftp://example.com/echo HTTP/1.1\r\nHost: a\r\n\r\n", 400,
           "absolute-form-ftp-9110-4.2"),
    vector(b"GET http://example.com/echo HTTP/1.1\r\n\r\n", 400, "absolute-form-no-host-9112-3.2"),
    # authority-form is for CONNECT only (RFC 9112 3.2.3)
    vector(b"GET example.com:80 HTTP/1.1\r\nHost: a\r\n\r\n", 400, "authority-form-get-9112-3.2.3"),
    # asterisk-form is for OPTIONS only (RFC 9112 3.2.4)
    vector(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 200, "options-asterisk-9112-3.2.4", live=True),
    vector(b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400, "get-asterisk-9112-3.2.4"),
    # CONNECT asks for a tunnel (RFC 9110 9.3.6): not a proxy, 405 with Allow
    vector(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 405,
           "connect-9110-9.3.6", live=True),
    # HTTP/0.9 (no version) and the HTTP/2 preface: versions we do not speak
    vector(b"GET /\r\n", 505, "http09-9112-2.3", live=True),
    vector(b"GET /echo\r\n\r\n", 505, "http09-empty-line-9112-2.3"),
    vector(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, "h2-preface-9113-3.4", live=True),
    vector(b"GET /echo HTTP/2.0\r\nHost: a\r\n\r\n", 505, "http2-version-9110-15.6.6"),
    # HTTP-name is case-sensitive (RFC 9112 2.3)
    vector(b"GET /echo http/1.1\r\nHost: a\r\n\r\n", 400, "lowercase-http-name-9112-2.3"),
    vector(b"GET /echo HTTP/1.x\r\nHost: a\r\n\r\n", 400, "malformed-version-9112-2.3"),
    vector(b"GET /echo HTTP/1.1 \r\nHost: a\r\n\r\n", 400, "space-after-version-9112-3"),
    vector(b"GET\t/echo HTTP/1.1\r\nHost: a\r\n\r\n", 400, "htab-in-request-line-9112-3"),
    vector(b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400, "space-in-target-9112-3.2"),
    vector(b"GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n", 400, "ctl-in-target-9112-3.2"),
    # empty lines before a request line are skipped (RFC 9112 2.2)
    vector(get() + b"\n\n" + get(), 200, "lf-lf-between-pipelined-9112-2.2", live=True),
    vector(b"\r\n" + get(), 200, "crlf-before-request-9112-2.2"),
    # Host: exactly one, and a valid uri-host[:port] (RFC 9112 3.2)
    vector(b"GET /echo HTTP/1.1\r\n\r\n", 400, "no-host-9112-3.2"),
    vector(get(b"Host: b\r\n"), 400, "two-hosts-9112-3.2", live=True),
    vector(b"GET /echo HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "host-space-9112-3.2"),
    vector(b"GET /echo HTTP/1.1\r\nHost: u@a\r\n\r\n", 400, "host-userinfo-9112-3.2"),
    vector(b"GET /echo HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, "host-slash-9112-3.2"),
    vector(b"GET /echo HTTP/1.1\r\nHost: a:8x\r\n\r\n", 400, "host-bad-port-9112-3.2"),
    vector(b"GET /echo HTTP/1.1\r\nHost: [::1\r\n\r\n", 400, "host-open-bracket-9112-3.2"),
    vector(b"GET /echo HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", 200, "host-ipv6-9112-3.2"),
    vector(b"GET /echo HTTP/1.1\r\nHost:\r\n\r\n", 200, "host-empty-9112-3.2"),
]

# What the echo app answers to the accepted vectors (the framing was read right).
ACCEPTED_BODIES = {
    "te-trailing-space-9110-5.5": b"POST /echo? host=a\nhello",
    "te-htab-9110-5.5": b"POST /echo? host=a\nhello",
    "te-uppercase-9112-7": b"POST /echo? host=a\nhello",
    "cl-trailing-ows-9110-5.5": b"POST /echo? host=a\nhello",
    "chunk-ext-9112-7.1.1": b"POST /echo? host=a\nhello",
    "chunk-ext-quoted-9112-7.1.1": b"POST /echo? host=a\nhello",
    "chunks-100-tiny-9112-7.1": b"POST /echo? host=a\n" + b"x" * 100,
    "trailer-9112-7.1.2": b"POST /echo? host=a\nhello",
    "absolute-form-9112-3.2.2": b"GET /echo/x?q=1 host=example.com\n",
    "options-asterisk-9112-3.2.4": b"hello",
    "lf-lf-between-pipelined-9112-2.2": b"GET /echo? host=a\n",
    "crlf-before-request-9112-2.2": b"GET /echo? host=a\n",
    "host-ipv6-9112-3.2": b"GET /echo? host=[::1]:8080\n",
    "host-empty-9112-3.2": b"GET /echo? host=\n",
}


def split_points(data: bytes) -> list[list[bytes]]:
    """The whole request, 2-way splits around the head's edges and the
    middle, and (for small vectors) one byte at a time."""
    n = len(data)
    end_of_head = data.find(b"\r\n\r\n")
    points = {1, n // 3, n // 2, 2 * n // 3, n - 1}
    if end_of_head > 0:
        points |= {end_of_head, end_of_head + 2, end_of_head + 4}
    first_eol = data.find(b"\n")
    if first_eol > 0:
        points |= {first_eol - 1, first_eol, first_eol + 1}
    splits = [[data]] + [[data[:i], data[i:]] for i in sorted(points) if 0 < i < n]
    if n <= 512:
        splits.append([data[i:i + 1] for i in range(n)])
    return splits


def converse(chunks: list[bytes], interface: str = "wsgi") -> tuple[bytes, bool, int]:
    """Feed chunks to a fresh protocol over a socket pair. Returns what the
    server wrote, whether it closed its side (the client read EOF) before we
    closed ours, and how many requests reached the app. (As
    protocol_harness.run_exchange, which closes the transport itself before
    reading and so cannot tell whether the server closed.)"""
    calls = []
    loop = uvloop.new_event_loop()
    server_end, client_end = socket.socketpair()
    if interface == "asgi":
        async def asgi(scope, receive, send):
            calls.append(scope["path"])
            await hardening_apps.asgi_app(scope, receive, send)
        handler = AsgiHandler(asgi, loop=loop)
    else:
        def wsgi(environ, start_response):
            calls.append(environ["PATH_INFO"])
            return hardening_apps.wsgi_app(environ, start_response)
        handler = WsgiHandler(wsgi, server_port=8080)
    proto = _http.HttpProtocol(loop, handler, _http.Limits(), None)
    try:
        async def drive():
            transport, _ = await loop.connect_accepted_socket(lambda: proto, server_end)
            for chunk in chunks:
                proto.data_received(chunk)
                await asyncio.sleep(0)
            for _ in range(10):
                await asyncio.sleep(0)
            return transport

        transport = loop.run_until_complete(drive())
        received, closed = bytearray(), False
        client_end.setblocking(False)
        while True:
            try:
                block = client_end.recv(1 << 16)
            except BlockingIOError:
                break
            if not block:
                closed = True
                break
            received += block
        transport.close()
        loop.run_until_complete(asyncio.sleep(0.001))
        return bytes(received), closed, len(calls)
    finally:
        client_end.close()
        loop.close()


def check(raw: bytes, status: int, out: bytes, closed: bool, app_calls: int, vid: str,
          app_starts_at_head: bool = False) -> None:
    responses = parse_responses(out)
    assert responses, f"no response to {raw[:80]!r}"
    assert [r[0] for r in responses[:-1]] == [200] * (len(responses) - 1)
    got, headers, body = responses[-1]
    assert got == status
    if status >= 400:
        assert headers["connection"] == "close"
        assert closed, "the server did not close after refusing"
        if not app_starts_at_head:  # (an ASGI app starts before the body: it sees a disconnect)
            assert app_calls == len(responses) - 1, "a refused request reached the app"
        if status == 405:
            assert "GET" in headers["allow"]
    else:
        assert not closed
        assert app_calls == len(responses)
        if vid in ACCEPTED_BODIES:
            assert body == ACCEPTED_BODIES[vid]


@pytest.mark.parametrize("raw, status", VECTORS)
def test_vector_in_process(raw, status, request):
    vid = request.node.callspec.id
    for chunks in split_points(raw):
        out, closed, calls = converse(chunks)
        check(raw, status, out, closed, calls, vid)


@pytest.mark.parametrize("raw, status", VECTORS)
def test_vector_through_the_shared_harness(raw, status):
    responses = parse_responses(run_exchange(hardening_apps.wsgi_app, [raw]))
    assert [r[0] for r in responses[:-1]] == [200] * (len(responses) - 1)
    assert responses[-1][0] == status
    if status >= 400:
        assert responses[-1][1]["connection"] == "close"


@pytest.mark.parametrize("raw, status", VECTORS)
def test_vector_in_process_asgi(raw, status, request):
    out, closed, calls = converse([raw], interface="asgi")
    check(raw, status, out, closed, calls, request.node.callspec.id, app_starts_at_head=True)


ECHO_SERVER = """
:$PORT {
    python {
        module_wsgi "hardening_apps:wsgi_app"
        working_dir "$APPS"
        workers 1
    }
}
"""


@pytest.fixture(scope="module")
def echo_server(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("smuggling"), ECHO_SERVER)
    yield server
    server.stop()


def read_responses(sock: socket.socket, count: int) -> list[tuple[int, dict[str, str], bytes]]:
    """Read until count whole responses arrived (or the server closed)."""
    data = b""
    while True:
        block = sock.recv(65536)
        data += block
        try:
            responses = parse_responses(data)
        except (http.client.HTTPException, ValueError):
            responses = []
        if len(responses) >= count or not block:
            return responses


@pytest.mark.parametrize("raw, status", [p for p in VECTORS if p.id in LIVE])
def test_vector_against_a_real_server(echo_server, raw, status, request):
    vid = request.node.callspec.id
    with echo_server.connect(timeout=5) as sock:
        sock.sendall(raw)
        if status >= 400:
            out = b""
            while True:  # socket.timeout here: the server kept the connection open
                block = sock.recv(65536)
                if not block:
                    break
                out += block
            got, headers, _ = parse_responses(out)[-1]
            assert got == status
            assert headers["connection"] == "close"
        else:
            count = 2 if vid.startswith("lf-lf") else 1
            responses = read_responses(sock, count)
            assert [r[0] for r in responses] == [status] * count
            assert "connection" not in responses[-1][1]  # kept alive
            assert responses[-1][2] == ACCEPTED_BODIES[vid]
