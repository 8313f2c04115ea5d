"""ESGI 0.1 (caddy-snake's ``module_esgi``) on the gevent worker.

ESGI calls a synchronous app once per HTTP request, or once per WebSocket
connection, as ``app(scope, protocol)`` (or ``app.__esgi__(scope,
protocol)``): ``scope`` is a dict describing the request, ``protocol`` an
object whose methods block (on gevent, only the calling greenlet). The
HTTP side answers with one ``response_*`` call; the WebSocket side is
``accept()``, then ``receive()`` / ``send_bytes()`` / ``send_str()`` on the
transport it returns, and ``close()``.

It runs inside gevent's pywsgi (server/gevent_worker.py), which keeps
parsing requests, keep-alive, chunked bodies, HEAD and the 101 handshake:
``esgi_as_wsgi`` turns the ESGI app into a WSGI callable whose protocol
writes through pywsgi's ``start_response``/``write`` the moment the app
calls it (ESGI's calls are blocking: the response is on the wire when
``response_bytes`` returns). After ``accept()`` the connection belongs to
the WebSocket, read from pywsgi's buffered ``rfile`` (bytes it may already
hold stay in order) and written to its socket.

Not implemented: ``response_stream`` (caddy-snake 0.6 lacks it too, and the
draft leaves its shape open); it raises NotImplementedError.
"""

from __future__ import annotations

import http
import os
import struct
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from fastsnake._websocket import accept_key

ESGI_VERSION = "0.1"
# WebSocket message kinds (``msg.kind``), as caddy-snake's ESGI numbers them.
KIND_CLOSE, KIND_BYTES, KIND_TEXT = 0, 1, 2
_CONT, _TEXT, _BINARY, _CLOSE, _PING, _PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_FILE_CHUNK = 256 * 1024


def is_websocket(environ: dict[str, Any]) -> bool:
    return (environ.get("REQUEST_METHOD") == "GET"
            and environ.get("HTTP_UPGRADE", "").lower() == "websocket"
            and "upgrade" in environ.get("HTTP_CONNECTION", "").lower())


def build_scope(environ: dict[str, Any], headers: list[tuple[str, str]],
                proto: str) -> dict[str, Any]:
    """ESGI's scope from pywsgi's environ and the request's header lines."""
    joined: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        joined[key] = f"{joined[key]}, {value}" if key in joined else value
    host = joined.get("host")
    https = environ.get("wsgi.url_scheme") == "https"
    scheme = ("wss" if https else "ws") if proto == "ws" else ("https" if https else "http")
    return {
        "proto": proto,
        "esgi_version": ESGI_VERSION,
        "http_version": environ.get("SERVER_PROTOCOL", "HTTP/1.1").partition("/")[2],
        "server": f"{environ.get('SERVER_NAME', '')}:{environ.get('SERVER_PORT', '')}",
        "client": f"{environ.get('REMOTE_ADDR', '')}:{environ.get('REMOTE_PORT', '')}",
        "scheme": scheme,
        "method": environ["REQUEST_METHOD"],
        # WSGI hands the decoded path as latin-1; ESGI's is text (UTF-8).
        "path": environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace"),
        "root_path": environ.get("SCRIPT_NAME", ""),
        "query_string": environ.get("QUERY_STRING", ""),
        "headers": joined,
        "authority": host,
    }


def _status(code: int) -> str:
    try:
        return f"{code} {http.HTTPStatus(code).phrase}"
    except ValueError:
        return f"{code} Unknown"


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


