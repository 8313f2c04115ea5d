"""Caddy placeholders as fastsnake resolves them for dynamic apps."""

from __future__ import annotations

import re

import pytest

from fastsnake.request.placeholders import PlaceholderError, RegexpCaptures, Template, path_safe


class Request:
    def __init__(self, host=b"app1.example.com:8080", path=b"/a/b/c", query=b"x=1",
                 method=b"GET", headers=()):
        self.host = host
        self.path = path
        self.query = query
        self.target = path + (b"?" + query if query else b"")
        self.method = method
        self.headers = list(headers) or [(b"Host", host)]


@pytest.mark.parametrize("template, expected", [
    pytest.param("{http.request.host}", "app1.example.com", id="host"),
    pytest.param("{host}", "app1.example.com", id="host-short"),
    pytest.param("{hostport}", "app1.example.com:8080", id="hostport"),
    pytest.param("{http.request.host.labels.0}", "com", id="label-0-is-tld"),
    pytest.param("{labels.2}:app", "app1:app", id="label-2"),
    pytest.param("{labels.9}", "", id="label-missing"),
    pytest.param("{http.request.uri.path}", "/a/b/c", id="path"),
    pytest.param("{path.0}-{path.2}", "a-c", id="path-segments"),
    pytest.param("{query}", "x=1", id="query"),
    pytest.param("{uri}", "/a/b/c?x=1", id="uri"),
    pytest.param("{method}", "GET", id="method"),
    pytest.param("{header.x-tenant}", "t1", id="header"),
    pytest.param("{http.request.header.X-Tenant}", "t1", id="header-long"),
    pytest.param("{env.FASTSNAKE_TEST_VAR}", "from-env", id="env"),
    pytest.param("plain", "plain", id="no-placeholder"),
])
def test_render(monkeypatch, template, expected):
    monkeypatch.setenv("FASTSNAKE_TEST_VAR", "from-env")
    request = Request(headers=[(b"Host", b"app1.example.com:8080"), (b"X-Tenant", b"t1")])
    assert Template(template).render(request) == expected


@pytest.mark.parametrize("template", ["{nope}", "{labels.x}", "{http.request.bogus}"])
def test_unknown_placeholders_are_refused(template):
    with pytest.raises(PlaceholderError):
        Template(template)


@pytest.mark.parametrize("value", ["", ".", "..", "a/b", "a\\b", "a\0b", "c:d"])
def test_path_safe_refuses_escapes(value):
    with pytest.raises(PlaceholderError):
        path_safe(value)


def test_check_applies_to_each_substituted_value():
    request = Request(host=b"..evil.example.com")
    with pytest.raises(PlaceholderError):
        Template("tenants/{labels.3}/").render(request, path_safe)


class RegexpRequest(Request):
    def __init__(self, vars=None, **kw):
        super().__init__(**kw)
        self.vars = vars


@pytest.mark.parametrize("template, vars, expected", [
    pytest.param("{re.m.1}", {"http.regexp.m.1": "42"}, "42", id="re-shorthand"),
    pytest.param("{http.regexp.m.id}", {"http.regexp.m.id": "7"}, "7", id="long-name"),
    pytest.param("{re.1}-{re.m.0}", {"http.regexp.1": "a", "http.regexp.m.0": "/a"}, "a-/a",
                 id="unnamed-and-named"),
    pytest.param("[{re.m.9}]", {"http.regexp.m.1": "x"}, "[]", id="not-captured"),
    pytest.param("[{re.m.1}]", None, "[]", id="no-vars"),
    pytest.param("{re.user-posts.1}", {"http.regexp.user-posts.1": "9"}, "9", id="hyphen"),
])
def test_regexp_captures(template, vars, expected):
    assert Template(template).render(RegexpRequest(vars=vars)) == expected


def test_regexp_prefix_alone_is_unknown():
    with pytest.raises(PlaceholderError):
        Template("{http.regexp.}")


def test_regexp_captures_store_by_number_and_name():
    request = RegexpRequest(vars={"root": "/srv"})
    pattern = re.compile(rb"^/u/(\d+)(?:/(?P<tab>\w+))?(x)?")
    RegexpCaptures(pattern, "m").store(request, pattern.search(b"/u/42/posts"))
    assert request.vars == {
        "root": "/srv",
        "http.regexp.m.0": "/u/42/posts", "http.regexp.0": "/u/42/posts",
        "http.regexp.m.1": "42", "http.regexp.1": "42",
        "http.regexp.m.2": "posts", "http.regexp.2": "posts",
        "http.regexp.m.3": "", "http.regexp.3": "",
        "http.regexp.m.tab": "posts", "http.regexp.tab": "posts",
    }
    unnamed = RegexpRequest()
    RegexpCaptures(pattern, "").store(unnamed, pattern.search(b"/u/1"))
    assert unnamed.vars == {"http.regexp.0": "/u/1", "http.regexp.1": "1",
                            "http.regexp.2": "", "http.regexp.3": "", "http.regexp.tab": ""}


def test_request_placeholders_from_a_real_request():
    from tests.protocol_harness import capture_requests

    (request,) = capture_requests(b"GET /a/b?x=1&y=two%20words HTTP/1.1\r\nHost: h.example.com"
                                  b"\r\nCookie: session=abc; theme=dark\r\n\r\n")
    render = lambda text: Template(text).render(request)  # noqa: E731
    assert render("{uri}|{orig_uri}") == "/a/b?x=1&y=two%20words|/a/b?x=1&y=two%20words"
    assert render("{query.y}|{query.missing}|{cookie.theme}") == "two words||dark"
    assert render("{http.request.proto}") == "HTTP/1.1"
    request.path = b"/rewritten"
    assert render("{uri}|{orig_uri}") == "/rewritten?x=1&y=two%20words|/a/b?x=1&y=two%20words"


def test_client_clock_and_path_part_placeholders():
    from tests.protocol_harness import capture_requests

    (request,) = capture_requests(b"GET /a/b/c.txt HTTP/1.1\r\nHost: x.com:8443\r\n\r\n")
    render = lambda text: Template(text).render(request)  # noqa: E731
    assert render("{client_ip}|{remote_host}|{port}|{file}|{dir}") == (
        "127.0.0.1|127.0.0.1|8443|c.txt|/a/b/")
    assert render("{http.request.uuid}") == render("{http.request.uuid}")  # one per request
    assert len(render("{http.request.uuid}").split("-")) == 5
    assert render("{time.now.unix}").isdigit()


@pytest.mark.parametrize("text, message", [
    ("{vars.x}", "placeholder {vars.x} is not supported by fastsnake"),
    ("{http.request.tls.version}", "placeholder {http.request.tls.version} is not supported"),
    ("{bogus}", "unknown placeholder {bogus}"),
])
def test_caddy_placeholders_fastsnake_lacks_are_named_as_such(text, message):
    with pytest.raises(PlaceholderError, match=re.escape(message)):
        Template(text)
