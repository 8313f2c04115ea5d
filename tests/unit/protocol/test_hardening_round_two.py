"""Hardening, round two, at the protocol: what differed from Caddy (and
RFC 9112/9110) on the wire, fed to a real HttpProtocol over a socket pair."""

from __future__ import annotations

import pytest

from tests.protocol_harness import parse_responses, run_exchange, split_every_byte


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


async def asgi_hello(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": scope["path"].encode()})


@pytest.mark.parametrize("line", [b"GET  / HTTP/1.1", b"GET   /x HTTP/1.1",
                                  b"POST  /form HTTP/1.1"])
def test_more_than_one_space_before_the_target_is_refused(line):
    request = line + b"\r\nHost: a\r\nContent-Length: 0\r\n\r\n"
    for chunks in split_every_byte(request):
        (status, headers, _), = parse_responses(run_exchange(hello, chunks))
        assert status == 400, chunks
        assert headers["connection"] == "close"


def test_one_space_still_parses_at_every_split_after_a_previous_request():
    # The check reads the bytes before the target, across reads too: a
    # pipelined request right after another, split anywhere, is fine.
    data = b"GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n"
    for chunks in split_every_byte(data):
        responses = parse_responses(run_exchange(hello, chunks))
        assert [status for status, _, _ in responses] == [200, 200], chunks


@pytest.mark.parametrize("status", ["100 Continue", "101 Switching Protocols", "000 Zero",
                                    "199 Odd"])
def test_a_wsgi_app_cannot_send_an_informational_or_zero_status(status):
    def app(environ, start_response):
        start_response(status, [])
        return [b"x"]

    (code, _, _), = parse_responses(run_exchange(app, [b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"]))
    assert code == 500


@pytest.mark.parametrize("status", [100, 101, 0])
def test_an_asgi_app_cannot_send_an_informational_status(status):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"x"})

    (code, _, _), = parse_responses(run_exchange(
        app, [b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"], interface="asgi"))
    assert code == 500


@pytest.mark.parametrize(("target", "status", "path"), [
    (b"/caf%C3%A9", 200, "/café"),
    (b"/caf%E9", 400, None),          # latin-1, not UTF-8
    (b"/%FF%FE", 400, None),
])
def test_an_asgi_path_that_is_not_utf8_is_a_400(target, status, path):
    answer = run_exchange(asgi_hello, [b"GET " + target + b" HTTP/1.1\r\nHost: a\r\n\r\n"],
                          interface="asgi")
    (code, _, body), = parse_responses(answer)
    assert code == status
    if path is not None:
        assert body == path.encode()
