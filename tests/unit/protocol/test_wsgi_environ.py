"""The WSGI environ and response rules, through the real protocol in-process."""

from __future__ import annotations

import io
import wsgiref.validate

import pytest

from tests.protocol_harness import parse_responses, run_exchange

SIMPLE = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"


def capture(request: bytes, **kwargs) -> dict:
    seen: dict = {}

    def app(environ, start_response):
        seen.update(environ)
        seen["body"] = environ["wsgi.input"].read()
        start_response("204 No Content", [])
        return []

    out = run_exchange(app, [request], **kwargs)
    assert out.startswith(b"HTTP/1.1 204 No Content\r\n"), out
    return seen


def test_required_keys_and_values():
    env = capture(b"GET /caf%C3%A9/a%20b?x=%20y&z HTTP/1.1\r\nHost: example.com:8443\r\n"
                  b"Content-Type: text/plain\r\nX-Multi: a\r\nX-Multi: b\r\n"
                  b"Cookie: a=1\r\nCookie: b=2\r\n\r\n", server_port=9000)
    assert env["REQUEST_METHOD"] == "GET"
    assert env["SCRIPT_NAME"] == ""
    # PEP 3333: PATH_INFO is percent-decoded bytes carried as latin-1.
    assert env["PATH_INFO"] == "/caf\xc3\xa9/a b"
    assert env["QUERY_STRING"] == "x=%20y&z"
    assert env["SERVER_NAME"] == "example.com"
    assert env["SERVER_PORT"] == "9000"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["HTTP_HOST"] == "example.com:8443"
    assert env["CONTENT_TYPE"] == "text/plain"
    assert "HTTP_CONTENT_TYPE" not in env
    assert env["HTTP_X_MULTI"] == "a,b"
    assert env["HTTP_COOKIE"] == "a=1; b=2"
    assert env["wsgi.version"] == (1, 0)
    assert env["wsgi.url_scheme"] == "http"
    assert env["wsgi.run_once"] is False
    assert "REMOTE_ADDR" in env
    assert env["body"] == b""


def test_underscore_headers_are_dropped():
    env = capture(b"GET / HTTP/1.1\r\nHost: a\r\nX-Real-IP: 1.1.1.1\r\nX_Real_IP: 6.6.6.6\r\n\r\n")
    assert env["HTTP_X_REAL_IP"] == "1.1.1.1"
    assert "6.6.6.6" not in repr(env)


