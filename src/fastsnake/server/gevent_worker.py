"""A worker process that serves one WSGI app on gevent (``runtime gevent``),
or one ESGI app (``module_esgi``, through server/esgi.py).

caddy-snake's gevent runtime, as gunicorn's gevent workers: the process is
monkey-patched first thing after the fork, before the app is imported, so
the app's blocking calls (sockets, ``time.sleep``, locks, database drivers
written in Python) yield to other greenlets; each connection is a greenlet,
and many requests block at once in one process. HTTP/1.1 is gevent's own
``pywsgi`` server on the listener's socket; no asyncio loop runs here.

What it serves is what config.gevent_port.check_gevent_port lets through: one
site, one WSGI or ESGI app, for every path or mounted under one ``handle_path
/prefix/*`` (SCRIPT_NAME), the site's Host names, its access ``log``. It
keeps the supervisor's contract as server/worker.py does: ``ready`` once it
accepts, exit code EXIT_STARTUP_FAILED when the app cannot be imported,
``recycle`` after ``max_requests``, and a drain on SIGTERM.
"""

from __future__ import annotations

import logging
import signal
import socket
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import gevent
import gevent.event
import gevent.monkey
from gevent import pywsgi

from fastsnake.apps.loader import AppLoader
from fastsnake.config.gevent_port import gevent_mount
from fastsnake.config.model import Config, Interface, Listener, PythonApp, python_apps
from fastsnake.routing.accesslog import AccessLogger
from fastsnake.server.esgi import esgi_as_wsgi
from fastsnake.server.lifecycle import EXIT_STARTUP_FAILED, configure_logging
from fastsnake.server.listening import LISTEN_BACKLOG, take_queued

log = logging.getLogger("fastsnake.worker")

# Stopping: how long an idle keep-alive connection may still start a request
# (server/worker.py's DRAIN_IDLE_GRACE).
DRAIN_IDLE_GRACE = 1.0
_EMPTY: list[bytes] = []


