"""Caddy's request matchers: which requests a directive applies to.

A directive's matcher token is ``*``, a path (``/api/*``) or ``@name``, a
named matcher defined in the site block on one line (``@name path /a /b``) or
as a block (``@name { ... }``). A named matcher is a *set*: its types are
AND'ed, repeated lines of one type merge as Caddy merges them (noted at each
parser below), and ``not`` negates a nested set. Caddy is the spec
(https://caddyserver.com/docs/caddyfile/matchers; ``modules/caddyhttp/
matchers.go``, ``ip_matchers.go``) so that a Caddyfile means the same thing
here; where this module differs, it says so. All is compiled at load time: a
mistake is a ``file:line`` error at startup, and a matcher fastsnake cannot
honour (``expression``, ``file``, ``vars``...) is refused, not left to never match.

Path matching guards routes (``@admin path /admin/*``), so it sees what an app
will act on: the percent-*decoded*, cleaned path, case-insensitively. Those
semantics live in ``fastsnake.request.path_matcher`` (re-exported here: ``PathMatcher``,
``path_matcher``, ``path_pattern_error``, ``clean_path``).

Regexps are RE2 in a Caddyfile; here Python's ``re`` runs them on the request's
*bytes* (``\\w``, ``\\d`` ASCII, as in RE2) after translating ``(?<name>``,
``\\z``, POSIX classes and ``$`` (outside multi-line mode: the very end of the
text). Captures go to ``request.vars`` as Caddy's placeholders,
``http.regexp.<name>.<group>`` and ``http.regexp.<group>`` (``{re.name.1}``),
latin-1 text like every placeholder, for ``fastsnake.request.placeholders``.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NoReturn, Protocol
from urllib.parse import unquote_to_bytes

from fastsnake.caddyfile import Dispenser, Segment, Token
from fastsnake.errors import CaddyfileError
from fastsnake.request.path_matcher import (
    _WINDOWS,
    PathMatcher,
    _windows_path,
    clean_path,
    path_matcher,
    path_pattern_error,
)
from fastsnake.request.placeholders import RegexpCaptures, has_placeholders, host_of

if TYPE_CHECKING:  # only annotations: a supervisor checking a Caddyfile loads no protocol
    from fastsnake._exchange import HttpRequest

__all__ = [
    "PRIVATE_RANGES", "Matcher", "MatcherSet", "PathMatcher", "clean_path", "is_matcher_token",
    "parse_named_matcher", "parse_query", "path_matcher", "path_pattern_error",
]

Test = Callable[["HttpRequest"], bool]


class Matcher(Protocol):
    def matches(self, request: HttpRequest) -> bool: ...


def is_matcher_token(text: str) -> bool:
    """Whether a directive's first argument is a matcher token, as Caddy decides."""
    return text == "*" or text.startswith("/") or text.startswith("@")


class _Match:
    """One matcher type of a set: its test, and its name for debugging."""

    __slots__ = ("kind", "matches")

    def __init__(self, kind: str, test: Test) -> None:
        self.kind = kind
        self.matches = test


class MatcherSet:
    """A named matcher: all of its matchers must match (tested in written order)."""

    __slots__ = ("matchers",)

    def __init__(self, matchers: Sequence[Matcher]) -> None:
        self.matchers = tuple(matchers)

    def matches(self, request: HttpRequest) -> bool:
        return all(m.matches(request) for m in self.matchers)


# -- regular expressions ------------------------------------------------------------

_POSIX = dict(item.split("=", 1) for item in (
    r"alnum=0-9A-Za-z alpha=A-Za-z ascii=\x00-\x7f blank=\t\x20 cntrl=\x00-\x1f\x7f digit=0-9 "
    r"graph=!-~ lower=a-z print=\x20-~ punct=!-/:-@\[-`{-~ space=\t\n\v\f\r\x20 upper=A-Z "
    r"word=0-9A-Za-z_ xdigit=0-9A-Fa-f").split())
_POSIX_CLASS = re.compile(r"\[:(\^?)([a-z]+):\]")
_MULTILINE = re.compile(r"\(\?[a-zA-Z]*m[a-zA-Z-]*[:)]")


def _posix_class(found: re.Match[str]) -> str:
    if found[1] or found[2] not in _POSIX:
        raise ValueError(f"POSIX class {found[0]} is not supported")
    return _POSIX[found[2]]


