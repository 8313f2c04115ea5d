"""The site directives besides ``python``: what each means, parsed from its
Caddyfile segment into frozen data.

Every parser here takes the directive's segment with its matcher token
already removed (``config.routes`` owns matchers), checks everything that can
be checked at load -- argument counts, status codes, sizes, placeholders,
regular expressions -- and raises ``file:line`` errors. What the directives
*do* per request lives in ``routing``.

Semantics follow Caddy's documentation for each directive; where fastsnake
departs, the docstring says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from fastsnake.caddyfile import Dispenser, Segment
from fastsnake.config.args import check_placeholders, parse_size
from fastsnake.config.https import TlsAuto, parse_tls_auto, parse_tls_block_option

# -- the data -----------------------------------------------------------------


@dataclass(frozen=True)
class Respond:
    """``respond``: a fixed status and body (placeholders allowed in the body)."""

    status: int = 200
    body: str = ""
    close: bool = False
    explicit_status: bool = True   # False: in handle_errors, the error's status instead


@dataclass(frozen=True)
class Redirect:
    """``redir``: ``to`` may hold placeholders; ``html`` answers 200 with a page
    that redirects (for clients that drop headers)."""

    to: str
    status: int = 302
    html: bool = False


@dataclass(frozen=True)
class Rewrite:
    """``rewrite``: the new URI (path, ``?query`` or both), placeholders allowed."""

    to: str


@dataclass(frozen=True)
class UriOp:
    """``uri strip_prefix | strip_suffix | replace | path_regexp``."""

    op: str
    find: str
    replace: str = ""
    limit: int = 0


@dataclass(frozen=True)
class HeaderOp:
    """One ``header`` field operation: set, add, delete, default or replace."""

    op: str
    name: str
    value: str = ""
    find: str = ""          # replace: a regular expression


@dataclass(frozen=True)
class Headers:
    """``header`` (response) or ``request_header`` (request) operations."""

    ops: tuple[HeaderOp, ...]
    request: bool = False


@dataclass(frozen=True)
class RequestBody:
    """``request_body { max_size }``: larger bodies are refused with 413."""

    max_size: int


@dataclass(frozen=True)
class Encode:
    """``encode``: formats in the order of preference, and when to compress."""

    formats: tuple[str, ...]
    minimum_length: int = 512
    content_types: tuple[str, ...] | None = None   # None: Caddy's default list
    gzip_level: int = 0                            # 0: the default (5, as Caddy)


@dataclass(frozen=True)
class Abort:
    """``abort``: close the connection without a response."""


@dataclass(frozen=True)
class ErrorStatus:
    """``error``: answer with an error status (no handle_errors: empty body)."""

    status: int = 500
    message: str = ""


@dataclass(frozen=True)
class SkipLog:
    """``log_skip`` / ``skip_log``: no access log line for matched requests."""


# -- helpers ------------------------------------------------------------------


def parse_status(d: Dispenser, text: str, low: int = 100, high: int = 999) -> int:
    if not (text.isascii() and text.isdigit() and len(text) == 3) or not low <= int(text) <= high:
        d.errf("invalid status code '%s'", text)
    return int(text)


def looks_like_status(text: str) -> bool:
    return len(text) == 3 and text.isascii() and text.isdigit()


def no_block(d: Dispenser, name: str) -> None:
    nesting = d.nesting
    if d.next_block(nesting):
        d.errf("%s takes no block", name)


# -- parsers --------------------------------------------------------------------


def parse_respond(segment: Segment) -> Respond:
    """``respond [<status>|<body> [<status>]] { body <text>; close }``."""
    d = Dispenser(segment)
    d.next()
    args = d.remaining_args()
    status, body = 200, ""
    if len(args) == 1:
        if looks_like_status(args[0]):
            status = parse_status(d, args[0])
        else:
            body = args[0]
    elif len(args) == 2:
        body, status = args[0], parse_status(d, args[1])
    elif len(args) > 2:
        d.arg_err()
    status_given = len(args) == 2 or (len(args) == 1 and not body)
    check_placeholders(d, body)  # (now, so an error names this line)
    close = False
    nesting = d.nesting
    while d.next_block(nesting):
        sub = d.val()
        if sub == "body":
            if body:
                d.err("body already specified")
            rest = d.remaining_args()
            if len(rest) != 1:
                d.arg_err()
            body = check_placeholders(d, rest[0])
        elif sub == "close":
            if d.next_arg():
                d.arg_err()
            close = True
        else:
            d.errf("unrecognized respond subdirective '%s'", sub)
    return Respond(status, body, close, explicit_status=status_given)


REDIRECT_CODES = {"temporary": 302, "permanent": 301, "html": 200}


def parse_redir(segment: Segment) -> Redirect:
    """``redir <to> [temporary|permanent|html|3xx]``."""
    d = Dispenser(segment)
    d.next()
    args = d.remaining_args()
    if not 1 <= len(args) <= 2:
        d.arg_err()
    no_block(d, "redir")
    to = check_placeholders(d, args[0])
    code = args[1] if len(args) == 2 else "temporary"
    if code in REDIRECT_CODES:
        return Redirect(to, REDIRECT_CODES[code], code == "html")
    if code.startswith("{"):
        d.errf("redir: a placeholder status code is not supported by fastsnake: '%s'", code)
    status = parse_status(d, code)
    if not (300 <= status <= 308 or status == 401):
        d.errf("redir: status code must be 3xx (or 401), not %d", status)
    return Redirect(to, status)


def parse_rewrite(segment: Segment) -> Rewrite:
    d = Dispenser(segment)
    d.next()
    args = d.remaining_args()
    if len(args) != 1:
        d.arg_err()
    no_block(d, "rewrite")
    to = args[0]
    if not (to.startswith(("/", "?", "{"))):
        d.errf("rewrite: the new URI must start with '/' or '?' (got '%s')", to)
    return Rewrite(check_placeholders(d, to))


def parse_uri(segment: Segment) -> UriOp:
    """``uri strip_prefix|strip_suffix <x>``, ``replace <find> <repl> [limit]``,
    ``path_regexp <re> <repl>``; ``query`` operations are refused."""
    d = Dispenser(segment)
    d.next()
    args = d.remaining_args()
    no_block(d, "uri")
    if not args:
        d.arg_err()
    op, rest = args[0], args[1:]
    if op in ("strip_prefix", "strip_suffix"):
        if len(rest) != 1:
            d.arg_err()
        find = rest[0]
        if op == "strip_prefix" and not find.startswith("/"):
            find = "/" + find  # as Caddy: the prefix is a path
        return UriOp(op, find)
    if op == "replace":
        if len(rest) not in (2, 3):
            d.arg_err()
        limit = 0
        if len(rest) == 3:
            if not rest[2].lstrip("-").isdigit():
                d.errf("uri replace: limit must be an integer, not '%s'", rest[2])
            limit = max(0, int(rest[2]))
        return UriOp(op, rest[0], rest[1], limit)
    if op == "path_regexp":
        if len(rest) != 2:
            d.arg_err()
        compile_regexp(d, rest[0])
        return UriOp(op, rest[0], rest[1])
    if op == "query":
        d.err("uri query operations are not supported by fastsnake; use rewrite with "
              "a '?query' instead")
    d.errf("unrecognized uri operation '%s'", op)


def compile_regexp(d: Dispenser, pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        d.errf("invalid regular expression '%s': %s", pattern, exc)


def _header_op(d: Dispenser, args: list[str]) -> HeaderOp:
    field = args[0]
    values = args[1:]
    if len(values) > 2:
        d.arg_err()
    if field.startswith(">"):
        field = field[1:]  # deferred: fastsnake applies every op at response time
    prefix = field[:1] if field[:1] in ("+", "-", "?") else ""
    name = field[len(prefix):]
    if not name:
        d.errf("header: missing field name in '%s'", args[0])
    if prefix == "-":
        if values:
            d.errf("header: deleting '%s' takes no value", name)
        return HeaderOp("delete", name)
    if not values:
        if prefix in ("+", "?"):
            d.errf("header: '%s' needs a value", args[0])
        d.errf("header: setting '%s' needs a value (use '-%s' to delete it)", name, name)
    if len(values) == 2:
        if prefix:
            d.errf("header: replacing in '%s' cannot have a '%s' prefix", name, prefix)
        compile_regexp(d, values[0])
        return HeaderOp("replace", name, check_placeholders(d, values[1]), values[0])
    value = check_placeholders(d, values[0])
    return HeaderOp({"+": "add", "?": "default"}.get(prefix, "set"), name, value)


def parse_header(segment: Segment, request: bool = False) -> Headers:
    """``header [[+|-|?|>]<field> [<value>|<find>] [<replace>]] { ...; defer }``.

    fastsnake applies every response header operation when the head is
    written (Caddy's ``defer``), so a ``set`` replaces what the app sent.
    """
    d = Dispenser(segment)
    d.next()
    directive = d.val()
    ops: list[HeaderOp] = []
    args = d.remaining_args()
    if args:
        ops.append(_header_op(d, args))
    nesting = d.nesting
    while d.next_block(nesting):
        line = [d.val(), *d.remaining_args()]
        if line == ["defer"] and not request:
            continue
        ops.append(_header_op(d, line))
    if not ops:
        d.errf("%s needs at least one field operation", directive)
    return Headers(tuple(ops), request)


def parse_request_body(segment: Segment) -> RequestBody:
    d = Dispenser(segment)
    d.next()
    if d.next_arg():
        d.arg_err()
    max_size = None
    nesting = d.nesting
    while d.next_block(nesting):
        sub = d.val()
        if sub == "max_size":
            args = d.remaining_args()
            if len(args) != 1:
                d.arg_err()
            try:
                max_size = parse_size(args[0])
            except ValueError as exc:
                d.errf("request_body max_size: %s", exc)
        else:
            d.errf("request_body: '%s' is not supported by fastsnake (only max_size)", sub)
    if max_size is None:
        d.err("request_body needs a max_size")
    return RequestBody(max_size)


def zstd_available() -> bool:
    try:
        from compression import zstd  # noqa: F401  (Python 3.14+)
    except ImportError:
        return False
    return True


def parse_encode(segment: Segment, notice: Callable[[str], None]) -> Encode:
    """``encode [gzip|zstd ...] { gzip [level]; zstd; minimum_length N; match {...} }``.

    gzip comes from the standard library's zlib; zstd from ``compression.zstd``
    (Python 3.14+). Where zstd is missing, a list that also names gzip falls
    back to gzip with a notice; zstd alone is an error.
    """
    d = Dispenser(segment)
    d.next()
    formats: list[str] = []
    minimum_length = 512
    content_types: tuple[str, ...] | None = None
    gzip_level = 0

    def add(name: str) -> None:
        if name not in ("gzip", "zstd"):
            d.errf("encode: format '%s' is not supported by fastsnake (gzip, zstd)", name)
        if name not in formats:
            formats.append(name)

    for arg in d.remaining_args():
        add(arg)
    nesting = d.nesting
    while d.next_block(nesting):
        sub = d.val()
        if sub in ("gzip", "zstd"):
            add(sub)
            rest = d.remaining_args()
            if sub == "gzip" and rest:
                if len(rest) > 1 or not rest[0].isdigit() or not 1 <= int(rest[0]) <= 9:
                    d.errf("encode: gzip level must be 1 to 9, not '%s'", " ".join(rest))
                gzip_level = int(rest[0])
            elif rest:
                d.errf("encode: %s options are not supported by fastsnake", sub)
        elif sub == "minimum_length":
            rest = d.remaining_args()
            if len(rest) != 1 or not rest[0].isdigit():
                d.arg_err()
            minimum_length = int(rest[0])
        elif sub == "match":
            content_types = _encode_match(d)
        else:
            d.errf("encode: '%s' is not supported by fastsnake", sub)
    if not formats:
        formats = ["zstd", "gzip"]  # Caddy's default
    if "zstd" in formats and not zstd_available():
        if formats == ["zstd"]:
            d.err("encode zstd needs Python 3.14's compression.zstd; use gzip")
        notice(f"{segment[0].location}: encode: zstd needs Python 3.14+; using gzip only")
        formats.remove("zstd")
    return Encode(tuple(formats), minimum_length, content_types, gzip_level)


def _encode_match(d: Dispenser) -> tuple[str, ...]:
    types: list[str] = []
    nesting = d.nesting
    if d.next_arg():
        d.arg_err()
    while d.next_block(nesting):
        line = [d.val(), *d.remaining_args()]
        if len(line) >= 3 and line[0] == "header" and line[1].lower() == "content-type":
            types.extend(v.lower() for v in line[2:])
        else:
            d.errf("encode match: only 'header Content-Type <types...>' is supported by "
                   "fastsnake, not '%s'", " ".join(line))
    if not types:
        d.err("encode match needs at least one 'header Content-Type' line")
    return tuple(types)


def parse_abort(segment: Segment) -> Abort:
    d = Dispenser(segment)
    d.next()
    if d.next_arg():
        d.arg_err()
    no_block(d, "abort")
    return Abort()


def parse_error(segment: Segment) -> ErrorStatus:
    """``error [<message>] [<status>]`` (no handle_errors: the body is empty)."""
    d = Dispenser(segment)
    d.next()
    args = d.remaining_args()
    status, message = 500, ""
    if len(args) == 1:
        if looks_like_status(args[0]):
            status = parse_status(d, args[0], 400, 599)
        else:
            message = args[0]
    elif len(args) == 2:
        message, status = args[0], parse_status(d, args[1], 400, 599)
    elif len(args) > 2:
        d.arg_err()
    nesting = d.nesting
    while d.next_block(nesting):
        if d.val() != "message":
            d.errf("unrecognized error subdirective '%s'", d.val())
        rest = d.remaining_args()
        if len(rest) != 1:
            d.arg_err()
        message = rest[0]
    return ErrorStatus(status, message)


def parse_skip_log(segment: Segment) -> SkipLog:
    d = Dispenser(segment)
    d.next()
    if d.next_arg():
        d.arg_err()
    no_block(d, d.val())
    return SkipLog()


@dataclass(frozen=True)
class TlsFiles:
    """``tls <cert> <key>``: a site served over HTTPS with given files."""

    cert: str
    key: str
    min_version: str = ""           # "tls1.2" / "tls1.3", from ``protocols``
    location: str = ""
    max_version: str = ""


TLS_PROTOCOLS = ("tls1.2", "tls1.3")


def parse_tls(segment: Segment, base_dir: str) -> TlsFiles | TlsAuto:
    """``tls <cert_file> <key_file> [{ protocols <min> [<max>] }]``, or the
    automatic forms (``tls internal``, ``tls <email>``, ``tls { issuer ... }``;
    see config.https).

    Certificate files are loaded now, so a wrong path or a key that does not
    match is a ``file:line`` error.
    """
    import os
    import ssl

    d = Dispenser(segment)
    d.next()
    args = d.remaining_args()
    if args[:1] == ["internal"] and len(args) > 1:
        d.err("tls internal takes no other argument (its options go in a block)")
    files = len(args) == 2
    auto = None if files else parse_tls_auto(d, args, base_dir)
    min_version = max_version = ""
    nesting = d.nesting
    while d.next_block(nesting):
        sub = d.val()
        if sub == "protocols":
            rest = d.remaining_args()
            if not 1 <= len(rest) <= 2 or any(p not in TLS_PROTOCOLS for p in rest):
                d.errf("tls protocols must be among %s", ", ".join(TLS_PROTOCOLS))
            min_version = rest[0]
            max_version = rest[1] if len(rest) == 2 else ""
            if (max_version and TLS_PROTOCOLS.index(max_version)
                    < TLS_PROTOCOLS.index(min_version)):
                d.errf("tls protocols: %s is older than %s", max_version, min_version)
        elif auto is not None:
            auto = parse_tls_block_option(d, auto, base_dir)
        else:
            d.errf("tls option '%s' does not go with certificate files (only protocols)", sub)
    if auto is not None:
        return replace(auto, min_version=min_version, max_version=max_version)
    cert, key = (os.path.normpath(os.path.join(base_dir, arg)) for arg in args)
    try:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
    except FileNotFoundError as exc:
        d.errf("tls: %s: %s", exc.filename or cert, exc.strerror)
    except (OSError, ssl.SSLError) as exc:
        d.errf("tls: cannot load %s with %s: %s", cert, key, exc)
    return TlsFiles(cert, key, min_version, segment[0].location, max_version)


@dataclass(frozen=True)
class TryFiles:
    """``try_files``: rewrite to the first candidate that exists under the
    root (a trailing ``/`` asks for a directory); ``=NNN`` answers a status."""

    files: tuple[str, ...]


def parse_try_files(segment: Segment) -> TryFiles:
    d = Dispenser(segment)
    d.next()
    files = d.remaining_args()
    if not files:
        d.arg_err()
    for index, name in enumerate(files):
        if name.startswith("="):
            if index != len(files) - 1:
                d.errf("try_files: the status '%s' must be the last argument", name)
            parse_status(d, name[1:], 100, 599)
        else:
            check_placeholders(d, name)
    nesting = d.nesting
    while d.next_block(nesting):
        if d.val() != "policy":
            d.errf("try_files: '%s' is not supported by fastsnake", d.val())
        policy = d.remaining_args()
        if policy != ["first_exist"]:
            d.errf("try_files policy %s is not supported by fastsnake (only first_exist)",
                   " ".join(policy))
    return TryFiles(tuple(files))
