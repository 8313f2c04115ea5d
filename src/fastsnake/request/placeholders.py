"""Caddy's placeholders for what a Python site uses, resolved per request.

A template such as ``"{http.request.host.labels.2}:app"`` is compiled once
(unknown placeholders are a config error) into literal pieces and getters;
rendering it for a request only calls the getters. Caddy counts host labels
from the right (``labels.0`` of ``app1.example.com`` is ``com``) and path
segments from the left (``path.0`` of ``/a/b`` is ``a``).

Long names and their Caddyfile shorthands:
    http.request.host            {host}         the Host without its port
    http.request.hostport        {hostport}     the Host as sent
    http.request.host.labels.N   {labels.N}
    http.request.uri             {uri}          path and query (after rewrites)
    http.request.orig_uri        {orig_uri}     the request target as received
    http.request.uri.path        {path}
    http.request.uri.path.N      {path.N}
    http.request.uri.query       {query}
    http.request.uri.query.K     {query.K}      first value of parameter K
    http.request.cookie.C        {cookie.C}
    http.request.remote          {remote}       client address and port
    http.request.remote.host     {remote_host}
    http.request.remote.port     {remote_port}
    http.request.proto                          HTTP/1.1
    http.request.header.X        {header.X}     (X case-insensitive)
    http.request.method          {method}
    http.request.scheme          {scheme}
    http.regexp.N.G              {re.N.G}       group G (number or name) captured
    http.regexp.G                {re.G}         by regexp matcher N (see below)
    env.X                        {env.X}        read once, when compiled

Regexp captures live in ``request.vars`` under their long names, where
``fastsnake.request.matchers`` puts them when a ``path_regexp`` or ``header_regexp``
matches; which names exist is only known then, so any is accepted here and
one nothing has captured renders empty, as in Caddy.
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl

from fastsnake.request.httpdate import http_date

PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_.\-]+)\}")

SHORTHANDS = {
    "host": "http.request.host",
    "hostport": "http.request.hostport",
    "uri": "http.request.uri",
    "path": "http.request.uri.path",
    "query": "http.request.uri.query",
    "method": "http.request.method",
    "scheme": "http.request.scheme",
    "remote": "http.request.remote",
    "remote_host": "http.request.remote.host",
    "remote_port": "http.request.remote.port",
    "orig_uri": "http.request.orig_uri",
    "client_ip": "http.vars.client_ip",
    "port": "http.request.port",
    "file": "http.request.uri.path.file",
    "dir": "http.request.uri.path.dir",
}

# Caddy placeholders that only mean something in parts of Caddy fastsnake does
# not have (proxies, TLS details, error handling, vars): named as such, rather
# than "unknown" as a typo would be.
UNSUPPORTED_PREFIXES = ("vars.", "http.vars.", "http.request.tls.",
                        "http.reverse_proxy.", "upstream_", "http.response.", "http.auth.",
                        "http.request.body", "tls_", "resp.", "rp.")

# What routing keeps in request.vars under the placeholder's own name:
# handle_errors' error (empty outside error routes, as in Caddy) and the user
# basic_auth accepted.
VARS_PLACEHOLDERS = frozenset({
    "http.error.status_code", "http.error.status_text", "http.error.message",
    "http.error.trace", "http.error.id", "http.auth.user.id",
})
SHORTHAND_PREFIXES = {
    "labels.": "http.request.host.labels.",
    "path.": "http.request.uri.path.",
    "header.": "http.request.header.",
    "query.": "http.request.uri.query.",
    "cookie.": "http.request.cookie.",
    "re.": "http.regexp.",
    "err.": "http.error.",
}

Getter = Callable[[Any], str]


class PlaceholderError(ValueError):
    """A template names a placeholder fastsnake does not know."""


def has_placeholders(text: str) -> bool:
    return PLACEHOLDER.search(text) is not None


def long_name(name: str) -> str:
    if name in SHORTHANDS:
        return SHORTHANDS[name]
    for short, full in SHORTHAND_PREFIXES.items():
        if name.startswith(short):
            return full + name[len(short):]
    return name


def host_of(request: Any) -> str:
    text = request.host.decode("latin-1").lower()
    if text.startswith("["):
        return text[: text.find("]") + 1]
    return text.rpartition(":")[0] if ":" in text else text


def header_of(request: Any, name: bytes) -> str:
    values = [v.decode("latin-1") for n, v in request.headers if n.lower() == name]
    return ",".join(values)


def current_uri(request: Any) -> str:
    path = request.path.decode("latin-1")
    return f"{path}?{request.query.decode('latin-1')}" if request.query else path


def remote_part(request: Any, part: str) -> str:
    peer = getattr(request, "peer", None)
    if not peer:
        return ""
    host, port = str(peer[0]), str(peer[1])
    if part == "host":
        return host
    if part == "port":
        return port
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def query_value(request: Any, key: str) -> str:
    """The first value of a query parameter, decoded (Caddy's {query.X})."""
    for name, value in parse_qsl(request.query.decode("latin-1"), keep_blank_values=True):
        if name == key:
            return value
    return ""


def cookie_getter(name: str) -> Getter:
    """A cookie's value ("" without it); http.cookies only for a Caddyfile
    that asks for one."""
    from http.cookies import CookieError, SimpleCookie

    def get(request: Any) -> str:
        for header, value in request.headers:
            if header.lower() != b"cookie":
                continue
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except CookieError:
                continue
            if name in jar:
                return jar[name].value
        return ""

    return get


def getter_for(name: str) -> Getter:
    full = long_name(name)
    getter = other_getter(full)
    if getter is not None:
        return getter
    if full == "http.request.host":
        return host_of
    if full == "http.request.hostport":
        return lambda request: request.host.decode("latin-1")
    if full == "http.request.uri":
        return current_uri  # after any rewrite, as Caddy's {uri}
    if full == "http.request.orig_uri":
        return lambda request: request.target.decode("latin-1")
    if full == "http.request.proto":
        return lambda request: f"HTTP/1.{request.http_minor}"
    if full in ("http.request.remote", "http.request.remote.host", "http.request.remote.port"):
        part = full.rpartition(".")[2]
        return lambda request: remote_part(request, part)
    if full.startswith("http.request.uri.query.") and len(full) > 23:
        key = full[len("http.request.uri.query."):]
        return lambda request: query_value(request, key)
    if full.startswith("http.request.cookie.") and len(full) > 20:
        cookie = full[len("http.request.cookie."):]
        return cookie_getter(cookie)
    if full == "http.request.uri.path":
        return lambda request: request.path.decode("latin-1")
    if full == "http.request.uri.query":
        return lambda request: request.query.decode("latin-1")
    if full == "http.request.method":
        return lambda request: request.method.decode("latin-1")
    if full == "http.request.scheme":
        return lambda request: "https" if getattr(request, "secure", False) else "http"
    if full.startswith("http.request.host.labels."):
        index = _index(full, name)

        def label(request: Any) -> str:
            labels = host_of(request).split(".")
            return labels[-1 - index] if index < len(labels) else ""

        return label
    if full.startswith("http.request.uri.path."):
        index = _index(full, name)

        def segment(request: Any) -> str:
            parts = [p for p in request.path.decode("latin-1").split("/") if p]
            return parts[index] if index < len(parts) else ""

        return segment
    if full.startswith("http.request.header."):
        header = full[len("http.request.header."):].lower().encode("latin-1")
        return lambda request: header_of(request, header)
    if full.startswith("http.regexp.") and len(full) > len("http.regexp."):
        return lambda request: (request.vars or {}).get(full, "")
    if full.startswith("env."):
        value = os.environ.get(full[len("env."):], "")
        return lambda request: value
    if full.startswith(UNSUPPORTED_PREFIXES) or name.startswith(UNSUPPORTED_PREFIXES):
        raise PlaceholderError(f"placeholder {{{name}}} is not supported by fastsnake")
    raise PlaceholderError(f"unknown placeholder {{{name}}}")


def other_getter(full: str) -> Getter | None:
    """The placeholders about the client, the clock and the machine."""
    if full in VARS_PLACEHOLDERS:
        return lambda request: (request.vars or {}).get(full, "")
    if full == "http.vars.client_ip":
        # What trusted proxies named (routing sets it), else the peer.
        return lambda request: ((request.vars or {}).get("client_ip")
                                or remote_part(request, "host"))
    if full == "http.request.port":
        return host_port
    if full == "http.request.uri.path.file":
        return lambda request: request.path.decode("latin-1").rpartition("/")[2]
    if full == "http.request.uri.path.dir":
        return lambda request: request.path.decode("latin-1").rpartition("/")[0] + "/"
    if full == "http.request.uuid":
        return request_uuid()
    if full == "system.hostname":
        hostname = socket.gethostname()
        return lambda request: hostname
    if full in TIME_FORMATS:
        render = TIME_FORMATS[full]
        return lambda request: render(time.time())
    return None


def host_port(request: Any) -> str:
    """The port of the Host header ("" when it names none)."""
    after_ipv6 = request.host.decode("latin-1").rpartition("]")[2]
    return after_ipv6.rpartition(":")[2] if ":" in after_ipv6 else ""


def request_uuid() -> Getter:
    """One UUID per request, however often it is asked for. The uuid module
    (and the platform module it loads) only for a Caddyfile that asks."""
    from uuid import uuid4

    def get(request: Any) -> str:
        if request.vars is None:
            request.vars = {}
        value = request.vars.get("http.request.uuid")
        if value is None:
            value = request.vars["http.request.uuid"] = str(uuid4())
        return value

    return get


TIME_FORMATS: dict[str, Callable[[float], str]] = {
    "time.now": lambda now: datetime.fromtimestamp(now, timezone.utc).isoformat(),
    "time.now.unix": lambda now: str(int(now)),
    "time.now.unix_ms": lambda now: str(int(now * 1000)),
    "time.now.http": http_date,
    "time.now.year": lambda now: str(datetime.fromtimestamp(now, timezone.utc).year),
    "time.now.common_log": lambda now: datetime.fromtimestamp(now).astimezone()
    .strftime("%d/%b/%Y:%H:%M:%S %z"),
}


class RegexpCaptures:
    """Where a regexp matcher named ``name`` keeps what it captured.

    Caddy sets ``http.regexp.<name>.<group>`` and ``http.regexp.<group>`` for
    every group, by number and by name (an unnamed matcher only the latter);
    a group that took no part is empty. They go in ``request.vars``, read back
    by :func:`getter_for`.
    """

    __slots__ = ("keys",)

    def __init__(self, pattern: re.Pattern[bytes], name: str) -> None:
        prefixes = [f"http.regexp.{name}.", "http.regexp."] if name else ["http.regexp."]
        groups = [(i, str(i)) for i in range(pattern.groups + 1)]
        groups += [(index, label) for label, index in pattern.groupindex.items()]
        self.keys = tuple((index, p + label) for index, label in groups for p in prefixes)

    def store(self, request: Any, found: re.Match[bytes]) -> None:
        store = request.vars
        if store is None:
            store = request.vars = {}
        for index, key in self.keys:
            value = found.group(index)
            store[key] = "" if value is None else value.decode("latin-1")


def _index(full: str, name: str) -> int:
    tail = full.rpartition(".")[2]
    if not tail.isdigit():
        raise PlaceholderError(f"placeholder {{{name}}} needs a number at the end")
    return int(tail)


class Template:
    """A compiled string with placeholders."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pieces: list[str | Getter] = []
        position = 0
        for match in PLACEHOLDER.finditer(text):
            if match.start() > position:
                self.pieces.append(text[position:match.start()])
            self.pieces.append(getter_for(match.group(1)))
            position = match.end()
        if position < len(text):
            self.pieces.append(text[position:])

    def render(self, request: Any, check: Callable[[str], str] | None = None) -> str:
        """The text for this request; ``check`` vets (and may refuse, by
        raising) each substituted value."""
        out = []
        for piece in self.pieces:
            if isinstance(piece, str):
                out.append(piece)
            else:
                value = piece(request)
                out.append(check(value) if check is not None else value)
        return "".join(out)


def path_safe(value: str) -> str:
    """Refuse a substituted value that could leave its directory."""
    if (not value or value in (".", "..") or "/" in value or "\\" in value or "\0" in value
            or ":" in value):
        raise PlaceholderError(f"unsafe value {value!r} for a path placeholder")
    return value


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def log_safe(value: object) -> str:
    """A request-derived value as the server log may print it: control
    characters (newlines, terminal escapes) written as ``\\xNN``, so a client
    can neither forge log lines nor drive the reader's terminal."""
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", str(value))
