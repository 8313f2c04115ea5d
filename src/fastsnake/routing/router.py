"""Choosing the handler for a request: the site by Host, then its routes.

Caddy's precedence for sites on one listener: an exact host, then the most
specific wildcard (``*.example.com``), then the catch-all. Within a site the
routes run in order, as Caddy's middleware chain does: a route whose matcher
matches applies its directive -- middleware (rewrite, header, encode, root,
request_body...) changes the request or notes work for the response and goes
on; a terminal directive (python, respond, redir, file_server...) answers.
``handle`` groups are exclusive, ``route``/``handle`` blocks nest. A request
nothing answers gets Caddy's answer: an empty 200 (the protocol's default when
the router returns None).

Response work (header operations, compression, the access log) is handed to
the protocol as a ResponseFilter on the request; a site that asks for none
allocates nothing per request.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from http import HTTPStatus
from typing import Any
from urllib.parse import quote, unquote, unquote_to_bytes

from fastsnake._exchange import Handler, ResponseFilter
from fastsnake._respond import AbortHandler, FileHandler, RespondHandler, plain_text
from fastsnake.certs.store import CertStore
from fastsnake.config import directives as dv
from fastsnake.config.auth import BasicAuth
from fastsnake.config.https import AcmeChallenge
from fastsnake.config.model import PythonApp, Route
from fastsnake.config.routes import SetRoot, Subroute
from fastsnake.files.paths import inside
from fastsnake.files.server import FileServer, clean_path, root_value_safe
from fastsnake.request.client_ip import ClientIPResolver
from fastsnake.request.matchers import parse_named_matcher, path_matcher
from fastsnake.request.placeholders import PlaceholderError, Template, has_placeholders
from fastsnake.routing.auth import BasicAuthCheck, Deferred

# Caddy's default ``encode`` match: the content types worth compressing.
COMPRESSIBLE_TYPES = tuple(
    "application/atom+xml* application/eot* application/font* application/geo+json* "
    "application/graphql+json* application/javascript* application/json* application/ld+json* "
    "application/manifest+json* application/opentype* application/otf* application/rss+xml* "
    "application/truetype* application/ttf* application/vnd.api+json* "
    "application/vnd.ms-fontobject* application/wasm* application/x-httpd-cgi* "
    "application/x-javascript* application/x-opentype* application/x-otf* application/x-perl* "
    "application/x-protobuf* application/x-ttf* application/xhtml+xml* application/xml* font/* "
    "image/svg+xml* image/vnd.microsoft.icon* image/x-icon* multipart/bag* multipart/mixed* "
    "text/*".split()
)

OP_CODES = {"set": 0, "add": 1, "delete": 2, "default": 3, "replace": 4}


def host_without_port(host: bytes) -> str:
    text = host.decode("latin-1").lower()
    if text.startswith("["):
        return text[: text.find("]") + 1]
    return text.rpartition(":")[0] if ":" in text else text


class Walk:
    """What the routes noted for the response while one request passed them."""

    __slots__ = ("header_ops", "encode", "skip_log")

    def __init__(self) -> None:
        self.header_ops: list[tuple[int, bytes, bytes, bytes, Any]] | None = None
        self.encode: Encoder | None = None
        self.skip_log = False


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


class Step:
    """A compiled route: its matcher and an action. ``run`` returns a handler
    (or a target with ``select``) to answer, or None to go on."""

    __slots__ = ("matches", "run", "group")

    def __init__(self, matches: Callable[[Any], bool] | None,
                 run: Callable[[Any, Walk], Any], group: str) -> None:
        self.matches = matches
        self.run = run
        self.group = group


def run_steps(steps: Sequence[Step], request: Any, walk: Walk) -> Any:
    done: set[str] | None = None
    for step in steps:
        if step.group and done is not None and step.group in done:
            continue
        if step.matches is not None and not step.matches(request):
            continue
        if step.group:
            done = done or set()
            done.add(step.group)
        result = step.run(request, walk)
        if result is not None:
            return result
    return None


def strip_path_prefix(request: Any, prefix: str, mount: bool) -> None:
    """Remove ``prefix`` from the path (case-insensitively, as Caddy); with
    ``mount`` it moves to script_name (SCRIPT_NAME / root_path)."""
    raw = request.path.decode("latin-1")
    if raw.lower().startswith(prefix.lower()):
        rest, stripped = raw[len(prefix):], raw[:len(prefix)]
    else:
        decoded = unquote(raw, "latin-1")
        if not decoded.lower().startswith(prefix.lower()):
            return
        stripped = prefix
        rest = quote(decoded[len(prefix):], safe="/:@!$&'()*+,;=~", encoding="latin-1")
    if not rest.startswith("/"):
        rest = "/" + rest
    request.path = rest.encode("latin-1")
    if mount:
        request.script_name += stripped.rstrip("/").encode("latin-1")


def go_replacement(text: str) -> str:
    """Caddy's (Go's) ``$1`` / ``${name}`` in a replacement -> Python's ``\\g<1>``."""
    text = text.replace("\\", "\\\\")
    return re.sub(r"\$(\d+|\{\w+\})", lambda m: "\\g<" + m.group(1).strip("{}") + ">", text)


