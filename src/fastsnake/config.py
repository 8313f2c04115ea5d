"""The typed, validated configuration that the server runs from.

A Config is plain, frozen, picklable data: the supervisor hands it to worker
processes, which import their apps themselves (never app objects). Nothing in
this module imports the server side.

Shape: Config -> listeners (one per port) -> sites (picked by Host) -> ordered
routes (a matcher and a handler).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, NoReturn

from fastsnake.caddyfile import Token, parse
from fastsnake.errors import CaddyfileError

# RFC 6455 sets no limit; 16 MiB is the default of the websockets library too.
DEFAULT_WS_MAX_MESSAGE_SIZE = 16 * 1024 * 1024


class Interface(str, Enum):
    WSGI = "wsgi"
    ASGI = "asgi"


class Runtime(str, Enum):
    PROCESS = "process"
    THREAD = "thread"


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
    max_requests: int | None = None  # recycle a worker after about this many requests
    max_body_size: int | None = None  # the block's request_body max_size: larger -> 413
    location: str = ""               # "file:line" of the directive, for errors at import

    @property
    def instance_key(self) -> tuple[str, str | None, str | None]:
        """Handlers with the same key share one app instance in a process."""
        return (self.target, self.working_dir, self.venv)


@dataclass(frozen=True)
class Route:
    """One directive in a site's chain and the matcher that guards it.

    ``handler`` is what the directive does: a PythonApp, or one of the
    directives in ``fastsnake.directives`` / ``config_routes`` (a Subroute
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
    access_logs: tuple[Any, ...] = ()   # config_log.AccessLogSpec for each ``log``
    tls: Any = None                     # directives.TlsFiles: served over HTTPS


@dataclass(frozen=True)
class Timeouts:
    """Caddy's ``servers { timeouts { ... } }``, in seconds; None disables."""

    read_header: float | None = 60.0
    read_body: float | None = None
    write: float | None = None
    idle: float | None = 300.0


@dataclass(frozen=True)
class Limits:
    """Request size limits (DESIGN.md section 3)."""

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
        return tuple(app for site in self.sites for app in python_apps(site.routes))

    @property
    def display_address(self) -> str:
        host = self.host or "0.0.0.0"
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    @property
    def tls(self) -> bool:
        return any(site.tls is not None for site in self.sites)

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"


@dataclass(frozen=True)
class Config:
    listeners: tuple[Listener, ...]
    grace_period: float = 30.0
    timeouts: Timeouts = field(default_factory=Timeouts)
    limits: Limits = field(default_factory=Limits)
    debug: bool = False
    source: str = ""                 # the Caddyfile path it came from
    server_log: Any = None           # accesslog.ServerLogSpec of the global ``log`` option


# -- building a Config from a Caddyfile ---------------------------------------
#
# parse_config is the one load step: it reads the Caddyfile through the
# fastsnake.caddyfile layers, then turns server blocks into listeners. The
# option and directive parsers live in config_global and config_python, which
# import the dataclasses above (hence their imports inside parse_config).

# Caddy's standard directives: an address with one of these names is a
# directive written outside a site block, which deserves its own error.
_CADDY_DIRECTIVES = frozenset(
    "abort acme_server basic_auth basicauth bind copy_response copy_response_headers encode "
    "error file_server forward_auth fs handle handle_errors handle_path header intercept "
    "invoke log log_append log_name log_skip map method metrics php_fastcgi push python redir "
    "request_body request_header respond reverse_proxy rewrite root route skip_log templates "
    "timeouts tls tracing try_files uri vars".split()
)


def load_config(path: str) -> Config:
    """Read and build the Caddyfile at ``path``; errors are CaddyfileErrors."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            text = f.read()
    except FileNotFoundError:
        raise CaddyfileError(f"Caddyfile not found: {path}") from None
    except OSError as exc:
        raise CaddyfileError(f"cannot read Caddyfile {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise CaddyfileError(f"Caddyfile {path} is not UTF-8 text: {exc.reason}") from None
    return parse_config(text, path)


def parse_config(text: str, filename: str) -> Config:
    """Build a Config from Caddyfile ``text``; ``filename`` anchors imports and paths."""
    from fastsnake.config_global import parse_global_options
    from fastsnake.config_python import default_runtime
    from fastsnake.config_routes import RouteParser

    caddyfile = parse(text, filename)
    options = parse_global_options(caddyfile.global_options)
    base_dir = os.path.dirname(os.path.abspath(filename))

    sites: dict[int, list[Site]] = {}
    binds: dict[int, tuple[str, Token]] = {}
    route_parser = RouteParser(base_dir, order=options.order)
    claimed: dict[tuple[int, str], tuple[int, Token]] = {}
    for index, block in enumerate(caddyfile.server_blocks):
        if block.is_named_route:
            _fail(block.keys[0], "named routes (&(name)) are not supported by fastsnake yet")
        parsed = route_parser.site(block.segments, block.has_braces)
        routes, access_logs = parsed.routes, tuple(parsed.access_logs)
        hosts_by_port: dict[int, list[str]] = {}
        for key in block.keys:
            port, host = _parse_address(key, options.http_port, options.https_port,
                                        parsed.tls is not None)
            owner = claimed.setdefault((port, host), (index, key))
            if owner[0] != index:
                _fail(
                    key,
                    f"ambiguous site definition: {host}:{port} is also "
                    f"defined at {owner[1].location}",
                )
            hosts = hosts_by_port.setdefault(port, [])
            if host not in hosts:
                hosts.append(host)
        for port, hosts in hosts_by_port.items():
            # a catch-all address in the block already takes every host
            site_hosts = () if "" in hosts else tuple(hosts)
            on_port = sites.setdefault(port, [])
            if on_port and (on_port[0].tls is None) != (parsed.tls is None):
                _fail(block.keys[0], f"port {port} mixes sites with and without tls; "
                                     "one port serves either HTTP or HTTPS")
            on_port.append(Site(site_hosts, routes, access_logs, parsed.tls))
            bind = parsed.bind or ""
            first = binds.setdefault(port, (bind, block.keys[0]))
            if first[0] != bind:
                _fail(block.keys[0], f"port {port} is bound to '{bind or '*'}' here but to "
                                     f"'{first[0] or '*'}' at {first[1].location}; sites on "
                                     "one port share its bind address")

    runtime = default_runtime()
    return Config(
        listeners=tuple(_listener(port, tuple(group), runtime, binds[port][0])
                        for port, group in sites.items()),
        grace_period=options.grace_period,
        timeouts=options.timeouts,
        limits=options.limits,
        debug=options.debug,
        source=filename,
        server_log=options.log,
    )


def _fail(token: Token, message: str) -> NoReturn:
    raise CaddyfileError(message, token.file, token.line, token.imports)


def _parse_address(key: Token, http_port: int, https_port: int,
                   tls: bool = False) -> tuple[int, str]:
    """A site address -> (port, host matcher); "" is the catch-all host.

    Hosts are lower-cased and written as in a Host header (``[::1]``).

    HTTPS needs the site's ``tls <cert> <key>``: without it, an address that
    Caddy would serve with automatic HTTPS (``https://``, a bare hostname, the
    HTTPS port) is refused rather than quietly served without TLS.
    """
    text = key.text
    if text in _CADDY_DIRECTIVES:
        _fail(
            key,
            f"parsed '{text}' as a site address, but it is a known directive; "
            "directives must appear in a site block",
        )
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    scheme = scheme.lower()
    if scheme in ("ws", "wss"):
        plain = "http" if scheme == "ws" else "https"
        _fail(key, f"the scheme {scheme}:// is only supported in browsers; use {plain}:// instead")
    if scheme not in ("", "http", "https"):
        _fail(key, f"unsupported URL scheme {scheme}://")
    hostport, slash, _ = rest.partition("/")
    if slash:
        _fail(
            key,
            f"site address '{text}' has a path, which fastsnake does not support yet; "
            "use a path matcher instead, such as 'python /api/* ...'",
        )
    host, port_text = _split_host_port(key, hostport)
    if tls:
        if scheme == "http":
            _fail(key, f"site address '{text}' is http:// but the site has tls; "
                       "use https:// or no scheme")
        if not port_text:
            return https_port, host
        if not (port_text.isascii() and port_text.isdigit()) or int(port_text) > 65535:
            _fail(key, f"invalid port '{port_text}' in site address '{text}'")
        return int(port_text), host
    tls_error = (
        f"site address '{text}' needs HTTPS: add 'tls <cert_file> <key_file>' to the site "
        f"(fastsnake has no automatic HTTPS), or serve it over plain HTTP with "
        f"'http://{host}' or an explicit port other than {https_port}, such as '{host}:8080'"
    )
    if scheme == "https":
        _fail(key, tls_error)
    if not port_text:
        if scheme != "http":
            _fail(key, tls_error)
        return http_port, host
    if not (port_text.isascii() and port_text.isdigit()) or int(port_text) > 65535:
        _fail(key, f"invalid port '{port_text}' in site address '{text}'")
    port = int(port_text)
    if port == https_port:
        if scheme == "http":
            _fail(
                key, f"site address '{text}': http:// on the HTTPS port {port} violates convention"
            )
        _fail(key, tls_error)
    if host and not scheme and port != http_port:
        logging.getLogger("fastsnake.config").info(
            "%s: serving '%s' over plain HTTP (Caddy would use automatic HTTPS here)",
            key.location,
            text,
        )
    return port, host


def _split_host_port(key: Token, hostport: str) -> tuple[str, str]:
    if hostport.startswith("["):
        end = hostport.find("]")
        tail = hostport[end + 1 :] if end > 0 else "?"
        if end < 0 or (tail and not tail.startswith(":")):
            _fail(key, f"invalid site address '{key.text}'")
        return hostport[: end + 1].lower(), tail[1:]  # "[::1]", as in a Host header
    if hostport.count(":") > 1:
        _fail(
            key,
            f"invalid site address '{key.text}': IPv6 addresses must be in brackets, "
            "such as '[::1]:8080'",
        )
    host, _, port = hostport.partition(":")
    return host.lower(), port


def _listener(port: int, sites: tuple[Site, ...], default: Runtime,
              host: str = "") -> Listener:
    """One port's listener: the runtime its apps agree on, and the most workers asked.

    Apps that do not name a runtime go along with those that do; two that
    name different ones cannot share the listener's processes.
    """
    apps = [app for site in sites for app in python_apps(site.routes)]
    asked = [(app.runtime, app) for app in apps if app.runtime is not None]
    runtime, first = asked[0] if asked else (default, None)
    for other, app in asked:
        if other is not runtime and first is not None:
            file, _, line = app.location.rpartition(":")
            raise CaddyfileError(
                f"workers_runtime {other.value} conflicts with workers_runtime "
                f"{runtime.value} at {first.location}: every python handler on "
                f"port {port} must use the same runtime",
                file,
                int(line) if line.isdigit() else 0,
            )
    workers = [app.workers for app in apps if app.workers is not None]
    return Listener(
        host=host,
        port=port,
        sites=sites,
        runtime=runtime,
        workers=max(workers) if workers else default_workers(),
    )
