"""A site block's directives -> its ordered routes, as Caddy builds them.

Each directive becomes a Route: its matcher (an inline path pattern, or a
named matcher ``@name`` defined in the block or an enclosing one) and what it
does. Outside ``route`` blocks, routes are sorted by Caddy's directive order
(``python`` just before ``route``, as caddy-snake registers it) and, within one
directive, the more specific path first. ``handle`` and ``handle_path`` routes
at one level form a group of which at most one runs per request.

``log`` is a site setting, not a route: it is collected separately.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cmp_to_key
from typing import Any, NoReturn

from fastsnake.caddyfile import Dispenser, Segment, Token
from fastsnake.config import directives as dv
from fastsnake.config.auth import parse_basic_auth
from fastsnake.config.directives import parse_tls
from fastsnake.config.files import parse_file_server, parse_root
from fastsnake.config.log import parse_log_directive
from fastsnake.config.model import ErrorRoutes, Route
from fastsnake.config.order import CADDY_DIRECTIVES, directive_order
from fastsnake.config.python import parse_python
from fastsnake.errors import CaddyfileError
from fastsnake.request.matchers import is_matcher_token, parse_named_matcher, path_pattern_error

log = logging.getLogger("fastsnake.config")


# Directives whose lone argument may start with "/" without being a matcher.
_PATH_VALUED = frozenset({"root", "rewrite", "redir"})

EXCLUSIVE_GROUP = "handle"


@dataclass(frozen=True)
class Subroute:
    """``route`` / ``handle`` / ``handle_path``: nested routes; handle_path also
    strips ``strip_prefix`` from the path (it becomes SCRIPT_NAME / root_path)."""

    routes: tuple[Route, ...]
    strip_prefix: str = ""


@dataclass
class BlockResult:
    routes: tuple[Route, ...]
    access_logs: list[Any] = field(default_factory=list)
    tls: Any = None                  # directives.TlsFiles
    bind: str | None = None          # the ``bind`` address
    error_routes: list[ErrorRoutes] = field(default_factory=list)  # ``handle_errors``


def _fail(token: Token, message: str) -> NoReturn:
    raise CaddyfileError(message, token.file, token.line, token.imports)


def _single_path(route: Route) -> str:
    """The one path pattern of a route's matcher, or "" (Caddy compares only those)."""
    if route.matcher is None and len(route.paths) == 1 and route.paths[0] != "*":
        return route.paths[0]
    definition = route.matcher
    if definition is not None and len(definition) == 3 and definition[1].text == "path":
        return definition[2].text  # ``@name path /x``: a path matcher too
    return ""


def _sort_name(directive: str) -> str:
    # Caddy sorts handle_path at handle's level (caddy#3675); basicauth is
    # basic_auth's older name.
    return {"handle_path": "handle", "basicauth": "basic_auth"}.get(directive, directive)


def _less(a: Route, b: Route, order: dict[str, int]) -> bool:
    """Caddy's sortRoutes order (httpcaddyfile/directives.go)."""
    a_dir, b_dir = _sort_name(a.directive), _sort_name(b.directive)
    if a_dir != b_dir:
        return order.get(a_dir, 0) < order.get(b_dir, 0)
    a_path, b_path = _single_path(a), _single_path(b)
    if a_path and b_path:
        a_trim, b_trim = a_path.removesuffix("*"), b_path.removesuffix("*")
        if a_trim == b_trim:
            return len(a_path) < len(b_path)  # "/a" before "/a*"
        if len(a_trim) == len(b_trim):
            return a_trim < b_trim
        return len(a_trim) > len(b_trim)
    a_matched = a.matcher is not None or bool(a_path)
    b_matched = b.matcher is not None or bool(b_path)
    return a_matched and not b_matched


def sort_routes(routes: list[Route], order: dict[str, int]) -> tuple[Route, ...]:
    """A stable sort by Caddy's comparison."""
    def compare(a: Route, b: Route) -> int:
        return -1 if _less(a, b, order) else (1 if _less(b, a, order) else 0)

    return tuple(sorted(routes, key=cmp_to_key(compare)))