def _re2_to_python(pattern: str) -> str:
    """RE2 spellings Python reads differently, translated (ValueError if impossible)."""
    multiline = _MULTILINE.search(pattern) is not None
    out: list[str] = []
    i, n, in_class = 0, len(pattern), False
    while i < n:
        c = pattern[i]
        i += 1
        if c == "\\" and i < n:
            c = "\\Z" if pattern[i] == "z" and not in_class else c + pattern[i]
            i += 1
        elif in_class and (posix := _POSIX_CLASS.match(pattern, i - 1)):
            c, i = _posix_class(posix), posix.end()  # "[[:digit:]]" -> "[0-9]"
        elif in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            if pattern.startswith("^", i):
                c, i = "[^", i + 1
            if pattern.startswith("]", i):  # "[]a]": a leading "]" is a member
                c, i = c + "\\]", i + 1
        elif c == "(" and pattern.startswith("?<", i) and pattern[i + 2:i + 3] not in "=!":
            c, i = "(?P<", i + 2
        elif c == "$" and not multiline:
            c = "\\Z"  # Python's "$" also matches before a final "\n"
        out.append(c)
    return "".join(out)


_Regexp = Callable[["HttpRequest", bytes], bool]


def _compile_regexp(token: Token, name: str) -> _Regexp:
    """A regexp test that stores its captures for Caddy's placeholders."""
    if name and not re.search(r"\w", name):
        _err(token, f"invalid regexp name (must contain only word characters): {name}")
    try:
        compiled = re.compile(_re2_to_python(token.text).encode())
    except (re.error, ValueError) as exc:
        _err(token, f"compiling matcher regexp {token.text}: {exc}")
    captures = RegexpCaptures(compiled, name)

    def match(request: HttpRequest, text: bytes) -> bool:
        found = compiled.search(text)
        if found is not None:
            captures.store(request, found)
        return found is not None

    return match


def _regexp_path(request: HttpRequest) -> bytes:
    # path_regexp sees the decoded, cleaned path, case kept. ("37 in raw": is
    # there a "%"; an int test on bytes is much faster than a bytes one.)
    raw = request.path
    text = (unquote_to_bytes(raw) if 37 in raw else raw).decode("latin-1")
    text = _windows_path(text) if _WINDOWS else text
    if text[:1] != "/" or "/." in text or "//" in text:
        text = clean_path(text)
    return text.encode("latin-1")


# -- request parts ------------------------------------------------------------------


def _header_values(request: HttpRequest, name: bytes) -> list[bytes]:
    # One value per field line (not split at commas), trimmed as Go trims them.
    return [value.strip(b" \t") for field, value in request.headers if field.lower() == name]


def _value_test(pattern: bytes) -> Callable[[bytes], bool]:
    # Caddy's header value forms: *, *substring*, *suffix, prefix*, exact.
    starts, ends = pattern[:1] == b"*", pattern[-1:] == b"*"
    if pattern == b"*":
        return lambda value: True
    if starts and ends:
        middle = pattern[1:-1]
        return lambda value: middle in value
    if starts:
        suffix = pattern[1:]
        return lambda value: value.endswith(suffix)
    if ends:
        prefix = pattern[:-1]
        return lambda value: value.startswith(prefix)
    return lambda value: value == pattern


def _query_unescape(text: bytes) -> bytes | None:
    # Go's url.QueryUnescape: "+" is a space; None for a malformed escape.
    if 37 not in text:  # no "%"
        return text.replace(b"+", b" ") if 43 in text else text
    if re.search(rb"%(?![0-9a-fA-F]{2})", text):
        return None
    return unquote_to_bytes(text.replace(b"+", b" "))


def parse_query(query: bytes) -> tuple[dict[bytes, list[bytes]], bool]:
    """Go's ``url.ParseQuery``: the values, and whether the query was well formed
    (a pair with ``;`` or a malformed escape is skipped and makes it not)."""
    values: dict[bytes, list[bytes]] = {}
    ok = True
    for pair in query.split(b"&"):
        key, _, value = pair.partition(b"=")
        k, v = _query_unescape(key), _query_unescape(value)
        if 59 in pair or k is None or v is None:  # 59: ";"
            ok = False
        elif pair:
            values.setdefault(k, []).append(v)
    return values, ok


