"""ASGI 3 adapter (HTTP spec 2.4, WebSocket, pathsend) on the HTTP protocol
(Cython extension). Apps run on the worker's event loop, each request in an
eagerly started task of its own (3.12's eager_start; on older Pythons the
task's first step is taken from the loop and run at once)."""

import asyncio
import contextvars
from collections.abc import Awaitable, Callable
from typing import Any

from fastsnake._http import Handler, HttpProtocol, HttpRequest

class ClientDisconnected(OSError):
    """Raised by send() after the client went away (ASGI spec 2.4)."""

def keep_first_step(step: Callable[[], object], *,
                    context: contextvars.Context | None = None) -> None:
    """Stands in for loop.call_soon while a request's Task is made (< 3.12)."""

class AsgiHandler(Handler):
    """Serves one ASGI app; ``state`` is the lifespan state copied into scopes."""

    app: Callable[..., Awaitable[None]]
    name: str
    state: dict[str, Any] | None
    loop: asyncio.AbstractEventLoop
    max_message_size: int
    base_context: contextvars.Context
    def __init__(self, app: Callable[..., Awaitable[None]], *,
                 loop: asyncio.AbstractEventLoop, name: str = "",
                 state: dict[str, Any] | None = None,
                 max_message_size: int = 16 * 1024 * 1024) -> None: ...
    def scope_for(self, proto: HttpProtocol, request: HttpRequest) -> dict[str, Any]:
        """The HTTP scope a request would get (for tests and tools)."""
