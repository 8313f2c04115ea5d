"""The HTTP/1.1 protocol in-process: bytes in, responses out."""

from __future__ import annotations

import pytest

from fastsnake import _http
from tests.protocol_harness import parse_responses, run_exchange, split_every_byte


def echo_app(environ, start_response):
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [environ["REQUEST_METHOD"].encode(), b" ", environ["PATH_INFO"].encode(), b" ", body]


SIMPLE_GET = b"GET /hello?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n"
CHUNKED_POST = (b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
LENGTH_POST = b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world"


@pytest.mark.parametrize("request_bytes, expected", [
    pytest.param(SIMPLE_GET, b"GET /hello ", id="get"),
    pytest.param(CHUNKED_POST, b"POST /up hello world", id="chunked-post"),
    pytest.param(LENGTH_POST, b"POST /p hello world", id="content-length-post"),
])
def test_request_split_at_every_byte(request_bytes, expected):
    for chunks in split_every_byte(request_bytes):
        (status, headers, body), = parse_responses(run_exchange(echo_app, chunks))
        assert status == 200, chunks
        assert body == expected, chunks
        assert headers["server"] == "fastsnake"
        assert headers["content-length"] == str(len(expected))
        assert "date" in headers


def test_pipelined_requests_answered_in_order():
    data = SIMPLE_GET + LENGTH_POST + CHUNKED_POST + b"GET /last HTTP/1.1\r\nHost: a\r\n\r\n"
    for chunks in ([data], [data[i:i + 7] for i in range(0, len(data), 7)]):
        responses = parse_responses(run_exchange(echo_app, chunks))
        assert [r[2] for r in responses] == [
            b"GET /hello ", b"POST /p hello world", b"POST /up hello world", b"GET /last "]


def test_host_checked_on_every_request_of_a_connection():
    # The last valid Host is remembered per connection (clients repeat it):
    # a different, invalid one on the same connection is still refused.
    out = run_exchange(echo_app, [b"GET /a HTTP/1.1\r\nHost: a.test\r\n\r\n"
                                  b"GET /b HTTP/1.1\r\nHost: a.test\r\n\r\n"
                                  b"GET /c HTTP/1.1\r\nHost: a@b.test\r\n\r\n"])
    assert [status for status, _, _ in parse_responses(out)] == [200, 200, 400]


def test_http10_closes_unless_keep_alive():
    out = run_exchange(echo_app, [b"GET /a HTTP/1.0\r\n\r\nGET /b HTTP/1.0\r\n\r\n"])
    responses = parse_responses(out)
    assert len(responses) == 1
    assert responses[0][1]["connection"] == "close"
    out = run_exchange(echo_app, [b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                                  b"GET /b HTTP/1.0\r\n\r\n"])
    responses = parse_responses(out)
    assert [r[2] for r in responses] == [b"GET /a ", b"GET /b "]
    assert responses[0][1]["connection"] == "keep-alive"


def test_head_gets_no_body():
    out = run_exchange(echo_app, [b"HEAD /h HTTP/1.1\r\nHost: a\r\n\r\n"])
    (status, headers, body), = parse_responses(out, head_methods=["HEAD"])
    assert status == 200
    assert body == b""
    assert headers["content-length"] == str(len(b"HEAD /h "))
    assert out.endswith(b"\r\n\r\n")


def test_expect_continue_answered_before_final_response():
    out = run_exchange(echo_app, [
        b"POST /c HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
        b"abc"])
    assert out.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n")
    assert out.endswith(b"POST /c abc")


def refused(request_bytes, limits=None):
    out = run_exchange(echo_app, [request_bytes], limits=limits)
    (status, headers, body), = parse_responses(out)
    assert headers["connection"] == "close"
    return status


@pytest.mark.parametrize("request_bytes, status", [
    pytest.param(b"GARBAGE\r\n\r\n", 400, id="not-http"),
    pytest.param(b"GET / HTTP/1.1\r\n\r\n", 400, id="http11-no-host"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, id="two-hosts"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", 400, id="space-in-name"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", 400, id="nul-in-value"),
    pytest.param(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501,
                 id="te-gzip"),
    pytest.param(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                 b"0\r\n\r\n", 501, id="te-gzip-chunked"),
    pytest.param(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
                 id="te-on-http10"),
    pytest.param(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                 400, id="two-content-lengths"),
    pytest.param(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, id="cl-and-te"),
    pytest.param(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400,
                 id="bad-chunk-size"),
    pytest.param(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, id="http2-version"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n", 417, id="bad-expect"),
    pytest.param(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414, id="long-target"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"v" * 17000 + b"\r\n\r\n", 431,
                 id="big-header"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\n" + b"".join(b"X%d: v\r\n" % i for i in range(101))
                 + b"\r\n", 431, id="too-many-headers"),
])
def test_malformed_requests_refused(request_bytes, status):
    assert refused(request_bytes) == status


def test_body_over_limit_is_413():
    limits = _http.Limits(max_body_size=10)
    assert refused(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n", limits) == 413
    chunked = (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n")
    assert refused(chunked, limits) == 413


def test_common_header_names_are_shared_objects_and_others_are_not_confused_with_them():
    # The names clients send most come as one shared bytes object each; names
    # that only look like them are their own (and sec-fetch-mode, which lost
    # its slot to sec-fetch-site, still reads right).
    from tests.protocol_harness import capture_requests

    raw = (b"GET / HTTP/1.1\r\nHOST: a\r\nUser-Agent: u\r\nSec-Fetch-Site: s\r\n"
           b"Sec-Fetch-Mode: m\r\nHos: x\r\nHosts: y\r\nAccept-Encodin: z\r\n\r\n")
    first, second = capture_requests(raw + raw)
    names = [b"host", b"user-agent", b"sec-fetch-site", b"sec-fetch-mode", b"hos", b"hosts",
             b"accept-encodin"]
    for request in (first, second):
        assert [name for name, _ in request.headers] == names
        assert [value for _, value in request.headers] == [b"a", b"u", b"s", b"m", b"x", b"y",
                                                           b"z"]
    same = [a is b for (a, _), (b, _) in zip(first.headers, second.headers, strict=True)]
    assert same[:3] == [True, True, True] and same[4:] == [False, False, False]


def test_header_names_are_lowercased_and_values_kept():
    from tests.protocol_harness import capture_requests

    long_name = b"X-" + b"Long" * 30  # past the parser's stack buffer
    raw = (b"GET / HTTP/1.1\r\nHOST: a\r\nX-Mixed-Case: Value Kept\r\nA: B\r\n"
           + long_name + b": v\r\n\r\n")
    request, = capture_requests(raw)
    assert request.headers == [(b"host", b"a"), (b"x-mixed-case", b"Value Kept"),
                               (b"a", b"B"), (long_name.lower(), b"v")]
    assert request.host == b"a"