class HttpProtocol:
    """The ``protocol`` of an HTTP request: read the body, answer once."""

    def __init__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> None:
        self._input = environ["wsgi.input"]
        self._start_response = start_response
        self._head = environ["REQUEST_METHOD"] == "HEAD"
        self.responded = False
        self._body_taken = False

    def read_body(self) -> bytes:
        return b"".join(self.iter_body())

    def iter_body(self) -> Iterator[bytes]:
        if self._body_taken:
            raise RuntimeError("the request body was already read")
        self._body_taken = True
        return iter(lambda: self._input.read(65536), b"")

    def _start(self, status: int, headers: list[tuple[Any, Any]],
               length: int) -> Callable[[bytes], Any]:
        if self.responded:
            raise RuntimeError("a response was already sent for this request")
        self.responded = True
        lines = [(_text(name), _text(value)) for name, value in headers]
        if not any(name.lower() == "content-length" for name, _ in lines):
            lines.append(("Content-Length", str(length)))
        return self._start_response(_status(status), lines)

    def response_empty(self, status: int, headers: list[tuple[Any, Any]]) -> None:
        self.response_bytes(status, headers, b"")

    def response_str(self, status: int, headers: list[tuple[Any, Any]], body: str) -> None:
        self.response_bytes(status, headers, body.encode("utf-8"))

    def response_bytes(self, status: int, headers: list[tuple[Any, Any]], body: bytes) -> None:
        write = self._start(status, headers, len(body))
        write(b"" if self._head else bytes(body))

    def response_file(self, status: int, headers: list[tuple[Any, Any]],
                      file: str | bytes | os.PathLike[str]) -> None:
        with open(file, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            self._send_file(status, headers, handle, size)

    def response_file_range(self, status: int, headers: list[tuple[Any, Any]],
                            file: str | bytes | os.PathLike[str], start: int, end: int) -> None:
        """Bytes ``start`` to ``end`` (exclusive) of the file."""
        with open(file, "rb") as handle:
            handle.seek(start)
            self._send_file(status, headers, handle, max(0, end - start))

    def _send_file(self, status: int, headers: list[tuple[Any, Any]], handle: BinaryIO,
                   length: int) -> None:
        write = self._start(status, headers, length)
        left = 0 if self._head else length
        write(b"")  # the head goes out even for an empty file
        while left > 0:
            chunk = handle.read(min(left, _FILE_CHUNK))
            if not chunk:
                raise OSError("the file is shorter than the length sent")
            write(chunk)
            left -= len(chunk)

    def response_stream(self, status: int, headers: list[tuple[Any, Any]]) -> Any:
        raise NotImplementedError("ESGI response_stream is not implemented by fastsnake")

    def wait_disconnect(self) -> None:
        """Nothing to wait for: the request is over when the app returns."""


class WsMessage:
    __slots__ = ("kind", "data")

    def __init__(self, kind: int, data: Any) -> None:
        self.kind = kind
        self.data = data

    def __repr__(self) -> str:
        return f"WsMessage({self.kind}, {self.data!r})"


def _frame(opcode: int, payload: bytes) -> bytes:
    """A server frame: final, unmasked."""
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, size)
    elif size < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, size)
    return head + payload