class RouteParser:
    """Parses one site block (and the blocks nested in it)."""

    def __init__(self, base_dir: str, notice: Callable[[str], None] | None = None,
                 order: tuple[tuple[str, str, str], ...] = ()) -> None:
        self.base_dir = base_dir
        self.order = directive_order(order)
        self.notice = notice or (lambda message: log.info("%s", message))
        self.log_count = 0

    def site(self, segments: tuple[Segment, ...], has_braces: bool) -> BlockResult:
        result = BlockResult(())
        result.routes = self.block(segments, {}, ordered=False, site=result,
                                   has_braces=has_braces)
        # Blocks with status codes are tried first, in the order written; one
        # without codes is the fallback (Caddy's handle_errors).
        result.error_routes.sort(key=lambda group: not group.codes)
        return result

    def block(self, segments: tuple[Segment, ...] | list[Segment], matchers: dict[str, Any],
              ordered: bool, site: BlockResult | None = None,
              has_braces: bool = True) -> tuple[Route, ...]:
        visible = dict(matchers)
        defined_here: set[str] = set()
        for segment in segments:
            if segment[0].text.startswith("@") and not segment[0].quoted:
                # Checked now (errors at load); kept as its tokens, which
                # keeps the Config plain data, and compiled by each worker.
                name, _ = parse_named_matcher(segment, self.base_dir)
                if name in defined_here:
                    _fail(segment[0], f"matcher is defined more than once: {name}")
                defined_here.add(name)
                visible[name] = segment
        routes: list[Route] = []
        for segment in segments:
            head = segment[0]
            if head.text.startswith("@") and not head.quoted:
                continue
            if head.text == "log":
                if site is None:
                    _fail(head, "log is a site-level directive; it cannot be inside a block")
                spec = parse_log_directive(segment, self.base_dir, self.log_count)
                if spec.auto_named:
                    self.log_count += 1  # Caddy numbers only the logs it names itself
                site.access_logs.append(spec)
                continue
            if head.text == "bind":
                if site is None:
                    _fail(head, "bind is a site-level directive; it cannot be inside a block")
                site.bind = parse_bind(segment, self.base_dir)
                continue
            if head.text == "handle_errors":
                if site is None:
                    _fail(head, "handle_errors is a site-level directive; it cannot be inside "
                                "a block")
                site.error_routes.append(self.handle_errors(segment, visible))
                continue
            if head.text == "tls":
                if site is None:
                    _fail(head, "tls is a site-level directive; it cannot be inside a block")
                if site.tls is not None:
                    _fail(head, f"tls is already set for this site at {site.tls.location}")
                site.tls = parse_tls(segment, self.base_dir)
                continue
            routes.append(self.directive(segment, visible, has_braces))
        return tuple(routes) if ordered else sort_routes(routes, self.order)

    def directive(self, segment: Segment, matchers: dict[str, Any], has_braces: bool) -> Route:
        head = segment[0]
        name = head.text
        parser = self.parsers().get(name)
        if parser is None:
            self.unsupported(head, has_braces)
        segment, paths, matcher, matcher_name = self.split_matcher(segment, matchers)
        handler = parser(segment, matchers, paths)
        group = EXCLUSIVE_GROUP if name in ("handle", "handle_path") else ""
        return Route(handler, paths, matcher, matcher_name, name, group)

    def split_matcher(self, segment: Segment, matchers: dict[str, Any]
                      ) -> tuple[Segment, tuple[str, ...], Any, str]:
        """Take the matcher token (``*``, ``/path``, ``@name``) out of the segment."""
        d = Dispenser(segment)
        d.next()
        line = d.remaining_args_as_tokens()
        if not line or not is_matcher_token(line[0].text):
            return segment, (), None, ""
        if segment[0].text in _PATH_VALUED and len(line) == 1 and not line[0].text.startswith("@"):
            return segment, (), None, ""  # ``root /srv``: the path, not a matcher
        token = line[0]
        rest = (segment[0], *segment[2:])
        if token.text.startswith("@"):
            if token.text not in matchers:
                _fail(token, f"unrecognized matcher name: {token.text}")
            return rest, (), matchers[token.text], token.text
        if token.text == "*":
            return rest, (), None, ""  # matches everything: no matcher at all
        problem = path_pattern_error(token.text)
        if problem:
            _fail(token, problem)
        return rest, (token.text,), None, ""

    def unsupported(self, head: Token, has_braces: bool) -> NoReturn:
        """A Caddy directive fastsnake lacks, or a word that is no directive."""
        hint = ""
        if not has_braces:
            hint = (" (if you meant to define a second site, put curly braces around each "
                    "site's directives)")
        if head.text in CADDY_DIRECTIVES or not has_braces:
            _fail(head, f'directive "{head.text}" is not supported by fastsnake{hint}')
        import difflib  # for this error message only: not loaded by every config

        close = difflib.get_close_matches(head.text, [*self.parsers(), "log", "tls", "bind"], 1)
        suggestion = f" (did you mean '{close[0]}'?)" if close else ""
        _fail(head, f"unrecognized directive: {head.text}{suggestion}")

    # -- per-directive parsers: (segment without matcher, matchers, paths) -> handler

    def parsers(self) -> dict[str, Callable[[Segment, dict[str, Any], tuple[str, ...]], Any]]:
        return {
            "python": self.python,
            "route": lambda s, m, p: Subroute(self.nested(s, m, ordered=True)),
            "handle": lambda s, m, p: Subroute(self.nested(s, m, ordered=False)),
            "handle_path": self.handle_path,
            "respond": lambda s, m, p: dv.parse_respond(s),
            "redir": lambda s, m, p: dv.parse_redir(s),
            "rewrite": lambda s, m, p: dv.parse_rewrite(s),
            "uri": lambda s, m, p: dv.parse_uri(s),
            "try_files": lambda s, m, p: dv.parse_try_files(s),
            "header": lambda s, m, p: dv.parse_header(s),
            "request_header": lambda s, m, p: dv.parse_header(s, request=True),
            "request_body": lambda s, m, p: dv.parse_request_body(s),
            "encode": lambda s, m, p: dv.parse_encode(s, self.notice),
            "abort": lambda s, m, p: dv.parse_abort(s),
            "error": lambda s, m, p: dv.parse_error(s),
            "skip_log": lambda s, m, p: dv.parse_skip_log(s),
            "log_skip": lambda s, m, p: dv.parse_skip_log(s),
            "root": self.root,
            "file_server": self.file_server,
            "basic_auth": lambda s, m, p: parse_basic_auth(s),
            "basicauth": self.basicauth,
        }

    def basicauth(self, segment: Segment, matchers: dict[str, Any],
                  paths: tuple[str, ...]) -> Any:
        self.notice(f"{segment[0].location}: basicauth is deprecated (as in Caddy); "
                    "use basic_auth")
        return parse_basic_auth(segment)

    def python(self, segment: Segment, matchers: dict[str, Any], paths: tuple[str, ...]) -> Any:
        return parse_python(segment, self.base_dir)

    def root(self, segment: Segment, matchers: dict[str, Any], paths: tuple[str, ...]) -> Any:
        return SetRoot(parse_root(segment, self.base_dir))

    def file_server(self, segment: Segment, matchers: dict[str, Any],
                    paths: tuple[str, ...]) -> Any:
        return parse_file_server(segment, self.base_dir)

    def nested(self, segment: Segment, matchers: dict[str, Any], ordered: bool
               ) -> tuple[Route, ...]:
        d = Dispenser(segment)
        d.next()
        if d.next_arg():
            d.errf("unexpected argument '%s'; %s takes a matcher and a block", d.val(),
                   segment[0].text)
        inner = block_segments(d, f"{segment[0].text} [<matcher>] {{ ... }}")
        return self.block(inner, matchers, ordered)

    def handle_errors(self, segment: Segment, matchers: dict[str, Any]) -> ErrorRoutes:
        """``handle_errors [<status_codes...>] { ... }``: codes are 3-digit
        statuses or ``4xx``/``5xx``; the block's routes sort as a site's."""
        d = Dispenser(segment)
        d.next()
        codes: list[str] = []
        for token in d.remaining_args_as_tokens():
            code = token.text
            valid = (len(code) == 3 and code.isdigit() and 100 <= int(code) <= 599) or (
                code in ("1xx", "2xx", "3xx", "4xx", "5xx"))
            if not valid:
                _fail(token, f"handle_errors: '{code}' is not a status code (a 3-digit number, "
                             "or 4xx / 5xx)")
            codes.append(code)
        inner = block_segments(d, "handle_errors [<status_codes...>] { ... }")
        return ErrorRoutes(tuple(codes), self.block(inner, matchers, ordered=False))

    def handle_path(self, segment: Segment, matchers: dict[str, Any],
                    paths: tuple[str, ...]) -> Subroute:
        if len(paths) != 1 or not paths[0].startswith("/"):
            _fail(segment[0], "handle_path needs a path matcher such as '/api/*' "
                              "(named matchers are not allowed)")
        return Subroute(self.nested(segment, matchers, ordered=False),
                        strip_prefix=paths[0].rstrip("*"))


