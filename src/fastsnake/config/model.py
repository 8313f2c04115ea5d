"""The typed, validated configuration that the server runs from.

A Config is plain, frozen, picklable data: the supervisor hands it to worker
processes, which import their apps themselves (never app objects). Nothing in
this module imports the server side.

Shape: Config -> listeners (one per port) -> sites (picked by Host) -> ordered
routes (a matcher and a handler).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

# The ``source`` of a Config that no file holds (``fastsnake serve`` writes
# the Caddyfile text itself): SIGHUP has nothing to re-read then.
GENERATED_SOURCE = "(fastsnake serve)"

# caddy-snake's default start_timeout: how long a worker may take to import
# its apps and run their lifespan startup (None: no limit).
DEFAULT_START_TIMEOUT = 120.0

# RFC 6455 sets no limit; 16 MiB is the default of the websockets library too.
DEFAULT_WS_MAX_MESSAGE_SIZE = 16 * 1024 * 1024


class Interface(str, Enum):
    WSGI = "wsgi"
    ASGI = "asgi"
    ESGI = "esgi"  # caddy-snake's draft; served by the gevent worker only


class Runtime(str, Enum):
    PROCESS = "process"
    THREAD = "thread"
    GEVENT = "gevent"   # caddy-snake's ``runtime gevent``: processes that serve WSGI on gevent


@dataclass(frozen=True)
class PythonApp:
    """A ``python`` directive: which app to serve and how."""

    interface: Interface
    target: str                      # "module:variable"
    working_dir: str | None = None   # absolute, or None for the current directory
    venv: str | None = None          # absolute path of a virtual environment
    workers: int | None = None       # None: the listener's default
    runtime: Runtime | None = None   # None: the platform's default
    lifespan: bool = False
    autoreload: bool = False
    threads: int | None = None       # fastsnake's own: a WSGI thread pool per process
    ws_max_message_size: int = DEFAULT_WS_MAX_MESSAGE_SIZE  # larger messages: close 1009
    max_dynamic_apps: int = 128      # dynamic apps (placeholders) kept per worker
    env: tuple[tuple[str, str], ...] = ()  # env_file / env_var, set before the import
    # A dynamic app's env_var / env_file, resolved per tenant: ("var", name,
    # value template) or ("file", path template, "file:line").
    env_templates: tuple[tuple[str, str, str], ...] = ()
    max_requests: int | None = None  # recycle a worker after about this many requests
    max_body_size: int | None = None  # the block's request_body max_size: larger -> 413
    proxy_headers: bool = False      # trusted proxies' client address and scheme reach the app
    start_timeout: float | None = DEFAULT_START_TIMEOUT  # a worker must be ready by then
    python: str = ""                 # python_path naming another environment's interpreter
    gevent: bool = False             # ``runtime gevent``: its port runs gevent workers
    location: str = ""               # "file:line" of the directive, for errors at import
    # A dynamic app's tenants: "process" (each in its own process, the
    # default; caddy-snake's ``isolation none`` too) or "worker" (all in the
    # worker, each in its own module namespace).
    isolation: str = "process"

    @property
    def instance_key(self) -> tuple[str, str | None, str | None]:
        """Handlers with the same key share one app instance in a process."""
        return (self.target, self.working_dir, self.venv)

    @property
    def handler_key(self) -> tuple[tuple[str, str | None, str | None], bool]:
        """Blocks with the same key share one handler (the app's adapter):
        the same app, and the same view of the request."""
        return (self.instance_key, self.proxy_headers)


@dataclass(frozen=True)
class Route:
    """One directive in a site's chain and the matcher that guards it.

    ``handler`` is what the directive does: a PythonApp, or one of the
    directives in ``fastsnake.config.directives`` / ``config.routes`` (a Subroute
    for route, handle and handle_path). ``paths`` is an inline path matcher,
    ``matcher`` a named one; neither means every request matches.
    """

    handler: Any
    paths: tuple[str, ...] = ()
    matcher: Any = None              # a named matcher's definition (its Segment)
    matcher_name: str = ""           # "@name", for adapt
    directive: str = "python"
    group: str = ""                  # "handle": at most one route of the group runs


def python_apps(routes: tuple[Route, ...]) -> list[PythonApp]:
    """Every python handler among ``routes`` and the routes nested in them."""
    found: list[PythonApp] = []
    for route in routes:
        if isinstance(route.handler, PythonApp):
            found.append(route.handler)
        elif hasattr(route.handler, "routes"):
            found.extend(python_apps(route.handler.routes))
    return found


@dataclass(frozen=True)
class Site:
    """A site block's share of one listener: host matchers and its routes.

    ``hosts`` are lower-cased patterns written as in a Host header, without the
    port (``example.com``, ``*.example.com``, ``[::1]``); empty means any Host
    (a catch-all such as ``:8080``).
    """

    hosts: tuple[str, ...]
    routes: tuple[Route, ...]
    access_logs: tuple[Any, ...] = ()   # config.log.AccessLogSpec for each ``log``
    tls: Any = None                     # directives.TlsFiles: served over HTTPS
    error_routes: tuple[ErrorRoutes, ...] = ()  # ``handle_errors`` blocks, in order tried

    @property
    def all_routes(self) -> tuple[Route, ...]:
        """The routes and the error routes: every place an app may be named."""
        return self.routes + tuple(r for group in self.error_routes for r in group.routes)


@dataclass(frozen=True)
class ErrorRoutes:
    """One ``handle_errors [<codes...>] { ... }`` block: the routes that answer
    an error whose status matches ``codes`` (``404``, ``4xx``; none: every
    error). See docs/caddyfile.md, "handle_errors", for which errors reach it."""

    codes: tuple[str, ...]
    routes: tuple[Route, ...]

    def catches(self, status: int) -> bool:
        if not self.codes:
            return True
        text = str(status)
        return any(code == text or (code.endswith("xx") and code[0] == text[0])
                   for code in self.codes)


@dataclass(frozen=True)
class Timeouts:
    """Caddy's ``servers { timeouts { ... } }``, in seconds; None disables."""

    read_header: float | None = 60.0
    read_body: float | None = None
    write: float | None = None
    idle: float | None = 300.0


@dataclass(frozen=True)
class Limits:
    """Request size limits (README.md, "How requests are served")."""

    max_request_line: int = 8 * 1024
    max_header_size: int = 16 * 1024
    max_header_count: int = 100
    max_body_size: int | None = None


def default_workers() -> int:
    return os.cpu_count() or 1


@dataclass(frozen=True)
class Listener:
    """One address:port; every site block on that port shares it."""

    host: str                        # bind address; "" means every interface
    port: int
    sites: tuple[Site, ...]
    runtime: Runtime = Runtime.PROCESS
    workers: int = field(default_factory=default_workers)

    @property
    def apps(self) -> tuple[PythonApp, ...]:
        """Every python handler of this listener, in order of appearance."""
        return tuple(app for site in self.sites for app in python_apps(site.all_routes))

    @property
    def display_address(self) -> str:
        if self.host.startswith(("unix/", "fd/")):
            return self.host.partition("|")[0]  # the socket itself; the port only names it
        host = self.host or "0.0.0.0"
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    @property
    def tls(self) -> bool:
        return any(site.tls is not None for site in self.sites)

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"


@dataclass(frozen=True)
class ClientIPPolicy:
    """The global ``servers { trusted_proxies ... }`` options (see
    request.client_ip): who may name the client in a header."""

    trusted: tuple[str, ...] = ()                     # ranges, as written
    headers: tuple[str, ...] = ("X-Forwarded-For",)   # client_ip_headers
    strict: bool = False                              # trusted_proxies_strict


@dataclass(frozen=True)
class Config:
    listeners: tuple[Listener, ...]
    grace_period: float = 30.0
    timeouts: Timeouts = field(default_factory=Timeouts)
    limits: Limits = field(default_factory=Limits)
    debug: bool = False
    source: str = ""                 # the Caddyfile path it came from
    server_log: Any = None           # accesslog.ServerLogSpec of the global ``log`` option
    client_ip: ClientIPPolicy | None = None  # trusted proxies; None: the peer is the client
    admin: bool = True               # admin off: fastsnake reload/stop cannot reach it
    supervised: bool = True          # supervisor off/watchdog: everything in one process
    watchdog: bool = False           # supervisor watchdog: that process under a C watchdog
    auto_https: Any = None           # certs.policy.AutoHttps: certificates fastsnake manages
    interpreter: str = ""            # python_path: the Python to run under, if not this one
