"""The response head as the protocol writes it (serialised in C by make_head).

Each test runs a real HttpProtocol over a socket pair with a WSGI app that
answers with chosen headers and body, and reads the raw bytes it wrote.
"""

from __future__ import annotations

import pytest

from tests.protocol_harness import parse_responses, run_exchange

GET = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
HEAD = b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n"
BIG = bytes(range(256)) * 400  # 100 KiB: past the size copied behind the head


def answering(headers, body=b"x", status="200 OK"):
    def app(environ, start_response):
        start_response(status, headers)
        return [body]
    return app


def head_lines(raw: bytes) -> list[bytes]:
    head, _, _ = raw.partition(b"\r\n\r\n")
    return head.split(b"\r\n")


@pytest.mark.parametrize("value, length", [
    ("13", 13), (" 5 ", 5), ("0", 0), ("\t7", 7),
])
def test_app_content_length_is_parsed_and_emitted_once(value, length):
    body = b"y" * 20
    out = run_exchange(answering([("Content-Length", value)], body), [GET])
    lines = head_lines(out)
    assert [line for line in lines if line.lower().startswith(b"content-length")] == [
        b"content-length: %d" % length]
    assert out.endswith(b"\r\n\r\n" + body[:length])


@pytest.mark.parametrize("value", ["abc", "-1", "+13", "1_3", "", "1 3",
                                   "99999999999999999999"])
def test_invalid_app_content_length_is_a_500(value):
    out = run_exchange(answering([("Content-Length", value)]), [GET])
    (status, headers, body), = parse_responses(out)
    assert status == 500
    assert body == b"500 Internal Server Error\n"


@pytest.mark.parametrize("name", ["", "Bad Name", "Bad:Name", "X-\x00", " X"])
def test_invalid_header_names_are_a_500(name):
    out = run_exchange(answering([(name, "v")]), [GET])
    (status, headers, body), = parse_responses(out)
    assert status == 500
    assert b"Bad" not in out and b"X-" not in out


@pytest.mark.parametrize("body", [b"z" * 100, BIG], ids=["inline", "large"])
def test_body_longer_than_the_apps_length_is_cut_and_the_connection_closes(body):
    app = answering([("Content-Length", "10")], body)
    out = run_exchange(app, [GET + GET])
    assert out.count(b"HTTP/1.1 200") == 1  # the second request is not read
    assert out.endswith(b"\r\n\r\n" + body[:10])


def test_large_body_goes_out_whole_with_its_length():
    out = run_exchange(answering([("Content-Type", "application/octet-stream")], BIG),
                       [GET + GET])
    responses = parse_responses(out)
    assert [(r[0], r[1]["content-length"], r[2]) for r in responses] == [
        (200, str(len(BIG)), BIG)] * 2


@pytest.mark.parametrize("body", [b"abc", BIG], ids=["inline", "large"])
def test_head_request_gets_the_length_but_no_body(body):
    out = run_exchange(answering([], body), [HEAD])
    assert out.endswith(b"content-length: %d\r\n\r\n" % len(body))


def test_framing_headers_of_the_app_are_replaced_and_its_server_and_date_kept():
    headers = [("Server", "mine"), ("Date", "Tue, 01 Dec 2026 00:00:00 GMT"),
               ("Transfer-Encoding", "chunked"), ("Connection", "close"),
               ("X-A", "1"), ("X-A", "2")]
    out = run_exchange(answering(headers, b"hello"), [GET])
    lines = head_lines(out)
    assert lines[0] == b"HTTP/1.1 200 OK"
    assert lines[1:] == [b"Server: mine", b"Date: Tue, 01 Dec 2026 00:00:00 GMT",
                         b"X-A: 1", b"X-A: 2", b"content-length: 5",
                         b"connection: close"]
    assert out.endswith(b"\r\n\r\nhello")


def test_server_and_date_are_added_when_the_app_gives_none():
    lines = head_lines(run_exchange(answering([("Content-Type", "text/plain")]), [GET]))
    names = [line.split(b":")[0] for line in lines[1:]]
    assert names == [b"Content-Type", b"server", b"date", b"content-length"]


