"""Building a Config from a Caddyfile: the one load step.

parse_config reads the Caddyfile through the ``fastsnake.caddyfile`` layers,
hands the global options and each site block's directives to their parsers,
then groups sites into listeners (one per port). The result is the plain data
of ``fastsnake.config``, which imports none of this.
"""

from __future__ import annotations

import os
from typing import NoReturn

from fastsnake.caddyfile import Token, parse
from fastsnake.config.addresses import parse_address
from fastsnake.config.gevent_port import check_gevent_port
from fastsnake.config.global_options import parse_global_options
from fastsnake.config.https_plan import HttpsPlanner
from fastsnake.config.model import Config, Listener, Runtime, Site, default_workers, python_apps
from fastsnake.config.one_process import one_process_listeners
from fastsnake.config.python import default_runtime
from fastsnake.config.routes import RouteParser
from fastsnake.errors import CaddyfileError


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
    caddyfile = parse(text, filename)
    options = parse_global_options(caddyfile.global_options)
    base_dir = os.path.dirname(os.path.abspath(filename))

    sites: dict[int, list[Site]] = {}
    binds: dict[int, tuple[str, Token]] = {}
    route_parser = RouteParser(base_dir, order=options.order)
    claimed: dict[tuple[int, str], tuple[int, Token]] = {}
    https = HttpsPlanner(options.https, options.http_port, options.https_port)
    for index, block in enumerate(caddyfile.server_blocks):
        if block.is_named_route:
            _fail(block.keys[0], "named routes (&(name)) are not supported by fastsnake yet")
        parsed = route_parser.site(block.segments, block.has_braces)
        routes, access_logs = parsed.routes, tuple(parsed.access_logs)
        hosts_by_port: dict[int, tuple[list[str], bool, Token]] = {}
        for key in block.keys:
            port, host, secure = parse_address(key, options.http_port, options.https_port,
                                               parsed.tls)
            owner = claimed.setdefault((port, host), (index, key))
            if owner[0] != index:
                _fail(
                    key,
                    f"ambiguous site definition: {host}:{port} is also "
                    f"defined at {owner[1].location}",
                )
            hosts, first_secure, first_key = hosts_by_port.setdefault(port, ([], secure, key))
            if secure != first_secure:
                plain, tls_key = (key, first_key) if first_secure else (first_key, key)
                _fail(key, f"site address '{plain.text}' is HTTP but '{tls_key.text}' of the "
                           f"same block is HTTPS on port {port}: one port serves either; "
                           f"write http://{tls_key.text.partition('://')[2] or tls_key.text} "
                           "for HTTP")
            if host not in hosts:
                hosts.append(host)
        for port, (hosts, secure, key) in hosts_by_port.items():
            # a catch-all address in the block already takes every host
            site_hosts = () if "" in hosts else tuple(hosts)
            tls = https.site_tls(key, port, site_hosts, parsed.tls) if secure else None
            on_port = sites.setdefault(port, [])
            if on_port and (on_port[0].tls is None) != (tls is None):
                _fail(block.keys[0], f"port {port} mixes sites with and without tls; "
                                     "one port serves either HTTP or HTTPS")
            on_port.append(Site(site_hosts, routes, access_logs, tls,
                                tuple(parsed.error_routes)))
            bind = parsed.bind or ""
            first = binds.setdefault(port, (bind, block.keys[0]))
            if first[0] != bind:
                _fail(block.keys[0], f"port {port} is bound to '{bind or '*'}' here but to "
                                     f"'{first[0] or '*'}' at {first[1].location}; sites on "
                                     "one port share its bind address")
    auto_https = https.finish(sites, binds)

    runtime = default_runtime()
    interpreter = _interpreter(sites)
    listeners = tuple(_listener(port, tuple(group), runtime, binds[port][0])
                      for port, group in sites.items())
    if options.supervisor != "on":
        listeners = one_process_listeners(listeners, options.supervisor,
                                          options.supervisor_at)
    return Config(
        listeners=listeners,
        supervised=options.supervisor == "on",
        watchdog=options.supervisor == "watchdog",
        grace_period=options.grace_period,
        timeouts=options.timeouts,
        limits=options.limits,
        client_ip=options.client_ip,
        admin=options.admin,
        debug=options.debug,
        source=filename,
        server_log=options.log,
        auto_https=auto_https,
        interpreter=interpreter,
    )


def _interpreter(sites: dict[int, list[Site]]) -> str:
    """The one Python that python_path names, if it is not this one: the
    whole server runs under it, so every app must agree."""
    named = [app for group in sites.values() for site in group
             for app in python_apps(site.all_routes) if app.python]
    for app in named[1:]:
        if app.python != named[0].python:
            file, _, line = app.location.rpartition(":")
            raise CaddyfileError(
                f"python_path {app.python} differs from {named[0].python} at "
                f"{named[0].location}: one fastsnake runs under one Python; run a server per "
                "interpreter", file, int(line) if line.isdigit() else 0)
    return named[0].python if named else ""


def _fail(token: Token, message: str) -> NoReturn:
    raise CaddyfileError(message, token.file, token.line, token.imports)


def _listener(port: int, sites: tuple[Site, ...], default: Runtime,
              host: str = "") -> Listener:
    """One port's listener: the runtime its apps agree on, and the most workers asked.

    Apps that do not name a runtime go along with those that do; two that
    name different ones cannot share the listener's processes.
    """
    apps = [app for site in sites for app in python_apps(site.all_routes)]
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
    if check_gevent_port(port, sites):
        runtime = Runtime.GEVENT  # its one app may also say workers_runtime process
    workers = [app.workers for app in apps if app.workers is not None]
    return Listener(
        host=host,
        port=port,
        sites=sites,
        runtime=runtime,
        workers=max(workers) if workers else default_workers(),
    )
