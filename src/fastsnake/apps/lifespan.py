"""The ASGI lifespan protocol: startup and shutdown, once per app per process.

Runs the app with a ``lifespan`` scope as a task on the worker's loop before
it accepts connections. ``lifespan.startup.complete`` lets serving begin and
what the app put in ``scope["state"]`` is copied into every request's scope;
``lifespan.startup.failed`` or an exception during startup stops the worker
with the app's message. This runs once per process, not per request, so it
lives in Python rather than in _asgi.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastsnake.errors import FatalError

log = logging.getLogger("fastsnake.lifespan")

ASGI_VERSION = {"version": "3.0", "spec_version": "2.4"}


class LifespanFailure(FatalError):
    """The app's startup failed; the worker must not serve."""


class Lifespan:
    def __init__(self, app: Callable[..., Awaitable[None]], name: str) -> None:
        self.app = app
        self.name = name
        self.state: dict[str, Any] = {}
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.startup_done: asyncio.Future[dict[str, Any]] | None = None
        self.shutdown_done: asyncio.Future[dict[str, Any]] | None = None
        self.task: asyncio.Task[None] | None = None
        self.received = False        # the app asked for a lifespan message
        self.unsupported = False     # it raised before that: no lifespan here

    async def receive(self) -> dict[str, Any]:
        self.received = True
        return await self.events.get()

    async def send(self, message: dict[str, Any]) -> None:
        kind = message.get("type", "")
        if kind.startswith("lifespan.startup.") and self.startup_done is not None:
            if not self.startup_done.done():
                self.startup_done.set_result(message)
        elif kind.startswith("lifespan.shutdown.") and self.shutdown_done is not None:
            if not self.shutdown_done.done():
                self.shutdown_done.set_result(message)
        else:
            raise RuntimeError(f"unexpected lifespan message {kind!r}")

    async def run_app(self) -> None:
        scope = {"type": "lifespan", "asgi": ASGI_VERSION, "state": self.state}
        try:
            await self.app(scope, self.receive, self.send)
        except BaseException as exc:
            for waiter in (self.startup_done, self.shutdown_done):
                if waiter is not None and not waiter.done():
                    waiter.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        # Returning early is allowed only after startup (then shutdown is a no-op).
        for waiter in (self.startup_done, self.shutdown_done):
            if waiter is not None and not waiter.done():
                waiter.set_result({"type": "returned"})

    async def startup(self) -> dict[str, Any]:
        """Run startup; return the state for request scopes, or raise LifespanFailure."""
        loop = asyncio.get_running_loop()
        self.startup_done = loop.create_future()
        self.task = loop.create_task(self.run_app())
        await self.events.put({"type": "lifespan.startup"})
        try:
            message = await self.startup_done
        except Exception as exc:
            if not self.received:
                # ASGI spec: an app that raises on the lifespan scope itself
                # (Django's ASGI handler does) does not speak the protocol; the
                # server must go on without lifespan events.
                log.warning("%s does not support the lifespan protocol (it raised %s: %s); "
                            "serving it without lifespan events. Remove 'lifespan on' to "
                            "silence this.", self.name, type(exc).__name__, exc)
                self.unsupported = True
                return self.state
            raise LifespanFailure(
                f"lifespan startup of {self.name} raised {type(exc).__name__}: {exc}") from exc
        if message["type"] == "lifespan.startup.failed":
            raise LifespanFailure(
                f"lifespan startup of {self.name} failed: {message.get('message', '')}")
        if message["type"] == "returned":
            raise LifespanFailure(
                f"lifespan startup of {self.name}: the app returned without completing startup")
        return self.state

    async def shutdown(self) -> None:
        if self.task is None or self.task.done() or self.unsupported:
            return
        self.shutdown_done = asyncio.get_running_loop().create_future()
        await self.events.put({"type": "lifespan.shutdown"})
        try:
            message = await self.shutdown_done
        except Exception:
            log.exception("lifespan shutdown of %s raised", self.name)
            return
        if message["type"] == "lifespan.shutdown.failed":
            log.error("lifespan shutdown of %s failed: %s", self.name, message.get("message", ""))
        if self.task is not None:
            await asyncio.wait([self.task], timeout=5)