def block_segments(d: Dispenser, form: str) -> list[Segment]:
    """The directives of the block after the current line; an error naming
    ``form`` when there is none."""
    inner: list[Segment] = []
    nesting = d.nesting
    while d.next_block(nesting):
        inner.append(tuple(d.next_segment()))
    if not inner:
        d.errf("%s needs a block: %s", form.split()[0], form)
    return inner


def parse_bind(segment: Segment, base_dir: str = "") -> str:
    """``bind <address>``: the interface the site's port listens on, a Unix
    socket (``unix//path[|mode]``) or an inherited socket (``fd/N``, systemd's
    socket activation). One address per site (a listener is one socket)."""
    d = Dispenser(segment)
    d.next()
    args = d.remaining_args()
    if len(args) != 1:
        d.err("bind takes one address here (fastsnake listens on one socket per port)")
    text = args[0]
    if text.startswith("unix/"):
        return _unix_bind(d, text, base_dir)
    if text.startswith("fd/"):
        if not text[3:].isdigit():
            d.errf("bind '%s': fd/ takes a file descriptor number, as fd/3", text)
        return text
    if text.startswith(("unixgram/", "fdgram/", "udp/", "udp4/", "udp6/")):
        d.errf("bind '%s': datagram sockets cannot carry HTTP/1.1", text)
    if "/" in text:
        d.errf("bind '%s': a network fastsnake does not know (IP addresses, unix/ and fd/)",
               text)
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if text not in ("localhost",):
        try:
            ipaddress.ip_address(text)
        except ValueError:
            d.errf("bind '%s' is not an IP address", text)
    return "127.0.0.1" if text == "localhost" else text


def _unix_bind(d: Dispenser, text: str, base_dir: str) -> str:
    """``unix//run/app.sock|0660``: an absolute path after ``unix/`` (a
    relative one is taken from the Caddyfile's folder), an octal mode."""
    path, bar, mode = text[len("unix/"):].partition("|")
    if not path:
        d.errf("bind '%s': unix/ needs a socket path, as unix//run/app.sock", text)
    if bar and not (mode and all(c in "01234567" for c in mode) and len(mode) <= 4):
        d.errf("bind '%s': the mode after '|' must be octal, as |0660", text)
    if sys.platform == "win32":
        d.errf("bind '%s': Unix sockets are not available on Windows", text)
    path = os.path.normpath(os.path.join(base_dir, path))
    if not os.path.isdir(os.path.dirname(path)):
        d.errf("bind '%s': the folder %s does not exist", text, os.path.dirname(path))
    return f"unix/{path}{bar}{mode}"


@dataclass(frozen=True)
class SetRoot:
    """``root``: the site root for file_server (placeholders allowed)."""

    path: str
