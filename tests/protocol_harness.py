"""Drive a real HttpProtocol in-process, over a real socket pair.

The protocol gets a real uvloop transport (one end of a socketpair); the test
calls data_received() itself with chosen chunks, so every split point of a
request can be exercised, and reads what the server wrote from the other end.
"""

from __future__ import annotations

import asyncio
import http.client
import io
import socket
from collections.abc import Callable, Iterable
from typing import Any

import uvloop

from fastsnake import _exchange, _http
from fastsnake._asgi import AsgiHandler
from fastsnake._wsgi import WsgiHandler


class _KeptOpen(io.BytesIO):
    def close(self) -> None:  # HTTPResponse closes its file; we read on
        pass


class _BytesSocket:
    def __init__(self, data: bytes) -> None:
        self.file = _KeptOpen(data)

    def makefile(self, mode: str) -> io.BytesIO:
        return self.file


def parse_responses(data: bytes, head_methods: Iterable[str] = ()
                    ) -> list[tuple[int, dict[str, str], bytes]]:
    """Split raw server output into (status, headers, body) triples."""
    sock = _BytesSocket(data)
    out = []
    methods = list(head_methods)
    while sock.file.tell() < len(data):
        method = methods.pop(0) if methods else "GET"
        resp = http.client.HTTPResponse(sock, method=method)  # type: ignore[arg-type]
        resp.begin()
        body = resp.read()
        out.append((resp.status, {k.lower(): v for k, v in resp.getheaders()}, body))
        if resp.will_close:
            break
    return out


def run_exchange(app: Callable[..., Any], chunks: Iterable[bytes],
                 limits: _http.Limits | None = None, server_port: int = 8080,
                 interface: str = "wsgi", handler: Any = None) -> bytes:
    """Feed chunks to a fresh connection; return everything the server wrote.
    ``handler``: a ready Handler (a RespondHandler, say) instead of ``app``'s."""
    loop = uvloop.new_event_loop()
    server_end, client_end = socket.socketpair()
    try:
        if handler is not None:
            pass
        elif interface == "asgi":
            handler = AsgiHandler(app, loop=loop)
        else:
            handler = WsgiHandler(app, server_port=server_port)
        proto = _http.HttpProtocol(loop, handler, limits or _http.Limits(), None)

        async def drive() -> None:
            transport, _ = await loop.connect_accepted_socket(lambda: proto, server_end)
            for chunk in chunks:
                proto.data_received(chunk)
                await asyncio.sleep(0)
            for _ in range(5):
                await asyncio.sleep(0)
            transport.close()
            await asyncio.sleep(0.01)

        loop.run_until_complete(drive())
        client_end.settimeout(5)
        received = bytearray()
        while True:
            block = client_end.recv(1 << 16)
            if not block:
                break
            received += block
        return bytes(received)
    finally:
        client_end.close()
        loop.close()


def split_every_byte(data: bytes) -> list[list[bytes]]:
    """Every two-way split of data, plus the one-byte-at-a-time feed."""
    splits = [[data[:i], data[i:]] for i in range(1, len(data))]
    splits.append([data[i:i + 1] for i in range(len(data))])
    return splits


# -- HttpRequest objects made by the real parser ----------------------------------


class _Recorder(_exchange.Handler):
    """Keeps each HttpRequest the protocol hands over, and answers 200."""

    def __init__(self) -> None:
        from fastsnake._respond import RespondHandler

        self.requests: list[_exchange.HttpRequest] = []
        self.respond = RespondHandler(200)

    def new_exchange(self, proto: _http.HttpProtocol, request: _exchange.HttpRequest) -> Any:
        self.requests.append(request)
        return self.respond.new_exchange(proto, request)


class _PeerTransport:
    """The real transport, reporting a chosen peer address."""

    def __init__(self, transport: asyncio.BaseTransport, peer: object) -> None:
        self._transport, self._peer = transport, peer

    def get_extra_info(self, name: str, default: object = None) -> object:
        if name == "peername":
            return self._peer
        return self._transport.get_extra_info(name, default)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _PeerShim(asyncio.Protocol):
    def __init__(self, proto: _http.HttpProtocol, peer: object) -> None:
        self.proto, self.peer = proto, peer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.proto.connection_made(_PeerTransport(transport, self.peer))  # type: ignore[arg-type]

    def connection_lost(self, exc: Exception | None) -> None:
        self.proto.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self.proto.data_received(data)


def capture_requests(raw: bytes, tcp: bool = True, peer: object = None
                     ) -> list[_exchange.HttpRequest]:
    """The HttpRequests the real protocol makes of ``raw``, on a real socket
    (TCP by default, so the peer is a real address; ``peer`` overrides it)."""
    loop = uvloop.new_event_loop()
    if tcp:
        with socket.create_server(("127.0.0.1", 0)) as listener:
            client = socket.create_connection(listener.getsockname())
            server_end, _ = listener.accept()
    else:
        server_end, client = socket.socketpair()
    recorder = _Recorder()
    proto = _http.HttpProtocol(loop, recorder, _http.Limits(), None)

    def factory() -> asyncio.Protocol:
        return proto if peer is None else _PeerShim(proto, peer)

    async def drive() -> None:
        transport, _ = await loop.connect_accepted_socket(factory, server_end)
        proto.data_received(raw)
        for _ in range(5):
            await asyncio.sleep(0)
        transport.close()
        await asyncio.sleep(0.01)

    try:
        loop.run_until_complete(drive())
    finally:
        client.close()
        loop.close()
    return recorder.requests
