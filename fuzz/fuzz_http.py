"""Fuzz the HTTP/1.1 protocol: arbitrary bytes, split at arbitrary points, into
HttpProtocol.data_received over a real uvloop transport (a socket pair, as
tests/protocol_harness.py does), serving a small WSGI app.

Checked for every input:
  * no exception escapes the protocol: nothing logged at ERROR by fastsnake
    ("internal error ..."), nothing reaching the loop's exception handler;
  * everything the server wrote parses as HTTP/1.1 responses with
    http.client, one after another, with no bytes after a response that
    closes the connection.

Input layout (so that a raw request is a usable seed after three bytes):
  byte 0   bit 0: send EOF (eof_received) after the data
           bits 1-2: limits (0 default, 1 small, 2 tiny body limit, 3 tiny head)
           bits 3-7: number of split points (0..31)
  bytes 1-2  seed for the split points
  the rest   the bytes the client sends

    python fuzz/fuzz_http.py fuzz/corpus/http -max_total_time=60   (atheris)
    python fuzz/fuzz_http.py --replay FILE...                      (no atheris needed)
    FUZZ_INTERFACE=asgi python fuzz/fuzz_http.py ...   (serve the same app over ASGI)
See fuzz/README.md.
"""

from __future__ import annotations

import asyncio
import http.client
import io
import logging
import os
import random
import socket
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import uvloop  # noqa: E402
from _fuzzlib import run_fuzzer  # noqa: E402

from fastsnake import _http  # noqa: E402
from fastsnake._asgi import AsgiHandler  # noqa: E402
from fastsnake._wsgi import WsgiHandler  # noqa: E402

INTERFACE = os.environ.get("FUZZ_INTERFACE", "wsgi")

LIMITS = [
    _http.Limits(),
    _http.Limits(max_request_line=64, max_header_size=256, max_header_count=4),
    _http.Limits(max_body_size=16),
    _http.Limits(max_request_line=8, max_header_size=16, max_header_count=1, max_body_size=0),
]


class Failure(AssertionError):
    pass


# ERROR logs that a client can cause but that are no protocol failure, each
# reported to the owner of the code that logs it.
KNOWN = [
    # _asgi.pyx: a client's EOF before the end of the body gives the app
    # http.disconnect; an app that then returns (as Starlette's do) is
    # logged as an error, as if it had forgotten to respond.
    "the app returned without completing its response",
]


class ErrorRecorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += f" {record.exc_info[1]}"
        if not any(known in text for known in KNOWN):
            self.records.append(record)


RECORDER = ErrorRecorder()
logging.getLogger("fastsnake").addHandler(RECORDER)
logging.getLogger("fastsnake").propagate = False
LOOP = uvloop.new_event_loop()
LOOP_ERRORS: list[dict] = []
LOOP.set_exception_handler(lambda loop, context: LOOP_ERRORS.append(context))
METHODS_SEEN: list[str] = []


def app(environ, start_response):
    """Reads the body; answers by the path's first letter after "/"."""
    METHODS_SEEN.append(environ["REQUEST_METHOD"])
    body = environ["wsgi.input"].read()
    kind = environ["PATH_INFO"][1:2]
    if kind == "s":  # streamed: chunked (HTTP/1.1) or close-delimited (1.0)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return iter([b"part one,", b"", b"part two"])
    if kind == "n":
        start_response("204 No Content", [])
        return []
    if kind == "l":  # more body than its Content-Length: cut, and the connection closes
        start_response("200 OK", [("Content-Length", "5")])
        return [b"too", b" long"]
    if kind == "f":
        start_response("200 OK", [])
        return environ["wsgi.file_wrapper"](io.BytesIO(b"from a file" * 10), 7)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"%d bytes" % len(body)]


async def asgi_app(scope, receive, send):
    """The same answers over ASGI (the app starts at the end of the head)."""
    if scope["type"] == "websocket":  # an Upgrade: refuse it (an HTTP 403)
        METHODS_SEEN.append("GET")
        await receive()
        await send({"type": "websocket.close"})
        return
    METHODS_SEEN.append(scope["method"])
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    kind = scope["path"][1:2]
    if kind == "s":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part one,", "more_body": True})
        await send({"type": "http.response.body", "body": b"part two"})
    elif kind == "n":
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
    else:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"%d bytes" % size})


