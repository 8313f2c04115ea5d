"""ASGI 3 adapter (HTTP spec 2.4, WebSocket, pathsend) on the HTTP protocol
(Cython extension). Apps run on the worker's event loop: eagerly started
tasks on Python 3.12+, ordinary tasks before."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from fastsnake._http import Handler, HttpProtocol, HttpRequest

class ClientDisconnected(OSError):
    """Raised by send() after the client went away (ASGI spec 2.4)."""

class AsgiHandler(Handler):
    """Serves one ASGI app; ``state`` is the lifespan state copied into scopes."""

    app: Callable[..., Awaitable[None]]
    name: str
    state: dict[str, Any] | None
    loop: asyncio.AbstractEventLoop
    max_message_size: int
    def __init__(self, app: Callable[..., Awaitable[None]], *,
                 loop: asyncio.AbstractEventLoop, name: str = "",
                 state: dict[str, Any] | None = None,
                 max_message_size: int = 16 * 1024 * 1024) -> None: ...
    def scope_for(self, proto: HttpProtocol, request: HttpRequest) -> dict[str, Any]:
        """The HTTP scope a request would get (for tests and tools)."""