def _empty_200(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """Caddy's answer when no route handles a request: an empty 200."""
    start_response("200 OK", [("Content-Length", "0")])
    return _EMPTY


def _too_large(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    body = b"413 Request Entity Too Large\n"
    start_response("413 Request Entity Too Large",
                   [("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", str(len(body))), ("Connection", "close")])
    return [body]


class BodyTooLarge(Exception):
    """A chunked request body grew past the route's limit while the app read it."""


class LimitedInput:
    """``wsgi.input`` of a chunked request under a body limit: the size is
    only known as the app reads, so reading past the limit raises (answered
    413 when the app has not started its response)."""

    def __init__(self, stream: Any, limit: int) -> None:
        self.stream = stream
        self.left = limit

    def _count(self, data: bytes) -> bytes:
        self.left -= len(data)
        if self.left < 0:
            raise BodyTooLarge()
        return data

    def read(self, size: int | None = -1) -> bytes:
        return self._count(self.stream.read(size))

    def readline(self, size: int | None = -1) -> bytes:
        return self._count(self.stream.readline(size))

    def readlines(self, hint: int | None = None) -> list[bytes]:
        return list(iter(self.readline, b""))

    def __iter__(self) -> Any:
        return iter(self.readline, b"")


def host_matches(hosts: tuple[str, ...], host_header: str) -> bool:
    """A site's Host names as the Router picks them: exact, or ``*.`` for
    one label; none means every Host."""
    if not hosts:
        return True
    host = host_header.lower()
    host = host[:host.rindex("]") + 1] if host.startswith("[") else host.partition(":")[0]
    for pattern in hosts:
        if pattern == host:
            return True
        if pattern.startswith("*.") and host.endswith(pattern[1:]) and (
                "." not in host[:-len(pattern) + 1]):
            return True
    return False


class GeventState:
    """The worker's routing and bookkeeping, shared by its connection handlers."""

    def __init__(self, config: Config, listener: Listener, app: PythonApp,
                 target: Callable[..., Any], recycle: Callable[[], None] | None) -> None:
        site = listener.sites[0]
        self.target = target
        # module_esgi: the app is called through server/esgi.py's protocol.
        self.esgi = app.interface is Interface.ESGI
        self.ws_max_message_size = app.ws_max_message_size
        self.hosts = site.hosts
        mount = gevent_mount(site.routes)
        self.mount = mount or ""
        limits = [n for n in (config.limits.max_body_size, app.max_body_size) if n is not None]
        self.body_limit = min(limits) if limits else None
        self.idle_timeout = config.timeouts.idle
        self.loggers = [AccessLogger(spec, server_log=config.server_log)
                        for spec in site.access_logs]
        self.recycle = recycle
        self.recycle_after = app.max_requests or 0
        self.served = 0
        self.draining = False
        self.handlers: set[FastsnakeHandler] = set()

    def application_for(self, environ: dict[str, Any]) -> Callable[..., Any]:
        """What answers this request: the app, Caddy's empty 200 when the
        site or the mount does not take it, 413 past the body limit."""
        if not host_matches(self.hosts, environ.get("HTTP_HOST", "")):
            return _empty_200
        if self.mount:
            path = environ.get("PATH_INFO", "")
            if not path.lower().startswith(self.mount.lower() + "/"):
                return _empty_200
            environ["SCRIPT_NAME"] = self.mount
            environ["PATH_INFO"] = path[len(self.mount):]
        if self.body_limit is not None:
            length = environ.get("CONTENT_LENGTH")
            if length is None and environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
                environ["wsgi.input"] = LimitedInput(environ["wsgi.input"], self.body_limit)
            elif length and length.isdigit() and int(length) > self.body_limit:
                return _too_large
        return self.target

    def count_request(self) -> None:
        self.served += 1
        if self.recycle_after and self.served == self.recycle_after and self.recycle:
            log.info("served %d requests: asking to be replaced", self.served)
            self.recycle()


class FastsnakeHandler(pywsgi.WSGIHandler):
    """pywsgi's connection handler, with fastsnake's routing, limits,
    access log and drain."""

    busy = False
    body_sent = 0

    def handle(self) -> None:
        self.greenlet = gevent.getcurrent()
        state = self.server.state
        if state.idle_timeout:
            self.socket.settimeout(state.idle_timeout)
        state.handlers.add(self)
        try:
            super().handle()
        finally:
            state.handlers.discard(self)

    def read_requestline(self) -> Any:
        line = super().read_requestline()
        self.busy = True  # from here a drain lets the request finish
        return line

    def run_application(self) -> None:
        state = self.server.state
        self.application = state.application_for(self.environ)
        if state.esgi and self.application is state.target:
            self.application = esgi_as_wsgi(state.target, self, state.ws_max_message_size)
        if self.application is _too_large:
            self.close_connection = True
        try:
            super().run_application()
        except BodyTooLarge:
            # The rest of the body is not read: the connection cannot go on.
            self.close_connection = True
            if self.headers_sent:
                raise
            self.application = _too_large
            self.status = None
            super().run_application()

    def _write(self, data: bytes, *args: Any) -> None:
        # pywsgi's response_length counts the head too; Caddy's size is the body's.
        self.body_sent += len(data)
        super()._write(data, *args)

    def handle_one_response(self) -> None:
        self.body_sent = 0
        try:
            super().handle_one_response()
        finally:
            self.busy = False
            state = self.server.state
            state.count_request()
            if state.draining:
                self.close_connection = True

    def log_request(self) -> None:
        if self.server.state.loggers:
            try:
                self.write_access_log(self.server.state.loggers)
            except Exception:  # a request pywsgi could not parse lacks fields
                log.debug("no access log entry for a malformed request", exc_info=True)

    def write_access_log(self, loggers: list[AccessLogger]) -> None:
        environ = getattr(self, "environ", None) or {}
        headers = [(name.lower().encode("latin-1"), value.encode("latin-1"))
                   for name, value in (getattr(self, "headers", None) or {}).items()]
        request = SimpleNamespace(
            peer=self.client_address, vars=None,
            chunked=environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked",
            http_minor=1 if self.request_version == "HTTP/1.1" else 0,
            method=(self.command or "").encode("latin-1"),
            host=environ.get("HTTP_HOST", "").encode("latin-1"),
            target=(self.path or "").encode("latin-1"), headers=headers)
        response = [(_bytes(k), _bytes(v))
                    for k, v in (getattr(self, "response_headers", None) or ())]
        length = environ.get("CONTENT_LENGTH") or "0"
        status = getattr(self, "code", None) or 0
        duration = (self.time_finish or time.time()) - self.time_start
        for logger in loggers:
            logger.log(request, int(status), self.body_sent, duration, response,
                       int(length) if length.isdigit() else 0)


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("latin-1")


class FastsnakeServer(pywsgi.WSGIServer):
    handler_class = FastsnakeHandler

    def __init__(self, listener: socket.socket, state: GeventState) -> None:
        # log=None: the access log is fastsnake's (FastsnakeHandler.log_request).
        super().__init__(listener, state.target, log=None)
        self.state = state


def import_app(listener: Listener) -> tuple[PythonApp, Callable[..., Any]]:
    app = python_apps(listener.sites[0].routes)[0]
    return app, AppLoader().load(app)


def drain(server: FastsnakeServer, sock: socket.socket, grace: float) -> None:
    """Stop as server/worker.py does: serve what the socket queued, a request
    per connection, give idle ones DRAIN_IDLE_GRACE, busy ones the grace
    period, then drop what is left."""
    state = server.state
    state.draining = True
    server.stop_accepting()
    sock.settimeout(0.0)
    for conn in take_queued(sock):
        conn.setblocking(True)
        gevent.spawn(server.handle, conn, conn.getpeername() or "")
    server.close()
    for handler in state.handlers:
        if handler.busy:
            handler.close_connection = True
    deadline, settle = time.monotonic() + grace, time.monotonic() + DRAIN_IDLE_GRACE
    while state.handlers and time.monotonic() < deadline:
        if time.monotonic() >= settle:
            idle = [h.greenlet for h in state.handlers if not h.busy]
            if idle:
                gevent.killall(idle, block=False)
        gevent.sleep(0.05)
    if state.handlers:
        log.warning("grace period over: dropping %d connections", len(state.handlers))
        gevent.killall([h.greenlet for h in state.handlers], block=True, timeout=1)
    for logger in state.loggers:
        logger.close()


def run_gevent_worker(config: Config, listener_index: int, sock: socket.socket,
                      ready: Callable[[], None] | None = None,
                      failed: Callable[[str], None] | None = None, tolerant: bool = False,
                      recycle: Callable[[], None] | None = None) -> int:
    """Serve on ``sock`` (from the supervisor) with gevent until stopped;
    return the process exit code. ``tolerant`` (a replacement's) changes
    nothing: a replacement that cannot import its app fails, and the
    supervisor keeps the worker it would have replaced."""
    # First thing after the fork: everything imported later (the app above
    # all) gets the cooperative socket, time.sleep, threading, select...
    gevent.monkey.patch_all()
    configure_logging(config.debug, config.server_log)
    listener = config.listeners[listener_index]
    try:
        app, target = import_app(listener)
        state = GeventState(config, listener, app, target, recycle)
    except Exception as exc:
        log.error("cannot start the app: %s: %s", type(exc).__name__, exc,
                  exc_info=not isinstance(exc, ImportError))
        if failed:
            failed(f"{type(exc).__name__}: {exc}")
        return EXIT_STARTUP_FAILED
    # The supervisor's socket, as a gevent (cooperative) socket on the same fd.
    gsock = socket.socket(sock.family, sock.type, sock.proto, fileno=sock.detach())
    # A socket bound for a later worker listens only once that worker is
    # ready (see held_sockets.ListeningSockets): that is now.
    gsock.listen(LISTEN_BACKLOG)
    server = FastsnakeServer(gsock, state)
    stop = gevent.event.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(signum, stop.set)
    server.start()
    if ready is not None:
        ready()
    stop.wait()
    drain(server, gsock, config.grace_period)
    return 0

