"""Security checks at the app boundary, in-process and against real servers:
header names with "_" never alias "-" in the WSGI environ; a response header
with CR, LF or NUL is never sent (WSGI and ASGI); the environ and scope carry
exactly the header fields the client sent (nothing added, trailers not merged).
"""

from __future__ import annotations

import pytest

from tests.apps import hardening_apps
from tests.protocol_harness import parse_responses, run_exchange
from tests.server import RunningServer, start_hardening_server


@pytest.fixture(scope="module")
def wsgi_server(tmp_path_factory):
    server = start_hardening_server(tmp_path_factory.mktemp("security-wsgi"), "wsgi")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def asgi_server(tmp_path_factory):
    server = start_hardening_server(tmp_path_factory.mktemp("security-asgi"), "asgi")
    yield server
    server.stop()


def ask(server: RunningServer, raw: bytes) -> tuple[int, dict[str, str], bytes, bytes]:
    """One request with Connection: close; (status, headers, body, raw bytes)."""
    with server.connect(timeout=10) as sock:
        sock.sendall(raw)
        data = bytearray()
        while True:
            block = sock.recv(65536)
            if not block:
                break
            data += block
    (status, headers, body), = parse_responses(bytes(data))
    return status, headers, body, bytes(data)


def environ_lines(body: bytes) -> set[str]:
    return set(body.decode("latin-1").splitlines())


# ------------------------------------------------ "_" never aliases "-" (WSGI)

@pytest.mark.parametrize("fields", [
    pytest.param(b"X-Forwarded-For: 1.2.3.4\r\nX_Forwarded_For: 6.6.6.6\r\n", id="dash-first"),
    pytest.param(b"X_Forwarded_For: 6.6.6.6\r\nX-Forwarded-For: 1.2.3.4\r\n",
                 id="underscore-first"),
    pytest.param(b"x_forwarded-for: 6.6.6.6\r\nX-Forwarded-For: 1.2.3.4\r\n", id="mixed-spelling"),
])
def test_underscore_header_never_aliases_dash_on_a_real_server(wsgi_server, fields):
    status, _, body, _ = ask(wsgi_server, b"GET /environ HTTP/1.1\r\nHost: a\r\n" + fields
                             + b"Connection: close\r\n\r\n")
    assert status == 200
    lines = environ_lines(body)
    assert "HTTP_X_FORWARDED_FOR=1.2.3.4" in lines
    assert "6.6.6.6" not in body.decode("latin-1")


def test_underscore_only_header_is_dropped_on_a_real_server(wsgi_server):
    status, _, body, _ = ask(wsgi_server, b"GET /environ HTTP/1.1\r\nHost: a\r\n"
                             b"X_Real_IP: 6.6.6.6\r\nContent_Type: evil\r\n"
                             b"Connection: close\r\n\r\n")
    assert status == 200
    assert environ_lines(body) == {"HTTP_HOST=a", "HTTP_CONNECTION=close"}


# ------------------------------------ response headers with CR/LF/NUL never sent

INJECTION_IDS = ["value-crlf", "value-lf", "value-cr", "value-nul", "name-crlf",
                 "name-colon-crlf", "status-crlf"]


def assert_not_injected(status: int, raw: bytes) -> None:
    assert status == 500
    lowered = raw.lower()
    assert b"evil" not in lowered
    assert b"set-cookie" not in lowered
    assert b"must never be sent" not in raw


@pytest.mark.parametrize("case", range(len(hardening_apps.INJECTIONS)), ids=INJECTION_IDS)
@pytest.mark.parametrize("interface", ["wsgi", "asgi"])
def test_response_header_injection_is_never_sent_in_process(interface, case):
    app = hardening_apps.wsgi_app if interface == "wsgi" else hardening_apps.asgi_app
    out = run_exchange(app, [b"GET /inject/%d HTTP/1.1\r\nHost: a\r\n\r\n" % case],
                       interface=interface)
    (status, _, _), = parse_responses(out)
    assert_not_injected(status, out)


@pytest.mark.parametrize("case", range(len(hardening_apps.INJECTIONS)), ids=INJECTION_IDS)
@pytest.mark.parametrize("interface", ["wsgi", "asgi"])
def test_response_header_injection_is_never_sent_by_a_real_server(request, interface, case):
    server = request.getfixturevalue(f"{interface}_server")
    status, _, _, raw = ask(server, b"GET /inject/%d HTTP/1.1\r\nHost: a\r\n"
                                    b"Connection: close\r\n\r\n" % case)
    assert_not_injected(status, raw)
    # and the server goes on serving
    assert ask(server, b"GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")[2] \
        == b"hello"


# ------------------------- the environ/scope hold what the client sent, no more

CHUNKED_WITH_TRAILERS = (b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                         b"3\r\nabc\r\n0\r\nX-Trailer: t\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n")


def test_wsgi_environ_has_exactly_the_sent_headers(wsgi_server):
    status, _, body, _ = ask(wsgi_server, b"GET /environ HTTP/1.1\r\nHost: a\r\n"
                             b"X-One: 1\r\nAccept: */*\r\nConnection: close\r\n\r\n")
    assert status == 200
    assert environ_lines(body) == {"HTTP_HOST=a", "HTTP_X_ONE=1", "HTTP_ACCEPT=*/*",
                                   "HTTP_CONNECTION=close"}


def test_wsgi_environ_gets_no_trailer_fields(wsgi_server):
    status, _, body, _ = ask(wsgi_server, b"POST /environ HTTP/1.1\r\nHost: a\r\n"
                             + CHUNKED_WITH_TRAILERS)
    assert status == 200
    # CONTENT_LENGTH is the one value we add: the length of a chunked body
    # once it has been read whole (frameworks that trust only it need it);
    # the body reaches the app de-chunked, so Transfer-Encoding does not.
    assert environ_lines(body) == {"HTTP_HOST=a", "HTTP_CONNECTION=close", "CONTENT_LENGTH=3"}


def test_asgi_scope_has_exactly_the_sent_headers(asgi_server):
    status, _, body, _ = ask(asgi_server, b"POST /scope HTTP/1.1\r\nHost: a\r\nX-One: 1\r\n"
                             + CHUNKED_WITH_TRAILERS)
    assert status == 200
    assert body.decode().splitlines() == ["host: a", "x-one: 1", "transfer-encoding: chunked",
                                          "connection: close"]


def test_absolute_form_host_replaces_the_host_field_in_process():
    # RFC 9112 3.2.2: the target's authority wins; the app never sees "other".
    seen = {}

    def app(environ, start_response):
        seen.update(environ)
        start_response("200 OK", [])
        return [b""]

    run_exchange(app, [b"GET http://example.com:8080/p?q=1 HTTP/1.1\r\nHost: other\r\n\r\n"])
    assert (seen["PATH_INFO"], seen["QUERY_STRING"]) == ("/p", "q=1")
    assert (seen["HTTP_HOST"], seen["SERVER_NAME"]) == ("example.com:8080", "example.com")
    assert "other" not in repr(seen)