PRIVATE_RANGES = ("192.168.0.0/16", "172.16.0.0/12", "10.0.0.0/8", "127.0.0.1/8",
                  "fd00::/8", "::1")
"""Caddy's ``private_ranges`` (``internal/ranges.go``)."""

_IPRange = tuple[int, int, int, str]  # version, network, mask, zone ("": any)
_V4_MAPPED = bytes(10) + b"\xff\xff"


def _ip_range(text: str) -> _IPRange:
    """An address or CIDR range and its IPv6 zone; ValueError with Caddy's message."""
    text, _, zone = text.partition("%")
    try:
        net = ipaddress.ip_network(text if "/" in text else ipaddress.ip_address(text),
                                   strict=False)
    except ValueError as exc:
        what = "parsing CIDR expression" if "/" in text else "invalid IP address:"
        raise ValueError(f"{what} '{text}': {exc}") from None
    return net.version, int(net.network_address), int(net.netmask), zone


def _peer_ip(request: HttpRequest, client: bool = False) -> tuple[int, int, str] | None:
    """The peer's (version, address, zone), None without one (a Unix socket);
    with ``client``, the client_ip that trusted proxies named, when one did.
    IPv4-mapped IPv6 (a dual-stack socket) is IPv4, as Go reports it."""
    named = request.vars.get("client_ip") if client and request.vars else None
    if named:
        host, _, zone = named.partition("%")
    else:
        peer = request.peer
        if not peer or not isinstance(peer, tuple):
            return None
        host, _, zone = str(peer[0]).partition("%")
    try:
        if ":" not in host:
            return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, host), "big"), zone
        packed = socket.inet_pton(socket.AF_INET6, host)
    except OSError:
        return None
    if packed[:12] == _V4_MAPPED:
        return 4, int.from_bytes(packed[12:], "big"), zone
    return 6, int.from_bytes(packed, "big"), zone


_PROTOCOLS: dict[str, Test] = {
    "http": lambda r: not getattr(r, "secure", False),  # Caddy: r.TLS == nil
    "https": lambda r: bool(getattr(r, "secure", False)),
    "grpc": lambda r: any(v.startswith(b"application/grpc")
                          for v in _header_values(r, b"content-type")[:1]),
    "http/1.0": lambda r: r.http_minor == 0, "http/1.0+": lambda r: True,
    "http/1.1": lambda r: r.http_minor == 1, "http/1.1+": lambda r: r.http_minor >= 1,
    "http/2": lambda r: False, "http/2+": lambda r: False,
    "http/3": lambda r: False, "http/3+": lambda r: False,
}


# -- the Caddyfile -------------------------------------------------------------------

_EXPRESSION = ("the expression matcher (CEL) is not supported by fastsnake; combine path, "
               "host, method, header, query, remote_ip, protocol and not matchers instead")


def _err(token: Token, message: str) -> NoReturn:
    raise CaddyfileError(message, token.file, token.line, token.imports)


def _args(d: Dispenser, kind: str, low: int = 1, high: int = 1 << 30) -> list[Token]:
    """The rest of the line (``low`` to ``high`` arguments), which opens no block."""
    args = d.remaining_args_as_tokens()
    if not low <= len(args) <= high:
        d.arg_err()
    if d.next_block(0):
        d.prev()  # point at the "{"
        d.errf("malformed %s matcher: blocks are not supported", kind)
    return args


def _literal(token: Token, kind: str) -> str:
    if has_placeholders(token.text):
        _err(token, f"placeholders in {kind} matchers are not supported by fastsnake: "
                    f"'{token.text}'")
    return token.text


def _parse_path(d: Dispenser, name: str) -> Matcher:
    patterns: list[str] = []
    while d.next():  # lines merge: any pattern (OR)
        for token in _args(d, "path"):
            problem = path_pattern_error(token.text)
            if problem:
                _err(token, problem)
            patterns.append(token.text)
    return PathMatcher(patterns, windows=_WINDOWS)  # folds as path_regexp does


def _parse_path_regexp(d: Dispenser, name: str) -> Matcher:
    regexps: list[_Regexp] = []
    while d.next():
        if regexps:
            d.err("regular expression can only be used once per named matcher")
        args = _args(d, "path_regexp", 1, 2)
        regexps.append(_compile_regexp(args[-1], args[0].text if len(args) == 2 else name))
    regexp = regexps[0]
    return _Match("path_regexp", lambda r: regexp(r, _regexp_path(r)))