class Encoder:
    """``encode``: which format this client gets, and what is worth compressing."""

    def __init__(self, spec: dv.Encode) -> None:
        self.formats = tuple(f.encode() for f in spec.formats)
        self.minimum_length = spec.minimum_length
        self.level = spec.gzip_level
        patterns = spec.content_types if spec.content_types is not None else (
            COMPRESSIBLE_TYPES)
        self.prefixes = tuple(p.rstrip("*").encode() for p in patterns if p.endswith("*"))
        self.exact = frozenset(p.encode() for p in patterns if not p.endswith("*"))

    def compressible(self, content_type: bytes) -> bool:
        kind = content_type.lower()
        return kind.split(b";")[0].strip() in self.exact or kind.startswith(self.prefixes)

    def negotiate(self, request: Any) -> bytes | None:
        """The best format the client accepts (its q-values first, then ours)."""
        accepted: dict[bytes, float] = {}
        for name, value in request.headers:
            if name.lower() != b"accept-encoding":
                continue
            for item in value.split(b","):
                token, _, params = item.strip().partition(b";")
                q = 1.0
                params = params.strip()
                if params.lower().startswith(b"q="):
                    try:
                        q = float(params[2:])
                    except ValueError:
                        q = 0.0
                accepted[token.strip().lower()] = q
        best: bytes | None = None
        best_q = 0.0
        for fmt in self.formats:
            q = accepted.get(fmt, accepted.get(b"*", 0.0))
            if q > best_q:
                best, best_q = fmt, q
        return best


