"""One worker process: an event loop serving one listener's sites.

The worker imports its apps itself (config is plain data), binds the
listener's address with SO_REUSEPORT (the kernel spreads connections among
workers), and serves until told to stop. Stopping is a drain: stop accepting,
close idle keep-alive connections, let busy ones finish their response within
the grace period, then drop whatever is left.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastsnake import _http
from fastsnake._asgi import AsgiHandler
from fastsnake._wsgi import WsgiHandler
from fastsnake.apps import AppLoader
from fastsnake.config import Config, Interface, Listener, PythonApp
from fastsnake.errors import FatalError
from fastsnake.lifespan import Lifespan
from fastsnake.routing import Router, SiteRoutes

log = logging.getLogger("fastsnake.worker")

# A worker that cannot start (bad import, address in use) exits with this code
# so the supervisor stops instead of respawning it in a loop.
EXIT_STARTUP_FAILED = 3
TICK_SECONDS = 0.5
LISTEN_BACKLOG = 2048


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # Windows, or a platform without wheels
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def bind_socket(host: str, port: int, reuse_port: bool = True) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port and hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host or ("::" if family == socket.AF_INET6 else "0.0.0.0"), port))
        sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def make_limits(config: Config) -> _http.Limits:
    t, lim = config.timeouts, config.limits
    return _http.Limits(
        max_request_line=lim.max_request_line, max_header_size=lim.max_header_size,
        max_header_count=lim.max_header_count, max_body_size=lim.max_body_size,
        read_header_timeout=t.read_header, read_body_timeout=t.read_body,
        write_timeout=t.write, idle_timeout=t.idle)


@dataclass
class Dispatch:
    """What a worker serves: one handler for a lone catch-all app, or a
    router; plus the lifespans to run around serving."""

    handler: Any = None
    router: Router | None = None
    lifespans: list[tuple[Lifespan, AsgiHandler]] = field(default_factory=list)


def make_handler(app: PythonApp, listener: Listener, loader: AppLoader,
                 loop: asyncio.AbstractEventLoop, dispatch: Dispatch) -> Any:
    target = loader.load(app)
    if app.interface is Interface.ASGI:
        handler = AsgiHandler(target, loop=loop, name=app.target,
                              max_message_size=app.ws_max_message_size)
        if app.lifespan:
            dispatch.lifespans.append((Lifespan(target, app.target), handler))
        return handler
    return WsgiHandler(target, server_port=listener.port, multiprocess=listener.workers > 1,
                       name=app.target)


def build_dispatch(listener: Listener, loader: AppLoader,
                   loop: asyncio.AbstractEventLoop) -> Dispatch:
    """Import the listener's apps (each distinct one once) and route to them."""
    dispatch = Dispatch()
    handlers: dict[tuple[str, str | None, str | None], Any] = {}
    sites = []
    for site in listener.sites:
        routes = []
        for route in site.routes:
            key = route.handler.instance_key
            if key not in handlers:
                handlers[key] = make_handler(route.handler, listener, loader, loop, dispatch)
            routes.append((route.paths, handlers[key]))
        sites.append(SiteRoutes(site.hosts, routes))
    if len(sites) == 1 and not sites[0].hosts and len(sites[0].routes) == 1:
        patterns, handler = sites[0].routes[0]
        if not patterns or "*" in patterns:
            dispatch.handler = handler
            return dispatch
    dispatch.router = Router(sites)
    return dispatch


class Worker:
    def __init__(self, config: Config, listener: Listener, sock: socket.socket,
                 dispatch: Dispatch) -> None:
        self.config = config
        self.listener = listener
        self.sock = sock
        self.dispatch = dispatch
        self.limits = make_limits(config)
        self.stop_requested = asyncio.Event()
        self.stop_count = 0

    def request_stop(self, signum: int) -> None:
        self.stop_count += 1
        if self.stop_count > 1 and signum == signal.SIGINT:
            log.warning("second interrupt: stopping at once")
            _http.abort_all()
            sys.stderr.flush()
            raise SystemExit(1)
        self.stop_requested.set()

    def tick(self, loop: asyncio.AbstractEventLoop) -> None:
        _http.tick(loop.time(), email.utils.formatdate(usegmt=True).encode("ascii"))
        loop.call_later(TICK_SECONDS, self.tick, loop)

    async def serve(self, ready: Callable[[], None] | None) -> None:
        loop = asyncio.get_running_loop()
        self.tick(loop)
        # Lifespan startup before the first connection (raises LifespanFailure).
        for lifespan, asgi_handler in self.dispatch.lifespans:
            asgi_handler.state = await lifespan.startup()
        handler, router, limits = self.dispatch.handler, self.dispatch.router, self.limits
        server = await loop.create_server(
            lambda: _http.HttpProtocol(loop, handler, limits, router),
            sock=self.sock, backlog=LISTEN_BACKLOG)
        if sys.platform != "win32":
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, self.request_stop, signum)
        if ready is not None:
            ready()
        await self.stop_requested.wait()
        server.close()
        _http.begin_drain()
        deadline = loop.time() + self.config.grace_period
        while _http.connection_count() and loop.time() < deadline:
            await asyncio.sleep(0.05)
        if _http.connection_count():
            log.warning("grace period over: dropping %d connections", _http.connection_count())
            _http.abort_all()
        for lifespan, _ in reversed(self.dispatch.lifespans):
            await lifespan.shutdown()


def configure_logging(debug: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO, stream=sys.stderr,
        format="%(asctime)s fastsnake[%(process)d] %(levelname)s %(name)s: %(message)s")


def run_worker(config: Config, listener_index: int,
               ready: Callable[[], None] | None = None,
               failed: Callable[[str], None] | None = None) -> int:
    """Serve until stopped; return the process exit code."""
    configure_logging(config.debug)
    listener = config.listeners[listener_index]
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        dispatch = build_dispatch(listener, AppLoader(), loop)
        sock = bind_socket(listener.host, listener.port)
    except FatalError as exc:
        log.error("%s", exc)
        if failed:
            failed(str(exc))
        return EXIT_STARTUP_FAILED
    except OSError as exc:
        message = f"cannot listen on {listener.display_address}: {exc.strerror or exc}"
        log.error("%s", message)
        if failed:
            failed(message)
        return EXIT_STARTUP_FAILED
    except Exception as exc:
        log.exception("cannot start the worker")
        if failed:
            failed(f"{type(exc).__name__}: {exc}")
        return EXIT_STARTUP_FAILED
    worker = Worker(config, listener, sock, dispatch)
    try:
        loop.run_until_complete(worker.serve(ready))
    except FatalError as exc:  # a lifespan startup failure
        log.error("%s", exc)
        if failed:
            failed(str(exc))
        return EXIT_STARTUP_FAILED
    finally:
        loop.close()
    return 0
