"""Building a Config from a Caddyfile: the one load step.

parse_config reads the Caddyfile through the ``fastsnake.caddyfile`` layers,
hands the global options and each site block's directives to their parsers,
then groups sites into listeners (one per port). The result is the plain data
of ``fastsnake.config``, which imports none of this.
"""

from __future__ import annotations

import logging
import os
from typing import NoReturn

from fastsnake.caddyfile import Token, parse
from fastsnake.config.global_options import parse_global_options
from fastsnake.config.model import Config, Listener, Runtime, Site, default_workers, python_apps
from fastsnake.config.order import CADDY_DIRECTIVES
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
            on_port.append(Site(site_hosts, routes, access_logs, parsed.tls,
                                 tuple(parsed.error_routes)))
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
        client_ip=options.client_ip,
        admin=options.admin,
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
    if text in CADDY_DIRECTIVES:
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
    workers = [app.workers for app in apps if app.workers is not None]
    return Listener(
        host=host,
        port=port,
        sites=sites,
        runtime=runtime,
        workers=max(workers) if workers else default_workers(),
    )