class RouteCompiler:
    """Config routes -> Steps, with python targets already built by the worker.
    ``in_errors``: the routes of a handle_errors block, where respond without
    a status and file_server answer with the error's status."""

    def __init__(self, targets: Callable[[PythonApp], Any], in_errors: bool = False) -> None:
        self.targets = targets
        self.in_errors = in_errors
        self.defers = False  # a compiled route may answer Deferred (basic_auth)

    def errors(self) -> RouteCompiler:
        return RouteCompiler(self.targets, in_errors=True)

    def site(self, hosts: Sequence[str], routes: Sequence[Route], loggers: Sequence[Any],
             error_groups: Sequence[tuple[Callable[[int], bool], Sequence[Route]]]
             ) -> SiteRoutes:
        """One site's SiteRoutes, knowing whether any of its routes may defer."""
        self.defers = False
        steps = self.compile(routes)
        errors = self.errors()
        groups = [(catches, errors.compile(group)) for catches, group in error_groups]
        return SiteRoutes(hosts, steps, loggers, groups, defers=self.defers or errors.defers)

    def compile(self, routes: Sequence[Route]) -> list[Step]:
        return [Step(self.matcher(route), self.action(route.handler), route.group)
                for route in routes]

    def matcher(self, route: Route) -> Callable[[Any], bool] | None:
        if route.matcher is not None:
            return parse_named_matcher(route.matcher, "")[1].matches
        if route.paths and "*" not in route.paths:
            return path_matcher(route.paths).matches
        return None

    def action(self, handler: Any) -> Callable[[Any, Walk], Any]:
        if isinstance(handler, PythonApp):
            target = self.targets(handler)
            limit = handler.max_body_size
            if limit is not None:
                def limited(request: Any, walk: Walk) -> Any:
                    if request.body_limit < 0 or limit < request.body_limit:
                        request.body_limit = limit
                    return target
                return limited
            return lambda request, walk: target
        if isinstance(handler, Subroute):
            return self.subroute(handler)
        kind = type(handler).__name__
        build = getattr(self, "build_" + kind.lower(), None)
        if build is None:
            raise TypeError(f"no runtime for directive {kind}")
        return build(handler)

    def subroute(self, spec: Subroute) -> Callable[[Any, Walk], Any]:
        steps = self.compile(spec.routes)
        prefix = spec.strip_prefix
        if not prefix:
            return lambda request, walk: run_steps(steps, request, walk)

        def run(request: Any, walk: Walk) -> Any:
            strip_path_prefix(request, prefix, mount=True)
            return run_steps(steps, request, walk)

        return run

    # -- terminal directives

    def build_respond(self, spec: dv.Respond) -> Callable[[Any, Walk], Any]:
        if self.in_errors and not spec.explicit_status:
            template = Template(spec.body)

            def error_page(request: Any, walk: Walk) -> Any:
                body = template.render(request)
                return RespondHandler(error_status(request), body.encode(), body_type(body),
                                      close=spec.close)

            return error_page
        if not has_placeholders(spec.body):
            fixed = RespondHandler(spec.status, spec.body.encode(), body_type(spec.body),
                                   close=spec.close)
            return lambda request, walk: fixed
        template = Template(spec.body)

        def run(request: Any, walk: Walk) -> Any:
            body = template.render(request)
            return RespondHandler(spec.status, body.encode(), body_type(body), close=spec.close)

        return run

    def build_redirect(self, spec: dv.Redirect) -> Callable[[Any, Walk], Any]:
        template = Template(spec.to)

        def run(request: Any, walk: Walk) -> Any:
            to = header_safe(template.render(request))
            location = to.encode("utf-8")
            if spec.html:
                escaped = to.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
                body = (f'<!DOCTYPE html>\n<html>\n\t<head>\n\t\t<title>Redirecting...</title>\n'
                        f'\t\t<meta http-equiv="refresh" content="0; URL=\'{escaped}\'">\n'
                        f'\t</head>\n\t<body>Redirecting to <a href="{escaped}">{escaped}</a>'
                        f'...</body>\n</html>\n')
                return RespondHandler(200, body.encode(), [
                    (b"content-type", b"text/html; charset=utf-8")])
            return RespondHandler(spec.status, b"", [(b"location", location)])

        return run

    def build_abort(self, spec: dv.Abort) -> Callable[[Any, Walk], Any]:
        handler = AbortHandler()
        return lambda request, walk: handler

    def build_errorstatus(self, spec: dv.ErrorStatus) -> Callable[[Any, Walk], Any]:
        template = Template(spec.message)
        fallback = RespondHandler(spec.status)
        return lambda request, walk: Failure(spec.status, template.render(request), fallback)

    def build_fileserverspec(self, spec: Any) -> Callable[[Any, Walk], Any]:
        in_errors = self.in_errors
        server = FileServer(spec, cache=not in_errors)  # an error page's status varies

        def run(request: Any, walk: Walk) -> Any:
            handler = server.cached(request)  # a plain GET of a file seen before
            if handler is not None:
                return handler
            root = request.vars.get("root") if request.vars else None
            target = request.target.partition(b"?")[0]
            response = server.respond(
                request.method, request.path, request.headers, root, query=request.query,
                original_path=target if target.startswith(b"/") else None, request=request)
            if response is None:
                return None  # pass_thru
            status = response.status
            if in_errors and status == 200:
                status = error_status(request)  # the error page keeps the error's status
            if response.path is not None:
                return FileHandler(status, response.headers, response.path,
                                   response.offset, response.length)
            answer = RespondHandler(status, response.body, response.headers)
            if status >= 400 and not in_errors:
                return Failure(status, "", answer)  # Caddy's file_server errors
            return answer

        return run

    def build_acmechallenge(self, spec: AcmeChallenge) -> Callable[[Any, Walk], Any]:
        """ACME's HTTP-01 challenge, answered from the data directory where the
        supervisor's certificate manager wrote it; other tokens go on."""
        store = CertStore(spec.storage)

        def run(request: Any, walk: Walk) -> Any:
            token = request.path.rpartition(b"/")[2].decode("latin-1")
            answer = store.http_challenge(token)
            if answer is None:
                return None
            return RespondHandler(200, answer, [(b"content-type", b"text/plain")])

        return run

    # -- middleware

    def build_basicauth(self, spec: BasicAuth) -> Callable[[Any, Walk], Any]:
        check = BasicAuthCheck(spec)
        refused = RespondHandler(401, b"", [check.challenge])
        headers = (check.challenge,)
        self.defers = True

        def run(request: Any, walk: Walk) -> Any:
            answer = check.decide(request)
            if answer.__class__ is str:
                if request.vars is None:
                    request.vars = {}
                request.vars["http.auth.user.id"] = answer
                return None  # accepted: on to the next route
            if answer is None:
                return Failure(401, "not authenticated", refused, headers)
            return answer  # a Deferred, or 503 when too many checks wait

        return run

    def build_setroot(self, spec: SetRoot) -> Callable[[Any, Walk], Any]:
        template = Template(spec.path)

        def run(request: Any, walk: Walk) -> None:
            if request.vars is None:
                request.vars = {}
            # A placeholder that renders empty or to ".." must not widen the root
            # (``/srv/{host}`` without a Host would otherwise serve all of /srv).
            request.vars["root"] = template.render(request, check=root_value_safe)

        return run

    def build_rewrite(self, spec: dv.Rewrite) -> Callable[[Any, Walk], Any]:
        template = Template(spec.to)

        def run(request: Any, walk: Walk) -> None:
            to = template.render(request)
            path, question, query = to.partition("?")
            if path:
                request.path = path.encode("latin-1", "replace")
            if question:
                request.query = query.encode("latin-1", "replace")

        return run

    def build_uriop(self, spec: dv.UriOp) -> Callable[[Any, Walk], Any]:
        if spec.op == "strip_prefix":
            return lambda request, walk: strip_path_prefix(request, spec.find, mount=False)
        if spec.op == "strip_suffix":
            suffix = spec.find.encode("latin-1")

            def strip_suffix(request: Any, walk: Walk) -> None:
                if request.path.endswith(suffix):
                    request.path = request.path[: -len(suffix)] or b"/"

            return strip_suffix
        if spec.op == "replace":
            find, repl = spec.find.encode("latin-1"), spec.replace.encode("latin-1")
            count = spec.limit or -1

            def replace(request: Any, walk: Walk) -> None:
                request.path = request.path.replace(find, repl, count)

            return replace
        pattern = re.compile(spec.find.encode("latin-1"))
        replacement = go_replacement(spec.replace).encode("latin-1")

        def path_regexp(request: Any, walk: Walk) -> None:
            request.path = pattern.sub(replacement, request.path)

        return path_regexp

    def build_tryfiles(self, spec: dv.TryFiles) -> Callable[[Any, Walk], Any]:
        candidates = [(Template(name), name) for name in spec.files]

        def run(request: Any, walk: Walk) -> Any:
            root = (request.vars or {}).get("root") or os.getcwd()
            for template, name in candidates:
                if name.startswith("="):
                    status = int(name[1:])
                    return Failure(status, "", RespondHandler(status))
                to = template.render(request)
                path, question, query = to.partition("?")
                if existing_file(root, path):
                    request.path = path.encode("latin-1", "replace")
                    if question:
                        request.query = query.encode("latin-1", "replace")
                    return None
            return None

        return run

    def build_requestbody(self, spec: dv.RequestBody) -> Callable[[Any, Walk], Any]:
        def run(request: Any, walk: Walk) -> None:
            if request.body_limit < 0 or spec.max_size < request.body_limit:
                request.body_limit = spec.max_size

        return run

    def build_skiplog(self, spec: dv.SkipLog) -> Callable[[Any, Walk], Any]:
        def run(request: Any, walk: Walk) -> None:
            walk.skip_log = True

        return run

    def build_encode(self, spec: dv.Encode) -> Callable[[Any, Walk], Any]:
        encoder = Encoder(spec)

        def run(request: Any, walk: Walk) -> None:
            walk.encode = encoder

        return run

    def build_headers(self, spec: dv.Headers) -> Callable[[Any, Walk], Any]:
        ops = [(OP_CODES[op.op], op.name.lower().encode("latin-1"), op.name.encode("latin-1"),
                Template(op.value),
                re.compile(op.find.encode("latin-1")) if op.op == "replace" else None)
               for op in spec.ops]
        if spec.request:
            return lambda request, walk: apply_request_header_ops(request, ops)

        def run(request: Any, walk: Walk) -> None:
            rendered = [(code, lname, name, render_header_value(template, request, code),
                         pattern) for code, lname, name, template, pattern in ops]
            if walk.header_ops is None:
                walk.header_ops = rendered
            else:
                walk.header_ops.extend(rendered)

        return run