def _parse_header_regexp(d: Dispenser, name: str) -> Matcher:
    fields: dict[str, tuple[bytes, _Regexp]] = {}
    while d.next():  # fields AND'ed; any line of one field may match
        args = _args(d, "header_regexp", 2, 3)
        field = args[-2].text
        if field in fields:
            _err(args[-2], "header_regexp matcher can only be used once per named matcher, "
                           f"per header field: {field}")
        regexp = _compile_regexp(args[-1], args[0].text if len(args) == 3 else name)
        fields[field] = (field.lower().encode(), regexp)
    pairs = tuple(fields.values())
    return _Match("header_regexp", lambda r: all(
        any(rx(r, v) for v in _header_values(r, f)) for f, rx in pairs))


def _parse_host(d: Dispenser, name: str) -> Matcher:
    hosts: list[str] = []
    while d.next():  # lines merge: any host (OR)
        for token in _args(d, "host"):
            host = _literal(token, "host")
            if not host.isascii():
                try:
                    host = ".".join(label if label == "*" else label.encode("idna").decode()
                                    for label in host.split("."))
                except UnicodeError as exc:
                    _err(token, f"converting hostname '{token.text}' to ASCII: {exc}")
            if host.lower() in hosts:
                _err(token, f"host at index {hosts.index(host.lower())} is repeated at index "
                            f"{len(hosts)}: {token.text}")
            hosts.append(host.lower())
    exact = frozenset(h for h in hosts if "*" not in h)
    wildcard = re.compile("|".join(  # a "*" label stands for any one label
        "\\.".join("[^.]*" if x == "*" else re.escape(x) for x in h.split("."))
        for h in hosts if "*" in h) or "(?!)")
    def test(request: HttpRequest) -> bool:
        host = host_of(request)  # lowercased, without the port (the Host is validated)
        host = host[1:-1] if host[:1] == "[" else host  # Caddy compares IPv6 unbracketed
        return host in exact or wildcard.fullmatch(host) is not None

    return _Match("host", test)


def _parse_method(d: Dispenser, name: str) -> Matcher:
    methods: set[bytes] = set()
    while d.next():  # lines merge: any method (OR); uppercased as Caddy does
        methods.update(t.text.upper().encode() for t in _args(d, "method"))
    return _Match("method", lambda r: r.method in methods)


def _parse_header(d: Dispenser, name: str) -> Matcher:
    fields: dict[bytes, list[bytes] | None] = {}
    while d.next():  # fields AND'ed; values of one field (all its lines) OR'ed
        args = _args(d, "header", 0)
        if not args:
            d.err("malformed header matcher: expected field")
        field, values = args[0].text, [_literal(t, "header").encode() for t in args[1:]]
        absent = field.startswith("!")
        if absent and len(field) == 1:
            _err(args[0], "malformed header matcher: must have field name following ! character")
        if absent and values:
            _err(args[1], "malformed header matcher: null matching headers cannot have a "
                          "field value")
        key = field.removeprefix("!").lower().encode()
        if key in fields and (fields[key] is None) != absent:
            _err(args[0], f"malformed header matcher: {field.removeprefix('!')} cannot be both "
                          "required and absent")
        if absent:
            fields[key] = None
        elif (current := fields.setdefault(key, [])) is not None:
            current.extend(values or [b"*"])  # no value: present, with any value
    wanted = tuple((k, None if vs is None else tuple(map(_value_test, vs)))
                   for k, vs in fields.items())

    def test(request: HttpRequest) -> bool:
        for key, tests in wanted:
            values = _header_values(request, key)
            if tests is None and values:
                return False
            if tests is not None and not any(t(v) for v in values for t in tests):
                return False
        return True

    return _Match("header", test)


def _parse_query(d: Dispenser, name: str) -> Matcher:
    wanted: dict[bytes, list[bytes]] = {}
    while d.next():  # keys AND'ed; values of one key OR'ed; "*": any value
        for token in _args(d, "query", 0):
            key, eq, value = _literal(token, "query").partition("=")
            if token.text and not eq:
                _err(token, f"malformed query matcher token: {token.text}; must be in "
                            "param=val format")
            if token.text:
                wanted.setdefault(key.encode(), []).append(value.encode())
    pairs = tuple(wanted.items())

    def test(request: HttpRequest) -> bool:
        values, ok = parse_query(request.query)
        if not pairs:
            return not values  # no pairs: a request without query parameters
        return ok and all(any(v == b"*" or v in values.get(k, ()) for v in accepted)
                          and k in values for k, accepted in pairs)

    return _Match("query", test)