if INTERFACE == "asgi":
    HANDLER = AsgiHandler(asgi_app, loop=LOOP)
else:
    HANDLER = WsgiHandler(app, server_port=8080)


CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class _KeptOpen(io.BytesIO):
    def close(self) -> None:
        pass


class _FakeSocket:
    def __init__(self, data: bytes) -> None:
        self.file = _KeptOpen(data)

    def makefile(self, mode: str) -> io.BytesIO:
        return self.file


def parse_one(out: bytes, pos: int, method: str) -> tuple[http.client.HTTPResponse, int]:
    sock = _FakeSocket(out)
    sock.file.seek(pos)
    resp = http.client.HTTPResponse(sock, method=method)  # type: ignore[arg-type]
    resp.begin()
    resp.read()
    return resp, sock.file.tell()


def check_output(out: bytes, methods: list[str]) -> None:
    """Every byte the server wrote must be well-formed responses.

    The app's list of methods says which responses answer a HEAD; responses
    the server or adapter gave itself (errors, refused upgrades) are not in
    it, so a response may also be read with the other method's rules."""
    methods = list(methods)
    pos = 0
    while pos < len(out):
        if out.startswith(CONTINUE, pos):  # interim (the final may not be due yet)
            pos += len(CONTINUE)
            continue
        expected = methods.pop(0) if methods else "GET"
        problems = []
        for method in (expected, "HEAD" if expected != "HEAD" else "GET"):
            try:
                resp, end = parse_one(out, pos, method)
            except (http.client.HTTPException, ValueError) as exc:
                problems.append(f"as {method}: {exc!r}")
                continue
            if resp.version != 11 or not 100 <= resp.status <= 599:
                problems.append(f"as {method}: status line {resp.version} {resp.status}")
            elif resp.will_close and end != len(out):
                problems.append(f"as {method}: bytes after a closing response")
            else:
                break
        else:
            raise Failure(f"malformed response at {pos}: {problems}\n{out!r}")
        pos = end
        if resp.will_close:
            break


def split(data: bytes, count: int, seed: int) -> list[bytes]:
    if not data:
        return []
    rng = random.Random(seed)
    points = sorted({rng.randrange(1, len(data) + 1) for _ in range(count)} | {len(data)})
    chunks, start = [], 0
    for point in points:
        if point > start:
            chunks.append(data[start:point])
            start = point
    return chunks


def exchange(data: bytes) -> tuple[bytes, list[str]]:
    """Run one input; return what the server wrote and the methods the app saw."""
    if len(data) < 3:
        return b"", []
    flags, seed, stream = data[0], int.from_bytes(data[1:3], "little"), data[3:]
    limits = LIMITS[(flags >> 1) & 3]
    chunks = split(stream, flags >> 3, seed)
    METHODS_SEEN.clear()
    server_end, client_end = socket.socketpair()
    proto = _http.HttpProtocol(LOOP, HANDLER, limits, None)

    async def drive():
        transport, _ = await LOOP.connect_accepted_socket(lambda: proto, server_end)
        for chunk in chunks:
            proto.data_received(chunk)
            await asyncio.sleep(0)
        if flags & 1:
            if not proto.eof_received():
                transport.close()
        for _ in range(3 if INTERFACE == "wsgi" else 10):
            await asyncio.sleep(0)
        return transport

    try:
        transport = LOOP.run_until_complete(drive())
        received = bytearray()
        client_end.setblocking(False)
        while True:
            try:
                block = client_end.recv(1 << 16)
            except BlockingIOError:
                break
            if not block:
                break
            received += block
        transport.abort()
        LOOP.run_until_complete(asyncio.sleep(0))
    finally:
        client_end.close()
    return bytes(received), list(METHODS_SEEN)


def test_one_input(data: bytes) -> None:
    RECORDER.records.clear()
    LOOP_ERRORS.clear()
    out, methods = exchange(data)
    if RECORDER.records:
        record = RECORDER.records[0]
        raise Failure(f"logged: {record.getMessage()}\n{logging.Formatter().formatException(record.exc_info) if record.exc_info else ''}")  # noqa: E501
    if LOOP_ERRORS:
        raise Failure(f"loop error: {LOOP_ERRORS[0]}")
    check_output(out, methods)


if __name__ == "__main__":
    run_fuzzer(test_one_input, sys.argv)