def body_type(body: str) -> list[tuple[bytes, bytes]]:
    """Caddy's respond Content-Type: JSON for a valid JSON object or array,
    else plain text; none for an empty body."""
    if not body:
        return []
    text = body.strip()
    if len(text) > 2 and (text[0], text[-1]) in (("{", "}"), ("[", "]")):
        try:
            json.loads(text)
        except ValueError:
            pass
        else:
            return [(b"content-type", b"application/json")]
    return [(b"content-type", b"text/plain; charset=utf-8")]


def existing_file(root: str, path: str) -> bool:
    """Whether the URL path names a file (or, ending in "/", a directory)
    inside ``root``; nothing outside the root counts, whatever the spelling."""
    try:
        # Placeholders are latin-1 text of the request's bytes; the file
        # system's names are UTF-8 (os.fsdecode), as file_server reads them.
        parts = clean_path(os.fsdecode(unquote_to_bytes(path.encode("latin-1"))))
    except Exception:
        return False  # a path that cannot name a file
    base = os.path.realpath(root)
    full = os.path.realpath(os.path.join(base, *parts))
    if not inside(full, base):
        return False
    return os.path.isdir(full) if path.endswith("/") else os.path.isfile(full)


# A placeholder's value may hold CR, LF or NUL (a query, a cookie): in a
# header they would split the response, so they become spaces, as Go's
# net/http writes header values for Caddy.
_HEADER_UNSAFE = str.maketrans({"\r": " ", "\n": " ", "\0": " "})


