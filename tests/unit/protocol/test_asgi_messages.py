"""ASGI scope and message sequences through the real protocol, in-process."""

from __future__ import annotations

import pytest

from tests.protocol_harness import parse_responses, run_exchange, split_every_byte


def run_asgi(app, chunks):
    return run_exchange(app, chunks, interface="asgi")


def recording_app(record):
    async def app(scope, receive, send):
        record["scope"] = scope
        messages = []
        while True:
            message = await receive()
            messages.append(message)
            if not message.get("more_body"):
                break
        record["messages"] = messages
        body = b"".join(m["body"] for m in messages)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": body})

    return app


def test_http_scope():
    record = {}
    run_asgi(recording_app(record), [b"GET /a%2Fb/caf%C3%A9?q=1 HTTP/1.1\r\nHost: h\r\n"
                                     b"X-Two: 1\r\nX-Two: 2\r\n\r\n"])
    scope = record["scope"]
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "http"
    assert scope["path"] == "/a/b/café"
    assert scope["raw_path"] == b"/a%2Fb/caf%C3%A9"
    assert scope["query_string"] == b"q=1"
    assert scope["root_path"] == ""
    assert scope["headers"] == [(b"host", b"h"), (b"x-two", b"1"), (b"x-two", b"2")]
    assert "state" not in scope
    assert "http.response.pathsend" in scope["extensions"]


def test_get_receives_one_empty_final_message():
    record = {}
    run_asgi(recording_app(record), [b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"])
    assert record["messages"] == [{"type": "http.request", "body": b"", "more_body": False}]


@pytest.mark.parametrize("request_bytes", [
    pytest.param(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789",
                 id="content-length"),
    pytest.param(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"4\r\n0123\r\n6\r\n456789\r\n0\r\n\r\n", id="chunked"),
])
def test_body_arrives_whole_at_every_split(request_bytes):
    for chunks in split_every_byte(request_bytes):
        record = {}
        (status, _, body), = parse_responses(run_asgi(recording_app(record), chunks))
        assert (status, body) == (200, b"0123456789")
        messages = record["messages"]
        assert all(m["type"] == "http.request" for m in messages)
        assert [m["more_body"] for m in messages][-1] is False
        assert all(m["more_body"] for m in messages[:-1])


def test_whole_response_is_one_write_with_content_length():
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 201, "headers": [(b"x-a", b"1")]})
        await send({"type": "http.response.body", "body": b"created"})

    out = run_asgi(app, [b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"])
    (status, headers, body), = parse_responses(out)
    assert (status, body) == (201, b"created")
    assert headers["content-length"] == "7" and headers["x-a"] == "1"


def test_streamed_response_is_chunked_unless_length_given():
    async def app(scope, receive, send):
        headers = [(b"content-length", b"6")] if scope["path"] == "/cl" else []
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for part in (b"ab", b"cd", b"ef"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    out = run_asgi(app, [b"GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /cl HTTP/1.1\r\nHost: h\r\n\r\n"])
    (s1, h1, b1), (s2, h2, b2) = parse_responses(out)
    assert h1["transfer-encoding"] == "chunked" and b1 == b"abcdef"
    assert h2["content-length"] == "6" and "transfer-encoding" not in h2 and b2 == b"abcdef"


@pytest.mark.parametrize("messages, status", [
    pytest.param([], 500, id="no-response"),
    pytest.param([{"type": "http.response.body", "body": b"x"}], 500, id="body-before-start"),
    pytest.param([{"type": "http.response.start", "status": 200,
                   "headers": [(b"x-bad", b"a\r\nb")]},
                  {"type": "http.response.body", "body": b"x"}], 500, id="header-injection"),
    pytest.param([{"type": "http.response.start", "status": 99}], 500, id="bad-status"),
])
def test_broken_apps_get_500(messages, status):
    async def app(scope, receive, send):
        for message in messages:
            await send(message)

    out = run_asgi(app, [b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"])
    (got, _, _), = parse_responses(out)
    assert got == status
    assert b"a\r\nb" not in out


def test_app_that_raises_when_called_gets_500_and_the_connection_serves_on():
    calls = []

    def app(scope, receive, send):  # not a coroutine function: raises at once
        calls.append(scope["path"])
        if scope["path"] == "/raise":
            raise ValueError("broken before any await")

        async def answer():
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
        return answer()

    out = run_asgi(app, [b"GET /raise HTTP/1.1\r\nHost: h\r\n\r\n"
                         b"GET /fine HTTP/1.1\r\nHost: h\r\n\r\n"])
    assert [(status, body) for status, _, body in parse_responses(out)] == [
        (500, b"500 Internal Server Error\n"), (200, b"ok")]
    assert calls == ["/raise", "/fine"]


def test_expect_continue_on_first_receive():
    async def app(scope, receive, send):
        message = await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": message["body"]})

    out = run_asgi(app, [b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n"
                         b"Expect: 100-continue\r\n\r\n", b"ok"])
    assert out.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n")
    assert out.endswith(b"ok")


def test_many_chunks_sent_in_one_step_arrive_whole_and_in_order():
    """The protocol gathers a streamed response's writes of one loop turn
    (and flushes past 64 KiB): nothing may be lost, doubled or reordered."""
    from tests.protocol_harness import parse_responses, run_exchange

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i in range(300):
            await send({"type": "http.response.body", "body": b"%04d" % i + b"x" * 508,
                        "more_body": True})
        await send({"type": "http.response.body", "body": b"end"})

    raw = run_exchange(app, [b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"], interface="asgi")
    ((status, headers, body),) = parse_responses(raw)
    assert status == 200 and headers["transfer-encoding"] == "chunked"
    assert body == b"".join(b"%04d" % i + b"x" * 508 for i in range(300)) + b"end"


def test_a_closed_websocket_connection_is_freed_without_the_cycle_collector():
    # The protocol and its upgraded exchange point at each other; the
    # protocol lets go when the connection is lost, so reference counting
    # frees both (and the frame buffers and zlib streams they hold) at once.
    # A worker's full collections are rare: a cycle here held megabytes.
    import gc

    from fastsnake import _http

    async def app(scope, receive, send):
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        while (await receive())["type"] != "websocket.disconnect":
            pass

    mask = b"\x01\x02\x03\x04"
    close = b"\x88\x82" + mask + bytes(b ^ m for b, m in zip(b"\x03\xe8", mask[:2], strict=True))
    upgrade = (b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               b"\r\n")
    gc.collect()
    gc.disable()
    try:
        out = run_asgi(app, [upgrade, close])
        left = [obj for obj in gc.get_objects() if type(obj) is _http.HttpProtocol]
    finally:
        gc.enable()
    assert out.startswith(b"HTTP/1.1 101 ")
    assert left == []


def test_a_connections_scopes_share_only_what_is_the_connections():
    # The per-connection part of the scope is kept between requests; what an
    # app does to its scope stays in that request's.
    scopes = []

    async def app(scope, receive, send):
        scopes.append(dict(scope))
        scope["client"] = ("forged", 1)
        scope["extra"] = "left by the app"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"x"})

    run_asgi(app, [b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b?q HTTP/1.1\r\nHost: h\r\n\r\n"
                   b"GET /c HTTP/1.0\r\n\r\n"])
    first, second, third = scopes
    assert (first["path"], second["path"], third["path"]) == ("/a", "/b", "/c")
    assert second["query_string"] == b"q" and first["query_string"] == b""
    assert second["client"] == first["client"] != ("forged", 1)
    assert "extra" not in second and "extra" not in third
    assert (first["http_version"], third["http_version"]) == ("1.1", "1.0")
