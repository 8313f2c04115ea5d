"""HTTP/1.1 server protocol on llhttp (Cython extension).

The connection side of the exchange seam: an :class:`HttpProtocol` per
connection parses requests and is the ``fastsnake._exchange.Channel`` of the
one exchange it carries at a time. Python code builds one per connection and
calls the module functions from the worker's periodic tick and drain.
"""

import asyncio
from typing import Any, Protocol

from fastsnake._exchange import Handler, HttpRequest

class Router(Protocol):
    def select(self, request: HttpRequest) -> Handler | None: ...

class Limits:
    """Size limits and timeouts (seconds; None or 0 disables a timeout)."""

    max_request_line: int
    max_header_size: int
    max_header_count: int
    max_body_size: int
    read_header_timeout: float
    read_body_timeout: float
    write_timeout: float
    idle_timeout: float
    def __init__(
        self,
        max_request_line: int = 8192,
        max_header_size: int = 16384,
        max_header_count: int = 100,
        max_body_size: int | None = None,
        read_header_timeout: float | None = 60.0,
        read_body_timeout: float | None = None,
        write_timeout: float | None = None,
        idle_timeout: float | None = 300.0,
    ) -> None: ...

class HttpProtocol(asyncio.Protocol):  # and, in C, a _exchange.Channel
    """Serves HTTP/1.1 on one connection.

    ``handler`` serves every request when ``router`` is None; otherwise
    ``router.select(request)`` picks one (None: an empty 200, as Caddy does).
    """

    peer: Any
    sockname: Any
    def __init__(self, loop: asyncio.AbstractEventLoop, handler: Handler | None,
                 limits: Limits, router: Router | None = None) -> None: ...
    def resume_parsing(self) -> None: ...

def tick(monotonic_now: float, date_value: bytes) -> None:
    """Advance the clock and cached Date value; expire connections past deadline."""

def connection_count() -> int:
    """How many connections this process has open."""

def request_count() -> int:
    """Requests this process has started to serve (for worker recycling)."""

def begin_drain(idle_grace: float = 1.0) -> None:
    """Stop taking requests: busy connections close after their response, idle ones
    after idle_grace seconds (a request already on its way is still answered).
    Connections made afterwards are served one request and closed likewise."""

def abort_all() -> None:
    """Drop every connection at once."""