def _unmask(payload: bytes, key: bytes) -> bytes:
    # XOR as one big integer: far faster in Python than byte by byte.
    repeated = (key * (len(payload) // 4 + 1))[:len(payload)]
    value = int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")
    return value.to_bytes(len(payload), "big")


class ProtocolClose(Exception):
    """The peer broke the WebSocket protocol: close with this code."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class WsTransport:
    """An accepted WebSocket: ``receive()`` blocks for the next message."""

    def __init__(self, rfile: BinaryIO, sock: Any, max_size: int) -> None:
        self._rfile = rfile
        self._sock = sock
        self._max_size = max_size
        self.closed = False

    def _read(self, count: int) -> bytes:
        data = self._rfile.read(count)
        if len(data) != count:
            raise ConnectionError("the peer went away")
        return data

    def _read_frame(self) -> tuple[bool, int, bytes]:
        first, second = self._read(2)
        if first & 0x70:
            raise ProtocolClose(1002)  # no extension was agreed
        if not second & 0x80:
            raise ProtocolClose(1002)  # a client's frames are masked
        size = second & 0x7F
        if size == 126:
            size = struct.unpack("!H", self._read(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", self._read(8))[0]
        if size > self._max_size:
            raise ProtocolClose(1009)
        key = self._read(4)
        return bool(first & 0x80), first & 0x0F, _unmask(self._read(size), key) if size else b""

    def receive(self) -> WsMessage:
        """The next text (str) or binary (bytes) message, or a close
        (``kind`` 0, ``data`` the code): answers pings on the way."""
        if self.closed:
            return WsMessage(KIND_CLOSE, 1006)
        parts: list[bytes] = []
        opcode = None
        try:
            while True:
                fin, op, payload = self._read_frame()
                if op == _PING:
                    self._send(_PONG, payload)
                    continue
                if op == _PONG:
                    continue
                if op == _CLOSE:
                    code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                    self._finish(1000 if code == 1005 else code)
                    return WsMessage(KIND_CLOSE, code)
                if (op == _CONT) == (opcode is None) or op not in (_CONT, _TEXT, _BINARY):
                    raise ProtocolClose(1002)  # a stray continuation or an unknown opcode
                opcode = opcode if op == _CONT else op
                parts.append(payload)
                if sum(map(len, parts)) > self._max_size:
                    raise ProtocolClose(1009)
                if fin:
                    break
        except ProtocolClose as exc:
            self._finish(exc.code)
            return WsMessage(KIND_CLOSE, exc.code)
        except (ConnectionError, OSError):
            self.closed = True
            return WsMessage(KIND_CLOSE, 1006)
        data = b"".join(parts)
        if opcode == _BINARY:
            return WsMessage(KIND_BYTES, data)
        try:
            return WsMessage(KIND_TEXT, data.decode("utf-8"))
        except UnicodeDecodeError:
            self._finish(1007)
            return WsMessage(KIND_CLOSE, 1007)

    def send_bytes(self, data: bytes) -> None:
        self._send(_BINARY, bytes(data))

    def send_str(self, data: str) -> None:
        self._send(_TEXT, data.encode("utf-8"))

    def _send(self, opcode: int, payload: bytes) -> None:
        if self.closed:
            raise ConnectionError("the WebSocket is closed")
        self._sock.sendall(_frame(opcode, payload))

    def _finish(self, code: int, reason: str = "") -> None:
        """Send our close frame (once) and stop."""
        if self.closed:
            return
        self.closed = True
        try:
            self._sock.sendall(_frame(_CLOSE, struct.pack("!H", code) + reason.encode()[:123]))
        except OSError:
            pass


class WsProtocol:
    """The ``protocol`` of a WebSocket request: ``accept()`` or ``close()``."""

    def __init__(self, environ: dict[str, Any], start_response: Callable[..., Any],
                 handler: Any, max_size: int) -> None:
        self._environ = environ
        self._start_response = start_response
        self._handler = handler
        self._max_size = max_size
        self.transport: WsTransport | None = None
        self.responded = False

    def accept(self, headers: list[tuple[Any, Any]] | None = None) -> WsTransport:
        if self.responded:
            raise RuntimeError("the WebSocket was already accepted or refused")
        key = self._environ.get("HTTP_SEC_WEBSOCKET_KEY", "")
        if not key:
            raise ValueError("the request has no Sec-WebSocket-Key")
        self.responded = True
        extra = [(_text(name), _text(value)) for name, value in headers or ()]
        write = self._start_response("101 Switching Protocols", [
            ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", accept_key(key)), *extra])
        write(b"")  # pywsgi sends the head now, without a body framing
        # No HTTP request follows a WebSocket on this connection.
        self._handler.close_connection = True
        self.transport = WsTransport(self._handler.rfile, self._handler.socket, self._max_size)
        return self.transport

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Before accept: refuse the handshake (403). After: close the socket."""
        if self.transport is not None:
            self.transport._finish(1000 if code is None else int(code), reason or "")
            return
        if self.responded:
            return
        self.responded = True
        body = b"403 Forbidden"
        write = self._start_response("403 Forbidden", [
            ("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        write(body)


def esgi_as_wsgi(app: Any, handler: Any, max_ws_size: int) -> Callable[..., Any]:
    """A WSGI callable for the pywsgi connection ``handler``'s current request
    that runs the ESGI ``app`` (the WebSocket takes the handler's socket over)."""
    call = getattr(app, "__esgi__", app)

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        headers = list(handler.headers.items()) if handler.headers is not None else []
        protocol: HttpProtocol | WsProtocol
        if is_websocket(environ):
            protocol = WsProtocol(environ, start_response, handler, max_ws_size)
            call(build_scope(environ, headers, "ws"), protocol)
            if protocol.transport is not None:
                protocol.transport._finish(1000)
            elif not protocol.responded:
                protocol.close()
            return []
        protocol = HttpProtocol(environ, start_response)
        call(build_scope(environ, headers, "http"), protocol)
        if not protocol.responded:
            raise RuntimeError("the ESGI app returned without sending a response")
        return []

    return wsgi
