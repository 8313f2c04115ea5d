"""Drive servers' protocol objects in-process, without sockets, for micro-benchmarks.

A FakeTransport stands in for uvloop's: writes are only counted, so a
benchmark measures the server's own Python/Cython work (parsing, scope and
environ building, app call, response serialisation) and no system call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

# A request as Chrome sends it for a page (about 800 bytes, 16 header fields).
BROWSER_REQUEST = (
    b"GET /articles/2024/fast-python-servers?ref=home&lang=en HTTP/1.1\r\n"
    b"Host: example.com\r\n"
    b"Connection: keep-alive\r\n"
    b'sec-ch-ua: "Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"\r\n'
    b"sec-ch-ua-mobile: ?0\r\n"
    b'sec-ch-ua-platform: "Linux"\r\n'
    b"Upgrade-Insecure-Requests: 1\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    b"Chrome/124.0.0.0 Safari/537.36\r\n"
    b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    b"image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7\r\n"
    b"Sec-Fetch-Site: none\r\n"
    b"Sec-Fetch-Mode: navigate\r\n"
    b"Sec-Fetch-User: ?1\r\n"
    b"Sec-Fetch-Dest: document\r\n"
    b"Accept-Encoding: gzip, deflate, br, zstd\r\n"
    b"Accept-Language: en-GB,en;q=0.9\r\n"
    b"Cookie: session=4f1c0a7e9b2d4e6f8a1b3c5d7e9f0a1b; theme=dark; consent=yes\r\n"
    b"\r\n"
)
PEER = ("127.0.0.1", 50000)
SOCKNAME = ("127.0.0.1", 8000)
REQUESTS_PER_CALL = 100


class FakeTransport(asyncio.Transport):
    """Counts what is written; never blocks, never closes by itself."""

    def __init__(self) -> None:
        super().__init__()
        self.written = 0
        self.closed = False
        self.last = b""

    def write(self, data: Any) -> None:
        self.written += len(data)
        self.last = data

    def writelines(self, items: Any) -> None:
        for data in items:
            self.write(data)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": PEER, "sockname": SOCKNAME}.get(name, default)

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        pass


class Connection:
    """One keep-alive connection of a protocol on a FakeTransport."""

    def __init__(self, loop: asyncio.AbstractEventLoop, protocol: asyncio.Protocol,
                 request: bytes) -> None:
        self.loop = loop
        self.protocol = protocol
        self.request = request
        self.transport = FakeTransport()
        protocol.connection_made(self.transport)
        self.response_size = 0
        self.loop.run_until_complete(self._measure())

    async def _measure(self) -> None:
        before = self.transport.written
        self.protocol.data_received(self.request)
        for _ in range(20):
            await asyncio.sleep(0)
        self.response_size = self.transport.written - before
        if not self.response_size:
            raise RuntimeError("the protocol wrote no response")

    async def _serve(self, count: int) -> None:
        transport = self.transport
        data_received = self.protocol.data_received
        for _ in range(count):
            target = transport.written + self.response_size
            data_received(self.request)
            while transport.written < target:
                await asyncio.sleep(0)

    def serve(self, count: int = REQUESTS_PER_CALL) -> None:
        """Send ``count`` requests one after another, each once the last was answered."""
        self.loop.run_until_complete(self._serve(count))


def fastsnake_connection(loop: asyncio.AbstractEventLoop, interface: str,
                         app: Callable[..., Any], request: bytes) -> Connection:
    from fastsnake import _http
    from fastsnake._asgi import AsgiHandler
    from fastsnake._wsgi import WsgiHandler

    handler: Any = (AsgiHandler(app, loop=loop) if interface == "asgi"
                    else WsgiHandler(app, server_port=SOCKNAME[1]))
    return Connection(loop, _http.HttpProtocol(loop, handler, _http.Limits(), None), request)


def uvicorn_connection(loop: asyncio.AbstractEventLoop, app: Callable[..., Any],
                       request: bytes) -> Connection:
    """uvicorn's httptools protocol as its server would set it up (minus sockets)."""
    import email.utils

    from uvicorn.config import Config
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    from uvicorn.server import ServerState

    config = Config(app, http="httptools", lifespan="off", access_log=False,
                    proxy_headers=False, log_level="warning")
    config.load()
    state = ServerState()
    # What uvicorn's Server.on_tick keeps there: so both servers send Date and Server.
    state.default_headers = [(b"date", email.utils.formatdate(usegmt=True).encode()),
                             (b"server", b"uvicorn")]
    protocol = HttpToolsProtocol(config=config, server_state=state, app_state={}, _loop=loop)
    return Connection(loop, protocol, request)


class CaptureHandler:
    """Build a fastsnake HttpRequest (and its protocol) by parsing real bytes."""

    def __init__(self, loop: asyncio.AbstractEventLoop, request: bytes) -> None:
        from fastsnake import _exchange, _http

        class Capture(_exchange.Handler):
            captured: Any = None

            def new_exchange(self, proto: Any, req: Any) -> Any:
                Capture.captured = req
                return _exchange.Exchange()

        self.protocol = _http.HttpProtocol(loop, Capture(), _http.Limits(), None)
        self.protocol.connection_made(FakeTransport())
        self.protocol.data_received(request)
        self.request = Capture.captured
        if self.request is None:
            raise RuntimeError("no request was parsed")
