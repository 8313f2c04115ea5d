"""Choosing the handler for a request: the site by Host, then its routes.

Caddy's precedence for sites on one listener: an exact host, then the most
specific wildcard (``*.example.com``), then the catch-all. Within a site the
first route whose path patterns match handles the request. A request nothing
handles gets Caddy's answer: an empty 200 (the protocol's default when the
router returns None).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastsnake._http import Handler


def host_without_port(host: bytes) -> str:
    text = host.decode("latin-1").lower()
    if text.startswith("["):
        return text[: text.find("]") + 1]
    return text.rpartition(":")[0] if ":" in text else text


def path_matches(pattern: str, path: str) -> bool:
    """Caddy's path matcher: exact, ``prefix*``, ``*suffix`` or ``*``."""
    if pattern == "*":
        return True
    if pattern.endswith("*"):
        return path.startswith(pattern[:-1])
    if pattern.startswith("*"):
        return path.endswith(pattern[1:])
    return path == pattern


class SiteRoutes:
    def __init__(self, hosts: Sequence[str], routes: Sequence[tuple[tuple[str, ...], Any]]):
        self.hosts = tuple(h.lower() for h in hosts)
        self.routes = tuple(routes)

    def select(self, path: str) -> Any:
        for patterns, handler in self.routes:
            if not patterns or any(path_matches(p, path) for p in patterns):
                return handler
        return None


class Router:
    """Picks a handler for an HttpRequest; used when a listener has more than
    one site or route (a single catch-all app skips routing entirely)."""

    def __init__(self, sites: Sequence[SiteRoutes]):
        self.exact: dict[str, SiteRoutes] = {}
        self.wildcards: list[tuple[str, SiteRoutes]] = []
        self.fallback: SiteRoutes | None = None
        for site in sites:
            if not site.hosts:
                self.fallback = self.fallback or site
            for host in site.hosts:
                if host.startswith("*."):
                    self.wildcards.append((host[1:], site))
                else:
                    self.exact.setdefault(host, site)
        # Longer suffixes are more specific.
        self.wildcards.sort(key=lambda item: -len(item[0]))

    def site_for(self, host: str) -> SiteRoutes | None:
        site = self.exact.get(host)
        if site is not None:
            return site
        for suffix, candidate in self.wildcards:
            # Caddy's "*" stands for exactly one label.
            if host.endswith(suffix) and "." not in host[: -len(suffix)] and host != suffix[1:]:
                return candidate
        return self.fallback

    def select(self, request: Any) -> Any:
        site = self.site_for(host_without_port(request.host))
        if site is None:
            return None
        target = site.select(request.path.decode("latin-1"))
        if target is None or isinstance(target, Handler):
            return target
        # An app slot or a dynamic-app table picks the handler per request.
        return target.select(request)
