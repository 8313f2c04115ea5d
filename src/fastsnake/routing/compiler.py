"""Config routes -> the steps ``routing.router`` runs: one function per
directive, built once per worker, with python targets already made by the
worker (see docs/caddyfile.md for what each directive does)."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import unquote_to_bytes

from fastsnake._respond import AbortHandler, FileHandler, RespondHandler
from fastsnake.config import directives as dv
from fastsnake.config.auth import BasicAuth
from fastsnake.config.https import AcmeChallenge
from fastsnake.config.model import PythonApp, Route
from fastsnake.config.routes import SetRoot, Subroute
from fastsnake.request.matchers import parse_named_matcher, path_matcher
from fastsnake.request.placeholders import Template, has_placeholders
from fastsnake.routing._walk import (
    Negotiator,
    PathTest,
    Step,
    Walk,
    strip_path_prefix,
)
from fastsnake.routing.router import OP_CODES, Failure, SiteRoutes, error_status

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



def path_test(patterns: Sequence[str]) -> Callable[[Any], bool]:
    """The inline path matcher (``handle /static/*``): in C (the walk's
    PathTest) when every pattern is an exact path, ``prefix*``, ``*suffix``
    or ``*middle*`` of ASCII without ``//`` or ``%``, else the Python one."""
    python_matcher = path_matcher(patterns)
    if sys.platform == "win32":
        return python_matcher.matches  # (Windows folds paths first)
    kinds: dict[str, list[bytes]] = {"exact": [], "prefix": [], "suffix": [], "middle": []}
    for pattern in (p.lower() for p in patterns):
        if not pattern.isascii() or "//" in pattern or any(c in pattern for c in "%?[\\"):
            return python_matcher.matches
        stars = pattern.count("*")
        if stars == 0:
            kinds["exact"].append(pattern.encode())
        elif stars == 2 and len(pattern) > 1 and pattern[0] == pattern[-1] == "*":
            kinds["middle"].append(pattern[1:-1].encode())
        elif stars == 1 and pattern[0] == "*":
            kinds["suffix"].append(pattern[1:].encode())
        elif stars == 1 and pattern[-1] == "*":
            kinds["prefix"].append(pattern[:-1].encode())
        else:
            return python_matcher.matches
    return PathTest(kinds["exact"], kinds["prefix"], kinds["suffix"], kinds["middle"],
                    python_matcher.matches)


def go_replacement(text: str) -> str:
    """Caddy's (Go's) ``$1`` / ``${name}`` in a replacement -> Python's ``\\g<1>``."""
    text = text.replace("\\", "\\\\")
    return re.sub(r"\$(\d+|\{\w+\})", lambda m: "\\g<" + m.group(1).strip("{}") + ">", text)


class Encoder(Negotiator):
    """``encode``: which format this client gets, and what is worth
    compressing. ``negotiate`` (in C, routing._walk.Negotiator) remembers
    its answer per Accept-Encoding value and asks ``choose`` for a new one."""

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

    def choose(self, values: list[bytes]) -> bytes | None:
        """negotiate's answer for these Accept-Encoding values."""
        accepted: dict[bytes, float] = {}
        for value in values:
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

    def compile(self, routes: Sequence[Route]) -> tuple[Step, ...]:
        return tuple(self.step(route) for route in routes)

    def step(self, route: Route) -> Step:
        """The route's Step. The commonest actions are data that the walk
        (in C) carries out itself: a fixed python target, a fixed ``root``,
        ``encode``, a block that strips no prefix; the rest are callables."""
        matches, handler, group = self.matcher(route), route.handler, route.group
        if isinstance(handler, PythonApp) and handler.max_body_size is None:
            return Step(matches, None, group, answer=self.targets(handler))
        if isinstance(handler, SetRoot):
            template = Template(handler.path)
            if all(isinstance(piece, str) for piece in template.pieces):
                return Step(matches, None, group, root=template.render(None))
        if isinstance(handler, dv.Encode):
            return Step(matches, None, group, encoder=Encoder(handler))
        if isinstance(handler, Subroute):
            return Step(matches, None, group, steps=self.compile(handler.routes),
                        strip=handler.strip_prefix or None)
        return Step(matches, self.action(handler), group)

    def matcher(self, route: Route) -> Callable[[Any], bool] | None:
        if route.matcher is not None:
            return parse_named_matcher(route.matcher, "")[1].matches
        if route.paths and "*" not in route.paths:
            return path_test(route.paths)
        return None

    def action(self, handler: Any) -> Callable[[Any, Walk], Any]:
        if isinstance(handler, PythonApp):  # with a max_body_size (see step)
            target = self.targets(handler)
            limit = handler.max_body_size

            def limited(request: Any, walk: Walk) -> Any:
                if request.body_limit < 0 or limit < request.body_limit:
                    request.body_limit = limit
                return target

            return limited
        kind = type(handler).__name__
        build = getattr(self, "build_" + kind.lower(), None)
        if build is None:
            raise TypeError(f"no runtime for directive {kind}")
        return build(handler)

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
        # Here, not at the top: a worker whose sites serve no files never
        # loads file_server's modules (mimetypes, listings, conditionals).
        from fastsnake.files.server import FileServer

        in_errors = self.in_errors
        server = FileServer(spec, cache=not in_errors)  # an error page's status varies

        def run(request: Any, walk: Walk) -> Any:
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

        if server.cache is None:
            return run
        # A plain GET of a file seen before is answered by the cache's C
        # method (no Python frame on a hit); ``run`` decides the others.
        server.cache.miss = run
        return server.cache.run

    def build_acmechallenge(self, spec: AcmeChallenge) -> Callable[[Any, Walk], Any]:
        """ACME's HTTP-01 challenge, answered from the data directory where the
        supervisor's certificate manager wrote it; other tokens go on."""
        from fastsnake.certs.store import CertStore  # only sites with automatic HTTPS

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
        from fastsnake.routing.auth import BasicAuthCheck  # hashing: only sites that use it

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
        from fastsnake.files.server import root_value_safe  # see build_fileserverspec

        template = Template(spec.path)  # with placeholders (see step)

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
        existing_file = existing_file_check()
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


def existing_file_check() -> Callable[[str, str], bool]:
    """``existing_file`` with file_server's path rules, loaded only by a site
    that uses try_files (see build_fileserverspec)."""
    from fastsnake.files.paths import inside
    from fastsnake.files.server import clean_path

    def existing_file(root: str, path: str) -> bool:
        return _existing_file(root, path, clean_path, inside)

    return existing_file


def _existing_file(root: str, path: str, clean_path: Callable[[str], list[str]],
                   inside: Callable[[str, str], bool]) -> bool:
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

