"""Choosing the handler for a request: the site by Host, then its routes.

Caddy's precedence for sites on one listener: an exact host, then the most
specific wildcard (``*.example.com``), then the catch-all. Within a site the
routes run in order, as Caddy's middleware chain does: a route whose matcher
matches applies its directive -- middleware (rewrite, header, encode, root,
request_body...) changes the request or notes work for the response and goes
on; a terminal directive (python, respond, redir, file_server...) answers.
``handle`` groups are exclusive, ``route``/``handle`` blocks nest. A request
nothing answers gets Caddy's answer: an empty 200 (the protocol's default when
the router returns None). A route may instead raise an error (a Failure: the
site's handle_errors routes answer it) or defer (a Deferred: basic_auth's
check runs off the loop, then the request is routed again).

Response work (header operations, compression, the access log) is handed to
the protocol as a ResponseFilter on the request; a site that asks for none
allocates nothing per request. The steps themselves are built from the
config by ``routing.compiler``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from http import HTTPStatus
from typing import Any

from fastsnake._exchange import Handler
from fastsnake._respond import RespondHandler, plain_text
from fastsnake.request.client_ip import ClientIPResolver
from fastsnake.request.placeholders import PlaceholderError
from fastsnake.routing._walk import HostSelect, SiteSelect, Step, Walk, run_steps

# ``header`` operations, as the ResponseFilter applies them.
OP_CODES = {"set": 0, "add": 1, "delete": 2, "default": 3, "replace": 4}


def host_without_port(host: bytes) -> str:
    text = host.decode("latin-1").lower()
    if text.startswith("["):
        return text[: text.find("]") + 1]
    return text.rpartition(":")[0] if ":" in text else text


class Failure:
    """An error a route raised (Caddy's HandlerError): the site's
    ``handle_errors`` routes answer it, or ``fallback`` (the plain answer:
    the status, and what the directive says besides) where it has none.
    ``headers`` go on the error page too (basic_auth's WWW-Authenticate)."""

    __slots__ = ("status", "message", "fallback", "headers")

    def __init__(self, status: int, message: str, fallback: Handler,
                 headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
        self.status = status
        self.message = message
        self.fallback = fallback
        self.headers = headers


def status_text(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def error_status(request: Any) -> int:
    """The status of the error being handled (in error routes)."""
    return int((request.vars or {}).get("http.error.status_code") or 500)


class Deferred:
    """A routing answer that is not ready (basic_auth's, see routing/auth.py;
    here so that a worker without basic_auth never loads that module):
    ``start(done, loop)`` begins the work (``work()`` returns a Future) and,
    on the event loop once it is
    finished, hands its result to ``settle`` (the answer is remembered
    there), puts the request's routing state back as it was before the
    first pass (``restore``, set by the router) and calls ``done()``: the
    protocol routes the request again, from the start."""

    __slots__ = ("work", "settle", "restore")

    def __init__(self, work: Callable[[], Future[Any]],
                 settle: Callable[[Future[Any]], None]) -> None:
        self.work = work
        self.settle = settle
        self.restore: Callable[[], None] | None = None

    def start(self, done: Callable[[], None], loop: Any) -> None:
        future = self.work()
        future.add_done_callback(
            lambda finished: loop.call_soon_threadsafe(self.resume, finished, done))

    def resume(self, finished: Future[Any], done: Callable[[], None]) -> None:
        self.settle(finished)
        if self.restore is not None:
            self.restore()
        done()


class SiteRoutes(SiteSelect):
    """One site's compiled routes, its error routes, and what its responses
    need. ``select`` (the walk, in C: routing._walk.SiteSelect) calls back
    here for what is rarer."""

    def __init__(self, hosts: Sequence[str], steps: Sequence[Step],
                 loggers: Sequence[Any] = (),
                 error_groups: Sequence[tuple[Callable[[int], bool], Sequence[Step]]] = (),
                 defers: bool = False) -> None:
        self.hosts = tuple(h.lower() for h in hosts)
        self.defers = defers
        self.steps = tuple(steps)
        self.loggers = tuple(loggers)
        self.error_groups = tuple((catches, tuple(group)) for catches, group in error_groups)
        # ``log { hostnames ... }`` narrows a log to some of the site's hosts.
        self.log_hosts = [frozenset(h.lower() for h in getattr(logger.spec, "hostnames", ()))
                          for logger in self.loggers]
        self.log = self.loggers[0].log if len(self.loggers) == 1 and not self.log_hosts[0] else (
            self.log_all if self.loggers else None)

    def log_all(self, request: Any, *args: Any) -> None:
        host = host_without_port(request.host) if any(self.log_hosts) else ""
        for logger, hosts in zip(self.loggers, self.log_hosts, strict=True):
            if not hosts or host in hosts:
                logger.log(request, *args)

    def snapshot(self, request: Any) -> Callable[[], None]:
        return snapshot(request)

    def settle(self, request: Any, walk: Walk, target: Any,
               restore: Callable[[], None] | None) -> Any:
        """The answer for a step's target that is not a handler."""
        if isinstance(target, Failure):
            target = self.failed(request, walk, target)
        elif isinstance(target, Deferred):
            target.restore = restore
            return target  # the protocol routes it again when the work is done
        else:
            # An app slot or a dynamic-app table picks the handler per request.
            target = target.select(request)
        self.set_filter(request, walk)
        return target

    def failed(self, request: Any, walk: Walk, failure: Failure) -> Any:
        """Caddy's error handling: the first handle_errors block whose codes
        take the status answers, with the ``{err.*}`` placeholders set; the
        request keeps what routing did to it (root, rewrites, vars). With no
        block for it, the plain answer."""
        status = failure.status
        steps = next((group for catches, group in self.error_groups if catches(status)), None)
        if steps is None:
            return failure.fallback
        variables = request.vars
        if variables is None:
            variables = request.vars = {}
        variables["http.error.status_code"] = str(status)
        variables["http.error.status_text"] = status_text(status)
        variables["http.error.message"] = failure.message
        variables["http.error.trace"] = ""
        variables["http.error.id"] = os.urandom(5).hex()[:9]
        for name, value in failure.headers:
            ops = walk.header_ops if walk.header_ops is not None else []
            ops.append((OP_CODES["set"], name, name, value, None))
            walk.header_ops = ops
        try:
            target = run_steps(steps, request, walk)
        except PlaceholderError as exc:
            return plain_text(400, str(exc))
        if target is None:
            return RespondHandler(status)  # nothing answered: the bare status, as Caddy
        if isinstance(target, Failure):
            return target.fallback  # an error while handling one: no second round
        if isinstance(target, Deferred):
            return RespondHandler(status)  # (no password checks while answering an error)
        if not isinstance(target, Handler):
            target = target.select(request)
        return target


def snapshot(request: Any) -> Callable[[], None]:
    """What routing may change in a request, and a function that puts it
    back: a deferred request is routed again from the start."""
    path, query, script_name = request.path, request.query, request.script_name
    headers = list(request.headers)
    variables = dict(request.vars) if request.vars is not None else None
    body_limit = request.body_limit

    def restore() -> None:
        request.path, request.query, request.script_name = path, query, script_name
        request.headers[:] = headers
        request.vars = dict(variables) if variables is not None else None
        request.body_limit = body_limit
        request.response_filter = None

    return restore


class Router(HostSelect):
    """Picks a handler for an HttpRequest; used when a listener has more than
    one site or route (a single catch-all app skips routing entirely).
    ``select`` is routing._walk.HostSelect's, in C."""

    def __init__(self, sites: Sequence[SiteRoutes],
                 client_ip: ClientIPResolver | None = None) -> None:
        self.client_ip = client_ip  # trusted proxies: who the client is, per request
        # Read by the protocol before it asks error_handler (an app that
        # raised, a body too large).
        self.handles_errors = any(site.error_groups for site in sites)
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
        # A listener whose one site names no host (``:8080 { ... }``) routes
        # every request there: no Host header to decode and compare.
        self.only_site = self.fallback if not self.exact and not self.wildcards else None
        # Sites by the Host header's raw bytes, as sent (with any port), so
        # the usual request skips decoding and lowercasing it; at most
        # HOST_MEMO of them (clients choose the Host).
        self.by_host: dict[bytes, SiteRoutes | None] = {}

    def name_client(self, request: Any) -> None:
        """Caddy's client_ip variable (and, from a trusted peer, the scheme
        X-Forwarded-Proto names, for apps with proxy_headers)."""
        assert self.client_ip is not None
        variables = request.vars
        if variables is None:
            variables = request.vars = {}
        variables["client_ip"] = self.client_ip.client_ip(request)
        scheme = self.client_ip.forwarded_scheme(request)
        if scheme is not None:
            variables["forwarded_proto"] = scheme

    def site_for(self, host: str) -> SiteRoutes | None:
        site = self.exact.get(host)
        if site is not None:
            return site
        for suffix, candidate in self.wildcards:
            # Caddy's "*" stands for exactly one label.
            if host.endswith(suffix) and "." not in host[: -len(suffix)] and host != suffix[1:]:
                return candidate
        return self.fallback

    def site_for_host(self, host: bytes) -> SiteRoutes | None:
        return self.site_for(host_without_port(host))

    def error_handler(self, request: Any, status: int, message: str) -> Any:
        """The handler of the site's handle_errors routes for an error found
        after routing (an app that raised, a body too large), or None where
        the site has none for it."""
        site = self.site_for(host_without_port(request.host))
        if site is None or not any(catches(status) for catches, _ in site.error_groups):
            return None
        walk = Walk()
        handler = site.failed(request, walk, Failure(status, message, RespondHandler(status)))
        site.set_filter(request, walk)
        return handler