def _parse_ip(d: Dispenser, name: str) -> Matcher:
    ranges: list[_IPRange] = []
    kind = d.tokens[0].text
    while d.next():  # lines merge: any range (OR)
        for token in _args(d, kind):
            if token.text == "forwarded" and kind == "remote_ip":
                _err(token, "the 'forwarded' option is no longer supported; use the "
                            "'client_ip' matcher instead")
            texts = PRIVATE_RANGES if token.text == "private_ranges" else (token.text,)
            try:
                ranges.extend(_ip_range(text) for text in texts)
            except ValueError as exc:
                _err(token, str(exc))

    client = kind == "client_ip"

    def test(request: HttpRequest) -> bool:
        peer = _peer_ip(request, client)
        if peer is None:
            return False
        version, ip, zone = peer
        return any(v == version and ip & mask == net and want in ("", zone)
                   for v, net, mask, want in ranges)

    # client_ip is remote_ip unless trusted proxies named another (request.client_ip)
    return _Match(kind, test)


def _parse_protocol(d: Dispenser, name: str) -> Matcher:
    protocol = ""
    while d.next():  # the last line wins, as in Caddy
        args = _args(d, "protocol", 0)
        if len(args) != 1:
            d.err("expected exactly one protocol")
        protocol = args[0].text
        if protocol not in _PROTOCOLS:
            _err(args[0], f"unknown protocol '{protocol}'; expected one of "
                          f"{', '.join(_PROTOCOLS)}")
    return _Match("protocol", _PROTOCOLS[protocol])


def _parse_not(d: Dispenser, name: str) -> Matcher:
    sets: list[MatcherSet] = []
    while d.next():  # each line negates one set; lines AND'ed (none may match)
        # Caddy gives the matchers nested in "not" no name: their regexps are unnamed.
        sets.append(_parse_set(d, "", d.token(), "malformed not matcher: expected a "
                                                 "matcher or a block of matchers to negate"))
    return _Match("not", lambda r: not any(s.matches(r) for s in sets))


_PARSERS: dict[str, Callable[[Dispenser, str], Matcher]] = {
    "path": _parse_path, "path_regexp": _parse_path_regexp, "host": _parse_host,
    "method": _parse_method, "header": _parse_header, "header_regexp": _parse_header_regexp,
    "query": _parse_query, "remote_ip": _parse_ip, "client_ip": _parse_ip,
    "protocol": _parse_protocol, "not": _parse_not,
}


def _parse_set(d: Dispenser, regexp_name: str, owner: Token, empty: str) -> MatcherSet:
    """The matchers on the rest of the line, or in the block it opens (Caddy's
    ParseCaddyfileNestedMatcherSet); all lines of one type are parsed together."""
    by_type: dict[str, list[Token]] = {}
    nesting = d.nesting
    while d.next_arg() or d.next_block(nesting):
        token = d.token()
        if token.quoted or token.text == "expression":
            d.err(_EXPRESSION)
        if token.text not in _PARSERS:
            d.errf('matcher "%s" is not supported by fastsnake', token.text)
        by_type.setdefault(token.text, []).extend(d.next_segment())
    if not by_type:
        _err(owner, empty)
    return MatcherSet([_PARSERS[kind](Dispenser(tokens), regexp_name)
                       for kind, tokens in by_type.items()])


def parse_named_matcher(segment: Segment, base_dir: str) -> tuple[str, Matcher]:
    """``@name <matcher> ...`` or ``@name { ... }`` -> ("@name", its matcher set).

    Regexps without a name take the matcher's, without the ``@`` (Caddy 2.8+):
    ``@user path_regexp ^/u/(\\w+)`` fills ``{re.user.1}``. ``base_dir`` is for
    matchers that read files (none yet).
    """
    d = Dispenser(segment)
    d.next()
    owner = d.token()
    name = owner.text
    if not name.startswith("@") or len(name) < 2:
        d.errf("expected a matcher name such as '@api', got '%s'", name)
    empty = f"matcher {name} is empty: expected a matcher such as 'path /api/*'"
    return name, _parse_set(d, name[1:], owner, empty)