def test_not_modified_keeps_the_apps_length_and_sends_no_body():
    out = run_exchange(answering([("Content-Length", "42")], b"", "304 Not Modified"),
                       [GET])
    assert out.startswith(b"HTTP/1.1 304 Not Modified\r\n")
    assert out.endswith(b"content-length: 42\r\n\r\n")


def test_no_content_gets_neither_length_nor_body():
    out = run_exchange(answering([], b"ignored", "204 No Content"), [GET])
    assert b"content-length" not in out.lower()
    assert out.endswith(b"\r\n\r\n")


def test_wsgi_headers_are_written_as_latin_1():
    # start_response keeps the app's str pairs; the head writer takes their
    # latin-1 bytes, in both the whole-body and the streamed paths.
    headers = [("X-Name", "caf\xe9"), ("Connection", "Close")]
    for body in (b"x", BIG):
        out = run_exchange(answering(headers, body), [GET])
        assert b"X-Name: caf\xe9\r\n" in out
        assert b"connection: close\r\n" in out.lower()

    def streamed(environ, start_response):
        start_response("200 OK", [("X-Name", "\xff")])
        return iter([b"a", b"b"])

    assert b"X-Name: \xff\r\n" in run_exchange(streamed, [GET])


def test_a_header_that_is_not_latin_1_fails_in_start_response():
    raised = []

    def app(environ, start_response):
        try:
            start_response("200 OK", [("X-Name", "\u20ac")])
        except UnicodeEncodeError as exc:
            raised.append(exc)
            raise
        return [b"never"]

    (status, _, body), = parse_responses(run_exchange(app, [GET]))
    assert status == 500 and len(raised) == 1 and b"never" not in body


def test_the_apps_list_changed_after_start_response_changes_nothing():
    def app(environ, start_response):
        headers = [("X-Kept", "1")]
        start_response("200 OK", headers)
        headers.append(("X-Evil", "a\r\nSet-Cookie: x=1"))
        headers[0] = ("X-Kept", "2")
        return [b"ok"]

    out = run_exchange(app, [GET])
    assert b"X-Kept: 1\r\n" in out and b"Evil" not in out and b"Set-Cookie" not in out


def test_many_headers_come_out_in_order():
    # Past the lines make_head keeps between its passes, it looks them up again.
    for count in (24, 25, 40):
        headers = [(f"X-H{i}", f"v{i}") for i in range(count)]
        lines = head_lines(run_exchange(answering(headers), [GET]))
        assert [line for line in lines if line.startswith(b"X-H")] == [
            b"X-H%d: v%d" % (i, i) for i in range(count)]


@pytest.mark.parametrize("length", [1, 7, 8, 9, 15, 16, 17, 23])
def test_a_bad_byte_anywhere_in_a_field_is_a_500(length):
    # The checks go 8 bytes at a time: every position of words and tails.
    # One connection, one pipelined request per case (a 500 keeps it open).
    cases = []
    for at in range(length):
        for bad in ("\r", "\n", "\x00"):
            cases.append(([("X-Test", "v" * at + bad + "v" * (length - at - 1))], 500))
        for bad in (":", " ", "\r", "\n", "\x00"):
            cases.append(([("N" * at + bad + "N" * (length - at - 1), "v")], 500))
    # A tab and bytes past 127 are fine in a value (and a tab in a name, as before).
    for value in ("\t" * length, "\xe9" * length, "a\tb" * length):
        cases.append(([("X-Test", value)], 200))
    cases.append(([("N\t" * length, "v")], 200))

    def app(environ, start_response):
        start_response("200 OK", cases[int(environ["PATH_INFO"][1:])][0])
        return [b"x"]

    out = run_exchange(app, [b"".join(b"GET /%d HTTP/1.1\r\nHost: a\r\n\r\n" % i
                                      for i in range(len(cases)))])
    assert [status for status, _, _ in parse_responses(out)] == [want for _, want in cases]
