"""Request matchers: Caddyfile text and a real parsed request in, a bool out;
bad Caddyfile text in, one exact ``file:line: message`` out.

Requests come from the real protocol (llhttp via HttpProtocol) over the same
socket-pair stand-in tests/protocol_harness.py uses; a small shim only lets a
test choose the peer address the transport reports, for remote_ip.
"""

from __future__ import annotations

from typing import Any

import pytest

from fastsnake._exchange import HttpRequest
from fastsnake.caddyfile import parse
from fastsnake.errors import CaddyfileError
from fastsnake.request import matchers
from fastsnake.request.matchers import (
    Matcher,
    _re2_to_python,
    clean_path,
    is_matcher_token,
    parse_named_matcher,
    parse_query,
    path_matcher,
    path_pattern_error,
)
from fastsnake.request.placeholders import Template
from tests.protocol_harness import capture_requests

PEER = ("203.0.113.7", 40000)


def capture(raw: bytes, peer: object = PEER) -> HttpRequest:
    """The HttpRequest the real parser makes of ``raw``."""
    requests = capture_requests(raw, tcp=False, peer=peer)
    assert len(requests) == 1, raw
    return requests[0]


def request(target: str = "/", method: str = "GET", host: str | None = "example.com",
            headers: tuple[str, ...] = (), peer: object = PEER,
            version: str = "1.1") -> HttpRequest:
    lines = [f"{method} {target} HTTP/{version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    lines += headers  # raw field lines
    return capture(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"), peer)


def named(text: str) -> Matcher:
    """The matcher defined by ``text``, written inside a site block."""
    block = parse(f":8080 {{\n{text}\n}}\n", "Caddyfile").server_blocks[0]
    name, matcher = parse_named_matcher(block.segments[0], "/srv")
    assert name == text.split()[0]
    return matcher


def R(target: str = "/", **kw: Any) -> dict[str, Any]:
    return dict(target=target, **kw)


def H(*pairs: str) -> dict[str, Any]:
    return dict(headers=pairs)


MATCHES = [
    # path: exact, prefix, suffix, substring, glob; case-insensitive; OR
    ("@m path /a", R("/a"), True),
    ("@m path /a", R("/A"), True),
    ("@m path /a", R("/a?x=1"), True),
    ("@m path /a", R("/a/"), False),
    ("@m path /a", R("/ab"), False),
    ("@m path /api/*", R("/api/x/y"), True),
    ("@m path /api/*", R("/API/X"), True),
    ("@m path /api/*", R("/api/"), True),
    ("@m path /api/*", R("/api"), False),
    ("@m path /api/*", R("/apix"), False),
    ("@m path /foo*", R("/foo"), True),
    ("@m path /foo*", R("/foobar"), True),
    ("@m path *.php", R("/x/index.PHP"), True),
    ("@m path *.php", R("/x.php/y"), False),
    ("@m path */admin/*", R("/x/admin/y"), True),
    ("@m path */admin/*", R("/x/admins/y"), False),
    ("@m path /accounts/*/info", R("/accounts/7/info"), True),
    ("@m path /accounts/*/info", R("/accounts/7/8/info"), False),
    ("@m path /a?c", R("/abc"), True),
    ("@m path /a?c", R("/a/c"), False),
    ("@m path /[a-c]x", R("/bx"), True),
    ("@m path /[a-c]x", R("/dx"), False),
    ("@m path /[^a]x", R("/bx"), True),
    ("@m path /[^a]x", R("/ax"), False),
    ("@m path /a /b", R("/b"), True),
    ("@m path /a /b", R("/c"), False),
    ("@m path *", R("/anything"), True),
    ("@m {\n path /a\n path /b\n}", R("/b"), True),
    ("@m path /caf\u00e9", R("/CAF%C3%89"), True),
    ("@m path /a", R("*", method="OPTIONS"), False),
    # path security: what is matched is what the app will see
    ("@m path /admin", R("/%61dmin"), True),
    ("@m path /admin", R("/%41DMIN"), True),
    ("@m path /admin", R("/static/../admin"), True),
    ("@m path /admin", R("/%2e%2e/admin"), True),
    ("@m path /admin", R("/x/%2E%2E/admin"), True),
    ("@m path /admin", R("/../../admin"), True),
    ("@m path /admin", R("/./admin/."), True),
    ("@m path /admin", R("//admin"), True),
    ("@m path /admin", R("/admin%2F"), False),  # a trailing slash is kept
    ("@m path /admin/*", R("/public/..%2Fadmin/secret"), True),
    ("@m path /admin/*", R("/admin%2Fsecret"), True),
    ("@m path /admin/*", R("//admin///secret"), True),
    ("@m path /admin/*", R("/ADMIN/x"), True),
    ("@m path /admin/*", R("/admin%zz/x"), False),  # a malformed escape stays as written
    ("@m path /a/b", R("/a%2Fb"), True),
    ("@m path /a\\*b", R("/a*b"), True),  # a glob: "\\" escapes
    ("@m path /a\\*b", R("/axb"), False),
    ("@m path /\\*", R("/\\x"), True),  # a trailing "*" is a prefix match first, as in Caddy
    ("@m path /a]", R("/a]"), True),
    ("@m path /[z-a]", R("/z"), False),  # an empty range never matches
    ("@m path /[^/]x", R("//x"), False),
    ("@m path //admin", R("//admin"), True),  # "//" in the pattern: slashes not merged
    ("@m path //admin", R("/admin"), False),
    ("@m not path /admin/*", R("/static/%2e%2e/admin/x"), False),
    # path_regexp: decoded and cleaned, case-sensitive
    ("@m path_regexp ^/u/(\\d+)$", R("/u/42"), True),
    ("@m path_regexp ^/u/(\\d+)$", R("/u/x"), False),
    ("@m path_regexp ^/admin$", R("/x/../admin"), True),
    ("@m path_regexp ^/admin$", R("/admin%0A"), False),  # RE2 "$" is the very end
    ("@m path_regexp ^/Admin", R("/admin"), False),
    ("@m path_regexp ^/\\w+$", R("/caf%C3%A9"), False),  # \\w is ASCII, as in RE2
    ("@m path_regexp ^/[[:digit:]]+$", R("/123"), True),
    ("@m path_regexp ^/[[:digit:]]+$", R("/12a"), False),
    ("@m path_regexp ^/a\\z", R("/a"), True),
    # host: without port, case-insensitive, "*" is one label; OR
    ("@m host example.com", R(host="EXAMPLE.com:8080"), True),
    ("@m host example.com", R(host="www.example.com"), False),
    ("@m host *.example.com", R(host="a.example.com"), True),
    ("@m host *.example.com", R(host="a.b.example.com"), False),
    ("@m host *.example.com", R(host="example.com"), False),
    ("@m host a.com b.com", R(host="b.com"), True),
    ("@m host ::1", R(host="[::1]:8080"), True),
    ("@m host ::1", R(host="[::1]"), True),
    ("@m host a.com", R("http://a.com/x", host="b.com"), True),  # absolute-form wins
    ("@m host a.com", R(host=None, version="1.0"), False),
    # method: OR, configured case folded to upper
    ("@m method GET POST", R(method="POST"), True),
    ("@m method GET POST", R(method="PUT"), False),
    ("@m method get", R(method="GET"), True),
    ("@m {\n method GET\n method PUT\n}", R(method="PUT"), True),
    # header: fields AND'ed, values OR'ed; * forms; present / absent
    ("@m header X-A v1", R(**H("x-a: v1")), True),
    ("@m header X-A v1", R(**H("X-A: v1  ")), True),
    ("@m header X-A v1", R(**H("X-A: V1")), False),
    ("@m header X-A v1", R(), False),
    ("@m header X-A v1 v2", R(**H("X-A: v2")), True),
    ("@m {\n header X-A v1\n header X-A v2\n}", R(**H("X-A: v2")), True),
    ("@m {\n header X-A v1\n header X-B v2\n}", R(**H("X-A: v1")), False),
    ("@m {\n header X-A v1\n header X-B v2\n}", R(**H("X-A: v1", "X-B: v2")), True),
    ("@m header X-A b", R(**H("X-A: a", "X-A: b")), True),
    ("@m header X-A a,b", R(**H("X-A: a", "X-A: b")), False),
    ("@m header Connection *Upgrade*", R(**H("Connection: keep-alive, Upgrade")), True),
    ("@m header Accept *json", R(**H("Accept: application/json")), True),
    ("@m header Accept text/*", R(**H("Accept: application/json")), False),
    ("@m header X-A", R(**H("X-A:")), True),
    ("@m header X-A", R(), False),
    ("@m header !X-A", R(), True),
    ("@m header !X-A", R(**H("x-a: 1")), False),
    ("@m header Host example.com:8080", R(host="example.com:8080"), True),
    ("@m header_regexp X-Tok ^Bearer\\s+(\\w+)$", R(**H("X-Tok: Bearer abc")), True),
    ("@m header_regexp X-Tok ^Bearer\\s+(\\w+)$", R(**H("X-Tok: Basic abc")), False),
    ("@m header_regexp X-Tok ^Bearer", R(), False),
    ("@m {\n header_regexp X-A ^a\n header_regexp X-B ^b\n}", R(**H("X-A: a", "X-B: c")),
     False),
    # query: keys AND'ed, values OR'ed; "*" any value; none: no parameters
    ("@m query a=1", R("/?a=1"), True),
    ("@m query a=1", R("/?a=2"), False),
    ("@m query a=1", R("/?a=2&a=1"), True),
    ("@m query a=1", R("/"), False),
    ("@m query a=1", R("/?%61=1"), True),
    ("@m query a=1", R("/?a=1;b=2"), False),  # Go refuses ";" as a separator
    ("@m query a=1", R("/?a=1&b=%zz"), False),
    ("@m query a=1 b=2", R("/?a=1"), False),
    ("@m query a=1 b=2", R("/?b=2&a=1"), True),
    ("@m query a=1 a=2", R("/?a=2"), True),
    ("@m {\n query a=1\n query a=2\n}", R("/?a=2"), True),
    ("@m query a=*", R("/?a="), True),
    ("@m query a=*", R("/?b=1"), False),
    ('@m query "a=x y"', R("/?a=x+y"), True),
    ("@m query", R("/"), True),
    ("@m query", R("/?"), True),
    ("@m query", R("/?a=1"), False),
    # remote_ip / client_ip
    ("@m remote_ip 203.0.113.0/24", R(), True),
    ("@m remote_ip 203.0.113.7", R(), True),
    ("@m remote_ip 203.0.113.8", R(), False),
    ("@m remote_ip 10.9.9.9/8", R(peer=("10.1.2.3", 1)), True),
    ("@m remote_ip 10.0.0.0/8", R(peer=("::ffff:10.1.2.3", 1, 0, 0)), True),
    ("@m remote_ip ::/0", R(), False),
    ("@m remote_ip private_ranges", R(peer=("10.1.2.3", 1)), True),
    ("@m remote_ip private_ranges", R(peer=("127.0.0.5", 1)), True),
    ("@m remote_ip private_ranges", R(peer=("172.31.0.1", 1)), True),
    ("@m remote_ip private_ranges", R(peer=("::1", 1, 0, 0)), True),
    ("@m remote_ip private_ranges", R(peer=("fd12::1", 1, 0, 0)), True),
    ("@m remote_ip private_ranges", R(peer=("8.8.8.8", 1)), False),
    ("@m remote_ip 10.0.0.0/8", R(peer=""), False),  # a Unix socket
    ("@m remote_ip fe80::/10%eth0", R(peer=("fe80::1%eth0", 1, 0, 2)), True),
    ("@m remote_ip fe80::/10%eth0", R(peer=("fe80::1%eth1", 1, 0, 3)), False),
    ("@m {\n remote_ip 10.0.0.0/8\n remote_ip 203.0.113.0/24\n}", R(), True),
    ("@m client_ip 203.0.113.0/24", R(), True),
    ("@m client_ip private_ranges", R(), False),
    ("@m not client_ip private_ranges", R(), True),
    # protocol
    ("@m protocol http", R(), True),
    ("@m protocol https", R(), False),
    ("@m protocol http/1.1", R(), True),
    ("@m protocol http/1.1", R(host=None, version="1.0"), False),
    ("@m protocol http/1.0", R(host=None, version="1.0"), True),
    ("@m protocol http/1.1+", R(), True),
    ("@m protocol http/2+", R(), False),
    ("@m protocol grpc", R(**H("Content-Type: application/grpc+proto")), True),
    ("@m protocol grpc", R(**H("Content-Type: text/plain")), False),
    ("@m {\n protocol https\n protocol http\n}", R(), True),  # the last line wins
    # not, and sets
    ("@m not path /x", R("/x"), False),
    ("@m not path /x", R("/y"), True),
    ("@m not not path /x", R("/x"), True),
    ("@m {\n not {\n  path /api/*\n  method POST\n }\n}", R("/api/x", method="POST"), False),
    ("@m {\n not {\n  path /api/*\n  method POST\n }\n}", R("/api/x"), True),
    ("@m {\n not {\n  path /api/*\n  method POST\n }\n}", R("/y", method="POST"), True),
    ("@m {\n not path /api/*\n not method POST\n}", R("/y"), True),
    ("@m {\n not path /api/*\n not method POST\n}", R("/y", method="POST"), False),
    ("@m {\n not path /api/*\n not method POST\n}", R("/api/x"), False),
    ("@m {\n path /api/*\n not path /api/public/*\n}", R("/api/x"), True),
    ("@m {\n path /api/*\n not path /api/public/*\n}", R("/api/public/x"), False),
    ("@m {\n path /a\n method POST\n}", R("/a"), False),
    ("@m {\n path /a\n method POST\n host example.com\n}", R("/a", method="POST"), True),
]


@pytest.mark.parametrize("text, req, expected", MATCHES,
                         ids=[f"{t!r}-{r}" for t, r, _ in MATCHES])
def test_matches(text: str, req: dict[str, Any], expected: bool) -> None:
    assert named(text).matches(request(**req)) is expected


@pytest.mark.parametrize("text, req, template, expected", [
    ("@m path_regexp ^/u/(\\d+)/(?P<tab>\\w+)$", R("/u/42/posts"),
     "{re.m.0}|{re.m.1}|{re.m.tab}|{re.2}|{http.regexp.m.2}", "/u/42/posts|42|posts|posts|posts"),
    ("@m path_regexp ^/u/(?<id>\\d+)", R("/u/7"), "{re.m.id}", "7"),
    ("@m path_regexp uid ^/u/(\\d+)", R("/u/7"), "{re.uid.1}|{re.m.1}", "7|"),
    ("@m path_regexp ^/(a)?(b)", R("/b"), "[{re.m.1}]", "[]"),
    ("@user-posts path_regexp ^/u/(\\d+)", R("/u/9"), "{re.user-posts.1}", "9"),
    ("@m path_regexp ^/(.+)$", R("/a/%2e%2e/B%20c"), "{re.m.1}", "B c"),
    ("@m header_regexp Cookie login_([a-f0-9]+)", R(**H("Cookie: x=1; login_beef")),
     "{re.m.1}", "beef"),
    ('@m header_regexp tok X-Tok "^Bearer (.*)$"', R(**H("X-Tok: Bearer a b")), "{re.tok.1}",
     "a b"),
    ("@m {\n path_regexp p ^/(\\w+)\n header_regexp h X-A (\\d+)\n}",
     R("/abc", **H("X-A: n=5")), "{re.p.1}-{re.h.1}", "abc-5"),
    ("@m not path_regexp ^/(x)", R("/x"), "{re.1}|{re.m.1}", "x|"),  # nested: unnamed
])
def test_regexp_captures_render_as_placeholders(text: str, req: dict[str, Any],
                                                template: str, expected: str) -> None:
    r = request(**req)
    named(text).matches(r)
    assert Template(template).render(r) == expected


def test_captures_keep_existing_vars() -> None:
    r = request("/u/1")
    r.vars = {"root": "/srv"}
    assert named("@m path_regexp ^/u/(\\d)").matches(r)
    assert r.vars["root"] == "/srv" and r.vars["http.regexp.m.1"] == "1"


ERRORS = [
    ("@m", "Caddyfile:2: matcher @m is empty: expected a matcher such as 'path /api/*'"),
    ("@m {\n}", "Caddyfile:2: matcher @m is empty: expected a matcher such as 'path /api/*'"),
    ("m path /a", "Caddyfile:2: expected a matcher name such as '@api', got 'm'"),
    ('@m expression {method} == "GET"', "Caddyfile:2: the expression matcher (CEL) is not "
     "supported by fastsnake; combine path, host, method, header, query, remote_ip, protocol "
     "and not matchers instead"),
    ('@m `{method} == "GET"`', "Caddyfile:2: the expression matcher (CEL) is not supported by "
     "fastsnake; combine path, host, method, header, query, remote_ip, protocol and not "
     "matchers instead"),
    ("@m file", 'Caddyfile:2: matcher "file" is not supported by fastsnake'),
    ("@m {\n path /a\n vars foo bar\n}", 'Caddyfile:4: matcher "vars" is not supported by '
     "fastsnake"),
    ("@m not {\n vars_regexp a b\n}", 'Caddyfile:3: matcher "vars_regexp" is not supported by '
     "fastsnake"),
    ("@m paht /a", 'Caddyfile:2: matcher "paht" is not supported by fastsnake'),
    ("@m path", "Caddyfile:2: wrong argument count or unexpected line ending after 'path'"),
    ("@m {\n path /a\n path\n}",
     "Caddyfile:4: wrong argument count or unexpected line ending after 'path'"),
    ("@m path /a[", "Caddyfile:2: malformed path pattern '/a[' (Go path.Match syntax)"),
    ("@m path /a `/b\\`", "Caddyfile:2: malformed path pattern '/b\\' (Go path.Match syntax)"),
    ("@m path /a%2Fb", "Caddyfile:2: path patterns with '%' (matching in escaped space) are not "
     "supported by fastsnake: '/a%2Fb'; write the decoded path, or use path_regexp"),
    ("@m path /{labels.0}/*", "Caddyfile:2: placeholders in path patterns are not supported "
     "by fastsnake: '/{labels.0}/*'"),
    ("@m path /a {\n x\n}", "Caddyfile:2: malformed path matcher: blocks are not supported"),
    ("@m path_regexp ^/(", "Caddyfile:2: compiling matcher regexp ^/(: missing ), "
     "unterminated subpattern at position 2"),
    ("@m path_regexp [[:^alpha:]]", "Caddyfile:2: compiling matcher regexp [[:^alpha:]]: "
     "POSIX class [:^alpha:] is not supported"),
    ("@m path_regexp a b c",
     "Caddyfile:2: wrong argument count or unexpected line ending after 'c'"),
    ("@m {\n path_regexp ^/a\n path_regexp ^/b\n}",
     "Caddyfile:4: regular expression can only be used once per named matcher"),
    ("@m path_regexp - ^/a",
     "Caddyfile:2: invalid regexp name (must contain only word characters): -"),
    ("@- path_regexp ^/a",
     "Caddyfile:2: invalid regexp name (must contain only word characters): -"),
    ("@m header", "Caddyfile:2: malformed header matcher: expected field"),
    ("@m header !", "Caddyfile:2: malformed header matcher: must have field name following ! "
     "character"),
    ("@m header !X a", "Caddyfile:2: malformed header matcher: null matching headers cannot "
     "have a field value"),
    ("@m {\n header X a\n header !x\n}",
     "Caddyfile:4: malformed header matcher: x cannot be both required and absent"),
    ("@m header X {host}", "Caddyfile:2: placeholders in header matchers are not supported by "
     "fastsnake: '{host}'"),
    ("@m header_regexp X",
     "Caddyfile:2: wrong argument count or unexpected line ending after 'X'"),
    ("@m {\n header_regexp X ^a\n header_regexp X ^b\n}", "Caddyfile:4: header_regexp matcher "
     "can only be used once per named matcher, per header field: X"),
    ("@m host", "Caddyfile:2: wrong argument count or unexpected line ending after 'host'"),
    ("@m {\n host a.com\n host A.com\n}",
     "Caddyfile:4: host at index 0 is repeated at index 1: A.com"),
    ("@m method", "Caddyfile:2: wrong argument count or unexpected line ending after 'method'"),
    ("@m query a=1 b", "Caddyfile:2: malformed query matcher token: b; must be in param=val "
     "format"),
    ("@m remote_ip", "Caddyfile:2: wrong argument count or unexpected line ending after "
     "'remote_ip'"),
    ("@m remote_ip 10.0.0.0/33", "Caddyfile:2: parsing CIDR expression '10.0.0.0/33': "
     "'10.0.0.0/33' does not appear to be an IPv4 or IPv6 network"),
    ("@m client_ip 10.0.0.0/8 nope", "Caddyfile:2: invalid IP address: 'nope': 'nope' does not "
     "appear to be an IPv4 or IPv6 address"),
    ("@m remote_ip forwarded", "Caddyfile:2: the 'forwarded' option is no longer supported; "
     "use the 'client_ip' matcher instead"),
    ("@m protocol", "Caddyfile:2: expected exactly one protocol"),
    ("@m protocol http https", "Caddyfile:2: expected exactly one protocol"),
    ("@m protocol spdy", "Caddyfile:2: unknown protocol 'spdy'; expected one of http, https, "
     "grpc, http/1.0, http/1.0+, http/1.1, http/1.1+, http/2, http/2+, http/3, http/3+"),
    ("@m not", "Caddyfile:2: malformed not matcher: expected a matcher or a block of matchers "
     "to negate"),
    ("@m {\n path /a\n not {\n }\n}", "Caddyfile:4: malformed not matcher: expected a matcher "
     "or a block of matchers to negate"),
    ("@m not {\n path /a\n method\n}",
     "Caddyfile:4: wrong argument count or unexpected line ending after 'method'"),
]


@pytest.mark.parametrize("text, message", ERRORS, ids=[t for t, _ in ERRORS])
def test_errors(text: str, message: str) -> None:
    with pytest.raises(CaddyfileError) as info:
        named(text)
    assert str(info.value) == message


def test_errors_inside_a_snippet_name_the_import() -> None:
    text = "(m) {\n\t@m path /a[\n}\n:8080 {\n\timport m\n}\n"
    block = parse(text, "Caddyfile").server_blocks[0]
    with pytest.raises(CaddyfileError) as info:
        parse_named_matcher(block.segments[0], "/srv")
    assert str(info.value) == ("Caddyfile:2: malformed path pattern '/a[' (Go path.Match "
                               "syntax) (imported from Caddyfile:5)")


@pytest.mark.parametrize("patterns, target, expected", [
    (["/api/*"], "/api/x", True),
    (["/api/*"], "/%61pi/x", True),
    (["/api/*"], "/x/../API/y", True),
    (["/api/*"], "/apix", False),
    (["*"], "/x", True),
    (["/a", "/b/*"], "/b/c", True),
    (["/a["], "/a[", False),  # malformed: never matches (path_pattern_error reports it)
])
def test_inline_path_matcher(patterns: list[str], target: str, expected: bool) -> None:
    assert path_matcher(patterns).matches(request(target)) is expected


def test_path_pattern_error() -> None:
    assert path_pattern_error("/api/*") is None
    assert path_pattern_error("/a[") == "malformed path pattern '/a[' (Go path.Match syntax)"


@pytest.mark.parametrize("text, expected", [
    ("*", True), ("/", True), ("/api/*", True), ("@name", True),
    ("main:app", False), ("", False), ("api/*", False),
])
def test_is_matcher_token(text: str, expected: bool) -> None:
    assert is_matcher_token(text) is expected


@pytest.mark.parametrize("path, merged, unmerged", [
    # Go's path.Clean, keeping a trailing slash as Caddy's CleanPath does
    ("/", "/", "/"),
    ("/abc", "/abc", "/abc"),
    ("/abc/", "/abc/", "/abc/"),
    ("/a/./b", "/a/b", "/a/b"),
    ("/a/../b", "/b", "/b"),
    ("/../../b", "/b", "/b"),
    ("/a/b/..", "/a", "/a"),
    ("/a/b/../", "/a/", "/a/"),
    ("/a/.", "/a", "/a"),
    ("//abc", "/abc", "//abc"),
    ("/a//b//", "/a/b/", "/a//b//"),
    ("//", "/", "//"),
    ("/a//../b", "/b", "/a/b"),
    ("abc/../../x", "../x", "../x"),
    ("", ".", "."),
    ("*", "*", "*"),
])
def test_clean_path(path: str, merged: str, unmerged: str) -> None:
    assert clean_path(path) == merged
    assert clean_path(path, merge_slashes=False) == unmerged


@pytest.mark.parametrize("query, values, ok", [
    (b"", {}, True),
    (b"a=1&a=2&b", {b"a": [b"1", b"2"], b"b": [b""]}, True),
    (b"a=x+y&c=%41%2b", {b"a": [b"x y"], b"c": [b"A+"]}, True),
    (b"a=1;b=2&c=3", {b"c": [b"3"]}, False),
    (b"a=%zz&b=%4", {}, False),
    (b"&&a=1&", {b"a": [b"1"]}, True),
])
def test_parse_query(query: bytes, values: dict[bytes, list[bytes]], ok: bool) -> None:
    assert parse_query(query) == (values, ok)


@pytest.mark.parametrize("text, target, expected", [
    ("@m path /admin/*", "/admin.%5Csecret", True),
    ("@m path /admin/*", "/ADMIN%20./x", True),
    ("@m path /admin/*", "/admin\\x", True),
    ("@m path_regexp ^/admin/", "/admin. /x", True),
    ("@m path /admin/*", "/admins/x", False),
])
def test_windows_folds_backslashes_and_trailing_dots(monkeypatch: pytest.MonkeyPatch,
                                                     text: str, target: str,
                                                     expected: bool) -> None:
    monkeypatch.setattr(matchers, "_WINDOWS", True)
    assert named(text).matches(request(target.replace(" ", "%20"))) is expected


@pytest.mark.parametrize("re2, python", [
    ("^/u/(?<id>\\d+)$", "^/u/(?P<id>\\d+)\\Z"),
    ("(?<=a)(?<!b)x", "(?<=a)(?<!b)x"),
    ("^a\\z", "^a\\Z"),
    ("(?m)^a$", "(?m)^a$"),
    ("a\\$[$]", "a\\$[$]"),
    ("[[:alpha:][:digit:]_]", "[A-Za-z0-9_]"),
    ("[]a]$", "[\\]a]\\Z"),
    ("[^]a]", "[^\\]a]"),
])
def test_re2_translation(re2: str, python: str) -> None:
    assert _re2_to_python(re2) == python
