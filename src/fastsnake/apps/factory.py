"""Turning a ``python`` directive into a served app: import it, wrap it in
the adapter for its interface, run its lifespan, and package the result as
an apps.Generation (handler + cleanup).

This is where the WSGI thread pool, the listener's port and the event loop
meet an app; the worker builds one AppFactory per listener.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastsnake._respond import plain_text
from fastsnake._wsgi import WsgiHandler, WsgiPool
from fastsnake.apps.lifespan import Lifespan
from fastsnake.apps.loader import AppLoader, Generation
from fastsnake.apps.namespaces import AppNamespace, confine_asgi, confine_wsgi
from fastsnake.config.model import Interface, Listener, PythonApp

log = logging.getLogger("fastsnake.apps")

AsgiApp = Callable[..., Awaitable[None]]


def gate_on_startup(app: AsgiApp, startup: asyncio.Task[dict[str, Any]]) -> AsgiApp:
    """An ASGI app whose requests wait for its lifespan startup (for apps
    created while serving, whose first request is already waiting)."""

    async def gated(scope: dict[str, Any], receive: Any, send: Any) -> None:
        state = await startup
        if scope["type"] != "lifespan":
            scope["state"] = dict(state)
        await app(scope, receive, send)

    return gated


def broken_handler(message: str) -> Any:
    """What a slot whose app failed to load answers: 500, details in the log."""
    return plain_text(500, "500 Internal Server Error")


class AppFactory:
    def __init__(self, loop: asyncio.AbstractEventLoop, listener: Listener,
                 executor: WsgiPool | None, loader: AppLoader | None = None) -> None:
        self.loop = loop
        self.listener = listener
        self.executor = executor
        self.loader = loader or AppLoader()

    def handler_for(self, app: PythonApp, target: Any) -> Any:
        if app.interface is Interface.ASGI:
            # A worker of WSGI apps only never loads the ASGI adapter and its
            # WebSocket codec.
            from fastsnake._asgi import AsgiHandler

            return AsgiHandler(target, loop=self.loop, name=app.target,
                               max_message_size=app.ws_max_message_size,
                               proxy_headers=app.proxy_headers)
        return WsgiHandler(target, server_port=self.listener.port,
                           multiprocess=self.listener.workers > 1, name=app.target,
                           executor=self.executor, proxy_headers=app.proxy_headers)

    async def create(self, app: PythonApp, *, swappable: bool = False,
                     fresh: bool = False) -> Generation:
        """Import and start an app; raise if it cannot (import or lifespan)."""
        target = self.loader.load(app, fresh=fresh)
        handler = self.handler_for(app, target)
        cleanup = None
        if app.interface is Interface.ASGI and app.lifespan:
            lifespan = Lifespan(target, app.target)
            handler.state = await lifespan.startup()
            cleanup = lifespan.shutdown
        else:
            cleanup = getattr(target, "close", None) if swappable else None
        generation = Generation(handler, cleanup, name=app.target)
        if swappable:
            handler.generation = generation
        return generation

    def create_now(self, app: PythonApp, namespace: AppNamespace | None = None) -> Generation:
        """Import an app while a request waits for it: lifespan startup runs
        in the background and the app's requests wait for it. A dynamic
        app's ``namespace`` keeps its modules apart from other apps'."""
        target = self.loader.load(app, namespace=namespace)
        cleanup = getattr(target, "close", None)
        if namespace is not None:
            confine = confine_asgi if app.interface is Interface.ASGI else confine_wsgi
            target = confine(target, namespace)
        if app.interface is Interface.ASGI and app.lifespan:
            lifespan = Lifespan(target, app.target)
            startup = self.loop.create_task(lifespan.startup())
            target = gate_on_startup(target, startup)
            cleanup = lifespan.shutdown
        handler = self.handler_for(app, target)
        generation = Generation(handler, cleanup, name=app.target)
        handler.generation = generation
        return generation

    def forget(self, app: PythonApp) -> None:
        self.loader.forget(app)

    def resolved(self, app: PythonApp, target: str, working_dir: str | None,
                 venv: str | None) -> PythonApp:
        return dataclasses.replace(app, target=target, working_dir=working_dir, venv=venv)