def test_chunked_body_gets_a_content_length():
    env = capture(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
    assert env["body"] == b"abcde"
    assert env["CONTENT_LENGTH"] == "5"


def test_large_body_spools_to_a_file():
    body = b"z" * (3 * 1024 * 1024)
    env = capture(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    assert env["body"] == body
    assert not isinstance(env["wsgi.input"], io.BytesIO)


def test_input_readline_readlines_and_iteration():
    lines_seen = {}

    def app(environ, start_response):
        stream = environ["wsgi.input"]
        lines_seen["first"] = stream.readline()
        lines_seen["limited"] = stream.readline(2)
        lines_seen["rest"] = stream.readlines()
        start_response("200 OK", [])
        return [b"ok"]

    body = b"one\ntwo\nthree\n"
    run_exchange(app, [b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(body)
                       + body])
    assert lines_seen == {"first": b"one\n", "limited": b"tw", "rest": [b"o\n", b"three\n"]}


@pytest.mark.parametrize("path", ["/list", "/iter", "/write", "/file", "/post"])
def test_wsgiref_validator_passes(path):
    def inner(environ, start_response):
        assert environ["wsgi.input"].read(2) == b"hi"  # the validator wants a size
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        if environ["PATH_INFO"] == "/iter":
            return iter([b"a", b"b"])
        if environ["PATH_INFO"] == "/write":
            write(b"written ")
            return [b"then returned"]
        if environ["PATH_INFO"] == "/file":
            return environ["wsgi.file_wrapper"](io.BytesIO(b"from a file"), 4)
        return [b"listed"]

    app = wsgiref.validate.validator(inner)
    method = b"POST" if path == "/post" else b"GET"
    out = run_exchange(app, [method + b" " + path.encode() + b" HTTP/1.1\r\nHost: a\r\n"
                             b"Content-Length: 2\r\n\r\nhi"])
    (status, _, body), = parse_responses(out)
    assert status == 200, out
    assert body in (b"listed", b"ab", b"written then returned", b"from a file")


def test_close_is_called_on_the_result():
    closed = []

    class Result:
        def __iter__(self):
            yield b"x"

        def close(self):
            closed.append(True)

    def app(environ, start_response):
        start_response("200 OK", [])
        return Result()

    run_exchange(app, [b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"])
    assert closed == [True]


def test_exc_info_replaces_headers_before_they_are_sent():
    def app(environ, start_response):
        start_response("200 OK", [("X-First", "1")])
        try:
            raise ValueError("oops")
        except ValueError:
            import sys
            start_response("503 Service Unavailable", [("X-Second", "2")], sys.exc_info())
        return [b"sorry"]

    (status, headers, body), = parse_responses(run_exchange(app, [SIMPLE]))
    assert status == 503 and headers["x-second"] == "2" and "x-first" not in headers
    assert body == b"sorry"


@pytest.mark.parametrize("value", ["a\r\nX-Evil: 1", "a\nb", "a\x00b"])
def test_header_injection_is_a_500(value):
    def app(environ, start_response):
        start_response("200 OK", [("X-Test", value)])
        return [b"must not be sent"]

    out = run_exchange(app, [b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"])
    (status, headers, body), = parse_responses(out)
    assert status == 500
    assert b"X-Evil" not in out and b"must not be sent" not in out


def test_app_content_length_is_kept_and_http10_stream_is_close_delimited():
    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "5")])
        return iter([b"12", b"345"])

    (status, headers, body), = parse_responses(run_exchange(app, [SIMPLE]))
    assert headers["content-length"] == "5" and body == b"12345"
    assert "transfer-encoding" not in headers

    def streamer(environ, start_response):
        start_response("200 OK", [])
        return iter([b"ab", b"cd"])

    out = run_exchange(streamer, [b"GET / HTTP/1.0\r\n\r\n"])
    assert b"transfer-encoding" not in out.lower() and out.endswith(b"\r\n\r\nabcd")
    assert b"connection: close" in out



def test_requests_on_one_connection_each_get_their_own_environ():
    # A connection's environs start from one template (peer, Host, protocol):
    # what a request or its app changes must not reach the next request.
    seen: list[dict] = []

    def app(environ, start_response):
        seen.append(dict(environ, body=environ["wsgi.input"].read()))
        environ["PATH_INFO"] = "/changed-by-the-app"
        environ["HTTP_X_FROM_APP"] = "1"
        environ["wsgi.input"].read()
        start_response("200 OK", [])
        return [b"ok"]

    out = run_exchange(app, [
        b"GET /a?q=1 HTTP/1.1\r\nHost: a.test:81\r\nX-One: 1\r\n\r\n",
        b"POST /b HTTP/1.1\r\nHost: a.test:81\r\nContent-Length: 2\r\n\r\nhi",
        b"GET /c HTTP/1.1\r\nHost: b.test\r\n\r\n",
        b"GET /d HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        b"DELETE /e HTTP/1.1\r\nHost: a.test:81\r\nConnection: close\r\n\r\n",
    ])
    assert [status for status, _, _ in parse_responses(out)] == [200] * 5
    assert [(e["REQUEST_METHOD"], e["PATH_INFO"], e["QUERY_STRING"], e["body"])
            for e in seen] == [("GET", "/a", "q=1", b""), ("POST", "/b", "", b"hi"),
                               ("GET", "/c", "", b""), ("GET", "/d", "", b""),
                               ("DELETE", "/e", "", b"")]
    assert [(e["SERVER_NAME"], e.get("HTTP_HOST"), e["SERVER_PROTOCOL"]) for e in seen] == [
        ("a.test", "a.test:81", "HTTP/1.1"), ("a.test", "a.test:81", "HTTP/1.1"),
        ("b.test", "b.test", "HTTP/1.1"), ("", None, "HTTP/1.0"),
        ("a.test", "a.test:81", "HTTP/1.1")]
    assert [e.get("HTTP_X_ONE") for e in seen] == ["1", None, None, None, None]
    assert [e.get("CONTENT_LENGTH") for e in seen] == [None, "2", None, None, None]
    assert not any("HTTP_X_FROM_APP" in e for e in seen)


def test_each_request_of_a_connection_starts_its_exchange_afresh():
    # A connection reuses its last exchange when nothing else holds it: no
    # status, header, body or state of one request may reach the next, and
    # a start_response the app kept is never reused.
    kept = []

    def app(environ, start_response):
        path = environ["PATH_INFO"]
        if path == "/stale":
            try:
                kept[0]("200 OK", [])
            except RuntimeError:
                start_response("200 OK", [("X-Stale", "refused")])
                return [b"stale refused"]
            return [b"stale reused"]
        if path == "/fail":
            raise ValueError("boom")
        if path == "/echo":
            start_response("201 Created", [("X-Echo", "1")])
            return [environ["wsgi.input"].read()]
        if path == "/stream":
            start_response("202 Accepted", [])
            return iter([b"a", b"b"])
        if path == "/write":
            write = start_response("203 Non-Authoritative Information", [])
            write(b"w")
            return [b"x"]
        if path == "/kept":
            kept.append(start_response)
        start_response("200 OK", [("X-Plain", "1")])
        return [b"one"]

    requests = [b"GET /list HTTP/1.1\r\nHost: a\r\n\r\n",
                b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
                b"GET /stream HTTP/1.1\r\nHost: a\r\n\r\n",
                b"GET /write HTTP/1.1\r\nHost: a\r\n\r\n",
                b"GET /fail HTTP/1.1\r\nHost: a\r\n\r\n",
                b"GET /list HTTP/1.1\r\nHost: a\r\n\r\n",
                b"GET /kept HTTP/1.1\r\nHost: a\r\n\r\n",
                b"GET /stale HTTP/1.1\r\nHost: a\r\n\r\n",
                b"HEAD /list HTTP/1.1\r\nHost: a\r\n\r\n"]
    for chunks in ([b"".join(requests)], requests):
        kept.clear()
        out = run_exchange(app, chunks)
        responses = parse_responses(out, head_methods=["GET"] * 8 + ["HEAD"])
        assert [(status, body) for status, _, body in responses] == [
            (200, b"one"), (201, b"abc"), (202, b"ab"), (203, b"wx"),
            (500, b"500 Internal Server Error\n"), (200, b"one"), (200, b"one"),
            (200, b"stale refused"), (200, b"")]
        headers = [h for _, h, _ in responses]
        assert "x-echo" not in headers[5] and headers[5]["x-plain"] == "1"
        assert headers[2].get("transfer-encoding") == "chunked"
        assert "transfer-encoding" not in headers[5] and headers[5]["content-length"] == "3"
        assert headers[7]["x-stale"] == "refused"


def test_a_closed_keep_alive_connection_is_freed_without_the_cycle_collector():
    # The channel's memo (environ template, last exchange) points back at the
    # connection; the connection lets go of it when lost, so reference
    # counting frees them all at once (a worker's full collections are rare).
    import gc

    from fastsnake import _http

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    gc.collect()
    gc.disable()
    try:
        out = run_exchange(app, [SIMPLE, SIMPLE, SIMPLE])
        left = [obj for obj in gc.get_objects() if type(obj) is _http.HttpProtocol]
    finally:
        gc.enable()
    assert [status for status, _, _ in parse_responses(out)] == [200, 200, 200]
    assert left == []
