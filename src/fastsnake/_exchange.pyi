"""The exchange seam (Cython extension): one request/response, whatever
connection carries it.

Adapters (``fastsnake._wsgi``, ``fastsnake._asgi``, ``fastsnake._respond``)
subclass :class:`Handler` and ``Exchange`` at the C level and answer through
the exchange's ``Channel``; routing builds a :class:`ResponseFilter` per
response. See docs/architecture.md.
"""

from collections.abc import Iterable
from typing import Any

class HttpRequest:
    """The parsed head of one request."""

    method: bytes
    target: bytes
    path: bytes
    query: bytes
    headers: list[tuple[bytes, bytes]]  # names lowercased by the parser, values as sent
    host: bytes
    http_minor: int
    keep_alive: bool
    expect_continue: bool
    chunked: bool
    content_length: int
    upgrade: bytes | None
    peer: tuple[str, int] | None
    secure: bool
    script_name: bytes
    vars: dict[str, str] | None
    body_limit: int
    response_filter: object | None

class PreparedHead:
    """A fixed response's status line and headers, checked and serialised
    once; raises ValueError for what only the per-request path handles (a
    1xx, 204 or 304; Content-Length, Transfer-Encoding, Connection, Date or
    Server; a line that could split the response)."""

    status_line: bytes
    headers: list[tuple[bytes, bytes]]
    lines: bytes
    status: int
    encoded: bool
    def __init__(self, status_line: bytes,
                 headers: Iterable[tuple[bytes, bytes]]) -> None: ...

class Channel:
    """The response side of one exchange: the connection that carries it
    (HTTP/1.1: the connection itself; HTTP/2: one per stream). Its response
    API is C-level only; Python sees the peer and the local address."""

    peer: Any
    sockname: Any
    secure: bool

class Exchange:
    """One request/response on a connection (an adapter's per-request object)."""

class Handler:
    """Makes an Exchange for each request; one per served app."""

    def new_exchange(self, channel: Channel, request: HttpRequest) -> Exchange: ...

def reason_phrase(status: int) -> bytes:
    """The standard reason phrase for a status code."""

class ResponseFilter:
    """Routing's work on one response: header operations, compression, access log."""

    def __init__(
        self,
        header_ops: list[tuple[int, bytes, bytes, bytes, object]] | None = None,
        encoding: bytes | None = None,
        compressible: object | None = None,
        minimum_length: int = 512,
        logger: object | None = None,
        level: int = 0,
    ) -> None: ...