def header_safe(value: str) -> str:
    return value.translate(_HEADER_UNSAFE)


def render_header_value(template: Template, request: Any, code: int) -> bytes:
    value = header_safe(template.render(request))
    if code == OP_CODES["replace"]:
        value = go_replacement(value)
    return value.encode("latin-1", "replace")


def apply_request_header_ops(request: Any, ops: list[tuple[int, bytes, bytes, Template, Any]]
                             ) -> None:
    # Request header names are lowercase (the parser lowers them), so they
    # compare with the op's lowered name as they are, and added ones match.
    headers = request.headers
    for code, lname, _name, template, pattern in ops:
        value = render_header_value(template, request, code)
        if code in (0, 2):  # set, delete
            headers[:] = [(n, v) for n, v in headers if n != lname]
        if code in (0, 1) or (code == 3 and not any(n == lname for n, _ in headers)):
            headers.append((lname, value))
        elif code == 4:
            headers[:] = [(n, pattern.sub(value, v) if n == lname else v) for n, v in headers]


class SiteRoutes:
    """One site's compiled routes, its error routes, and what its responses need."""

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

    def select(self, request: Any) -> Any:
        walk = Walk()
        restore = snapshot(request) if self.defers else None
        try:
            target = run_steps(self.steps, request, walk)
        except PlaceholderError as exc:
            # A request value that may not go where a placeholder puts it.
            return plain_text(400, str(exc))
        if target is not None and not isinstance(target, Handler):
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

    def set_filter(self, request: Any, walk: Walk) -> None:
        logger = None if walk.skip_log else self.log
        encoding = walk.encode.negotiate(request) if walk.encode is not None else None
        if logger is not None or walk.header_ops or encoding is not None:
            request.response_filter = ResponseFilter(
                walk.header_ops, encoding,
                walk.encode.compressible if encoding is not None else None,
                walk.encode.minimum_length if encoding is not None else 0, logger,
                walk.encode.level if encoding is not None else 0)

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


class Router:
    """Picks a handler for an HttpRequest; used when a listener has more than
    one site or route (a single catch-all app skips routing entirely)."""

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

    def select(self, request: Any) -> Any:
        if self.client_ip is not None:
            self.name_client(request)
        site = self.site_for(host_without_port(request.host))
        if site is None:
            return None
        return site.select(request)

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
