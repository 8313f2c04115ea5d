"""One worker process: an event loop serving one listener's sites.

The worker imports its apps itself (config is plain data), accepts on the
listening socket it is given (under a supervisor, one the supervisor bound and
holds; see listening.py), and serves until told to stop. Stopping is a drain:
take the connections already queued on the socket and stop accepting, close
idle keep-alive connections, let busy ones finish their response within the
grace period, then drop whatever is left.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import socket
import sys
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastsnake import _http
from fastsnake._exchange import Handler
from fastsnake._wsgi import WsgiPool
from fastsnake.apps.factory import AppFactory, broken_handler
from fastsnake.apps.loader import AppSlot, Generation
from fastsnake.apps.reloader import DirectoryWatcher
from fastsnake.config.model import Config, Listener, PythonApp
from fastsnake.errors import FatalError
from fastsnake.request.client_ip import resolver_for
from fastsnake.request.httpdate import http_date
from fastsnake.routing.compiler import RouteCompiler
from fastsnake.routing.router import Router
from fastsnake.server.lifecycle import EXIT_STARTUP_FAILED, configure_logging
from fastsnake.server.lifecycle import banner_lines as banner_lines  # inprocess's, from here
from fastsnake.server.listening import LISTEN_BACKLOG, refuse_new_connections, take_queued
from fastsnake.server.loops import new_event_loop as new_event_loop  # inprocess's, from here
from fastsnake.server.memory import HeapKeeper, settle_after_startup, tune_malloc
from fastsnake.server.plan import Plan, is_dynamic, plan_for

if TYPE_CHECKING:
    from fastsnake.apps.dynamic import DynamicApps
    from fastsnake.server.tenants import TenantProcesses

log = logging.getLogger("fastsnake.worker")

TICK_SECONDS = 0.5
# Stopping: how long an idle connection may still start a request.
DRAIN_IDLE_GRACE = 1.0


def make_limits(config: Config) -> _http.Limits:
    t, lim = config.timeouts, config.limits
    return _http.Limits(
        max_request_line=lim.max_request_line, max_header_size=lim.max_header_size,
        max_header_count=lim.max_header_count, max_body_size=lim.max_body_size,
        read_header_timeout=t.read_header, read_body_timeout=t.read_body,
        write_timeout=t.write, idle_timeout=t.idle)


class ServedApps:
    """Everything one worker serves on a listener: fixed handlers, slots that
    autoreload swaps in-process, dynamic-app tables; and the router over them."""

    def __init__(self, config: Config, listener: Listener, loop: asyncio.AbstractEventLoop,
                 plan: Plan, tolerant: bool = False) -> None:
        self.config = config
        # A worker started by a reload serves 500s for an autoreload app that
        # fails to import (until the next change) instead of failing to start.
        self.tolerant = tolerant
        self.listener = listener
        self.loop = loop
        self.plan = plan
        self.executor = WsgiPool(plan.wsgi_threads, loop) if plan.wsgi_threads else None
        self.factory = AppFactory(loop, listener, self.executor)
        self.generations: list[Generation] = []
        self.slots: list[AppSlot] = []
        self.dynamic: list[DynamicApps | TenantProcesses] = []
        self.loggers: list[Any] = []
        self.watcher = DirectoryWatcher(self.changed_from_thread)
        self.base_dir = os.path.dirname(os.path.abspath(config.source)) if config.source else (
            os.getcwd())

    async def start(self) -> tuple[Any, Router | None]:
        """Import and start every app; return (handler, None) when one plain
        catch-all app takes every request, else (None, router)."""
        targets: dict[tuple[str, str | None, str | None], Any] = {}
        for app in self.listener.apps:
            if app.handler_key not in targets:
                targets[app.handler_key] = await self.target_for(app)
        compiler = RouteCompiler(lambda app: targets[app.handler_key])
        sites = [compiler.site(site.hosts, site.routes,
                               [self.access_logger(spec) for spec in site.access_logs],
                               [(group.catches, group.routes) for group in site.error_routes])
                 for site in self.listener.sites]
        only = self.listener.sites[0].routes if len(self.listener.sites) == 1 else ()
        if (len(only) == 1 and not self.listener.sites[0].hosts
                and not self.listener.sites[0].error_routes
                and not self.listener.sites[0].access_logs
                and self.config.client_ip is None
                and isinstance(only[0].handler, PythonApp) and only[0].matcher is None
                and only[0].handler.max_body_size is None
                and (not only[0].paths or "*" in only[0].paths)):
            target = targets[only[0].handler.handler_key]
            if isinstance(target, Handler):
                return target, None
        return None, Router(sites, resolver_for(self.config.client_ip))

    def access_logger(self, spec: Any) -> Any:
        # Only sites with a ``log`` directive load the log writers.
        from fastsnake.routing.accesslog import AccessLogger

        logger = AccessLogger(spec, server_log=self.config.server_log)
        self.loggers.append(logger)
        return logger

    async def target_for(self, app: PythonApp) -> Any:
        # Windows has no Unix sockets for asyncio: its tenants stay in the worker.
        if is_dynamic(app) and app.isolation == "process" and sys.platform != "win32":
            # As below; and the relay, its pool, the process manager.
            from fastsnake.server.tenants import TenantProcesses

            tenants = TenantProcesses(app, self.factory, self.base_dir, self.config,
                                      self.listener.port,
                                      self.watcher if app.autoreload else None)
            self.dynamic.append(tenants)
            return tenants
        if is_dynamic(app):
            # Only a site with per-request apps loads their machinery
            # (tenant environments, namespaces, the eviction table).
            from fastsnake.apps.dynamic import DynamicApps

            table = DynamicApps(app, self.factory, self.base_dir,
                                self.watcher if app.autoreload else None, app.max_dynamic_apps)
            self.dynamic.append(table)
            return table
        if app.autoreload and self.plan.reload_in_process:
            slot = AppSlot(app, self.create_swappable, broken_handler)
            await slot.start()
            self.slots.append(slot)
            self.watcher.watch(app.working_dir or os.getcwd())
            return slot
        try:
            generation = await self.factory.create(app)
        except Exception as exc:
            if not (self.tolerant and app.autoreload):
                raise
            log.error("%s failed to load; answering 500 until it is fixed", app.target,
                      exc_info=exc)
            return broken_handler(str(exc))
        self.generations.append(generation)
        return generation.handler

    async def create_swappable(self, app: PythonApp) -> Generation:
        return await self.factory.create(app, swappable=True, fresh=True)

    def changed_from_thread(self, folders: set[str]) -> None:
        self.loop.call_soon_threadsafe(self.changed, folders)

    def changed(self, folders: set[str]) -> None:
        for slot in self.slots:
            if os.path.realpath(slot.app.working_dir or os.getcwd()) in folders:
                self.loop.create_task(slot.reload())
        for table in self.dynamic:
            for folder in folders:
                table.evict_folder(folder)

    async def close(self) -> None:
        self.watcher.stop()
        for slot in self.slots:
            await slot.close()
        for table in self.dynamic:
            await table.close()
        for generation in reversed(self.generations):
            await generation.wait_cleaned()
        if self.executor is not None:
            self.executor.shutdown(wait=False)
        for logger in self.loggers:
            logger.close()


class Worker:
    def __init__(self, config: Config, listener: Listener, sock: socket.socket,
                 apps: ServedApps, own_signals: bool = True,
                 recycle: Callable[[], None] | None = None, sole_holder: bool = False) -> None:
        self.own_signals = own_signals  # False: the in-process runner handles them
        # True when nothing else holds the socket (serving in-process), so it
        # closes with this worker: new connections are refused here first.
        # Under a supervisor the supervisor does that, before telling the
        # last worker on a socket to stop, and only then.
        self.sole_holder = sole_holder
        self.recycle = recycle
        self.recycle_asked = False
        # max_requests, with up to 10 % less at random, so that workers started
        # together are not all replaced at the same moment.
        limit = apps.plan.max_requests
        self.recycle_after = int(limit * (1 - random.random() * 0.1)) if limit else 0
        self.config = config
        self.listener = listener
        self.sock = sock
        self.apps = apps
        self.limits = make_limits(config)
        self.stop_requested = asyncio.Event()
        self.stop_count = 0
        self.heap = HeapKeeper()

    def request_stop(self, signum: int) -> None:
        self.stop_count += 1
        if self.stop_count > 1 and signum == signal.SIGINT:
            log.warning("second interrupt: stopping at once")
            _http.abort_all()
            sys.stderr.flush()
            raise SystemExit(1)
        self.stop_requested.set()

    def tick(self, loop: asyncio.AbstractEventLoop) -> None:
        _http.tick(loop.time(), http_date().encode("ascii"))
        self.heap.tick(_http.request_count())
        if (self.recycle_after and not self.recycle_asked
                and _http.request_count() >= self.recycle_after):
            # Bounds what a leaking app can take: the supervisor starts a
            # replacement, and this worker drains once it is ready.
            self.recycle_asked = True
            log.info("served %d requests: asking to be replaced", _http.request_count())
            if self.recycle is not None:
                self.recycle()
        loop.call_later(TICK_SECONDS, self.tick, loop)

    async def serve(self, ready: Callable[[], None] | None) -> None:
        loop = asyncio.get_running_loop()
        self.tick(loop)
        # Imports and lifespan startups before the first connection.
        try:
            handler, router = await self.apps.start()
        except FatalError:
            raise
        except Exception as exc:
            log.exception("cannot start the apps")
            raise FatalError(f"cannot start the apps: {type(exc).__name__}: {exc}") from exc
        settle_after_startup()
        limits = self.limits
        ssl_context = None
        on_demand = None
        if self.listener.tls:
            # Only TLS listeners pay for importing ssl (a few MiB per worker).
            from fastsnake.server.tls import listener_context, managed_store

            store = managed_store(self.listener.sites, self.config.auto_https)
            ssl_context = listener_context(self.listener.sites, self.config.auto_https, store)
            if store is not None and any(getattr(site.tls, "on_demand", False)
                                         for site in self.listener.sites):
                from fastsnake.server.on_demand import CertificateRequester

                on_demand = CertificateRequester(
                    self.config.auto_https.storage,
                    lambda name: store.context_for(name) is not None)

        # With TLS a protocol exists from the accept, but starts (and counts
        # in connection_count) only once the handshake is done; those still
        # shaking hands are kept here, weakly: a failed handshake just drops it.
        handshaking: weakref.WeakSet[_http.HttpProtocol] = weakref.WeakSet()

        def protocol() -> _http.HttpProtocol:
            proto = _http.HttpProtocol(loop, handler, limits, router)
            if ssl_context is not None:
                handshaking.add(proto)
            return proto

        server: Any
        if on_demand is not None:
            # Names are read before the handshake, to get their certificates first.
            from fastsnake.server.on_demand import OnDemandAcceptor

            self.sock.listen(LISTEN_BACKLOG)
            server = OnDemandAcceptor(loop, self.sock, protocol, ssl_context, on_demand)
            server.start()
        else:
            server = await loop.create_server(protocol, sock=self.sock, backlog=LISTEN_BACKLOG,
                                              ssl=ssl_context)
        if self.own_signals and sys.platform != "win32":
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, self.request_stop, signum)
        if ready is not None:
            ready()
        await self.stop_requested.wait()
        # The connections the kernel queued for us are clients that already
        # see themselves connected: take them before the socket is closed
        # (closing it would reset them), with no await in between.
        if self.sole_holder:
            refuse_new_connections(self.sock)
        queued = take_queued(self.sock)
        server.close()
        _http.begin_drain(DRAIN_IDLE_GRACE)  # queued ones too: a request each, then close

        async def serve_queued(conn: socket.socket) -> None:
            try:
                await loop.connect_accepted_socket(protocol, conn, ssl=ssl_context)
            except Exception:  # gone meanwhile, or a failed TLS handshake
                conn.close()

        handing = [loop.create_task(serve_queued(conn)) for conn in queued]

        def starting() -> bool:
            # Connections not speaking HTTP yet (queued ones being handed
            # over, TLS handshakes) get the idle grace of begin_drain.
            return loop.time() < settle and (
                not all(task.done() for task in handing)
                or any(proto.sockname is None for proto in handshaking))

        now = loop.time()
        deadline, settle = now + self.config.grace_period, now + DRAIN_IDLE_GRACE
        while (_http.connection_count() or starting()) and loop.time() < deadline:
            await asyncio.sleep(0.05)
        for task in handing:
            task.cancel()
        if _http.connection_count():
            log.warning("grace period over: dropping %d connections", _http.connection_count())
            _http.abort_all()
        await self.apps.close()


def run_worker(config: Config, listener_index: int, sock: socket.socket,
               ready: Callable[[], None] | None = None,
               failed: Callable[[str], None] | None = None, tolerant: bool = False,
               recycle: Callable[[], None] | None = None) -> int:
    """Serve on ``sock`` (from the supervisor) until stopped; return the
    process exit code."""
    configure_logging(config.debug, config.server_log)
    listener = config.listeners[listener_index]
    tune_malloc()
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        apps = ServedApps(config, listener, loop, plan_for(listener), tolerant)
    except FatalError as exc:
        log.error("%s", exc)
        if failed:
            failed(str(exc))
        return EXIT_STARTUP_FAILED
    except Exception as exc:
        log.exception("cannot start the worker")
        if failed:
            failed(f"{type(exc).__name__}: {exc}")
        return EXIT_STARTUP_FAILED
    worker = Worker(config, listener, sock, apps, recycle=recycle)
    try:
        loop.run_until_complete(worker.serve(ready))
    except FatalError as exc:  # an import or lifespan startup failure
        log.error("%s", exc)
        if failed:
            failed(str(exc))
        return EXIT_STARTUP_FAILED
    finally:
        loop.close()
    return 0
