"""A real fastsnake in a subprocess, real clients over real sockets."""

from __future__ import annotations

import hashlib
import http.client
import os
import signal
import socket
import sys
import threading
import time

import pytest
import requests

from tests.protocol_harness import parse_responses

BASIC = """
:$PORT {
    python {
        module_wsgi "wsgi_basic:app"
        working_dir "$APPS"
        workers %d
    }
}
"""


def basic(workers: int = 1) -> str:
    return BASIC % workers


def read_until_closed(sock: socket.socket) -> bytes:
    data = bytearray()
    while True:
        block = sock.recv(65536)
        if not block:
            return bytes(data)
        data += block


def test_keep_alive_reuses_one_connection(serve):
    server = serve(basic())
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    ports = set()
    for _ in range(5):
        conn.request("GET", "/whoami")
        resp = conn.getresponse()
        assert resp.status == 200
        ports.add(resp.read().split()[1])
    assert len(ports) == 1
    conn.close()


def test_server_name_and_remote_port_on_one_connection(serve):
    # The protocol remembers the last Host's name and the client's port per
    # connection: a client that changes Host between keep-alive requests
    # must still be seen as it is.
    server = serve(basic())
    hosts = [b"a.test:1", b"a.test:1", b"[::1]:8080", b"b.test", b"a.test"]
    with server.connect() as sock:
        sock.sendall(b"".join(b"GET /whoami HTTP/1.1\r\nHost: %s\r\n\r\n" % host
                              for host in hosts[:-1])
                     + b"GET /whoami HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
        client_port = sock.getsockname()[1]
        responses = parse_responses(read_until_closed(sock))
    seen = [body.decode().split()[1:] for _, _, body in responses]
    assert seen == [[str(client_port), name]
                    for name in ("a.test", "a.test", "[::1]", "b.test", "a.test")]


def test_pipelined_requests(serve):
    server = serve(basic())
    with server.connect() as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n"
                     b"POST /digest HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
                     b"GET /stream HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        responses = parse_responses(read_until_closed(sock))
    assert [r[0] for r in responses] == [200, 200, 200]
    assert responses[0][2] == b"hello"
    assert responses[1][2] == f"3 {hashlib.sha256(b'abc').hexdigest()}".encode()
    assert responses[2][2] == b"".join(b"part %d\n" % i for i in range(10))
    assert responses[2][1]["transfer-encoding"] == "chunked"


def test_chunked_upload_and_download(serve):
    server = serve(basic())
    payload = [os.urandom(1000) for _ in range(20)]
    resp = requests.post(server.base_url + "/digest", data=iter(payload), timeout=10)
    whole = b"".join(payload)
    assert resp.text == f"{len(whole)} {hashlib.sha256(whole).hexdigest()}"
    resp = requests.get(server.base_url + "/stream", timeout=10)
    assert resp.headers["transfer-encoding"] == "chunked"
    assert resp.content.count(b"part") == 10


def test_ten_mebibytes_each_way(serve):
    server = serve(basic())
    body = os.urandom(10 * 1024 * 1024)
    resp = requests.post(server.base_url + "/digest", data=body, timeout=30)
    assert resp.text == f"{len(body)} {hashlib.sha256(body).hexdigest()}"
    resp = requests.get(f"{server.base_url}/big?{len(body)}", timeout=30)
    assert resp.status_code == 200
    assert len(resp.content) == len(body)
    assert resp.content[:256] == bytes(range(256))


def test_file_wrapper_serves_whole_files(serve):
    server = serve(basic())
    size = 5 * 1024 * 1024 + 7
    expected = (bytes(range(256)) * (size // 256 + 1))[:size]
    with requests.Session() as session:
        for _ in range(2):  # twice on one connection: the framing stays right
            resp = session.get(f"{server.base_url}/file?{size}", timeout=30)
            assert resp.headers["content-length"] == str(size)
            assert resp.content == expected
        head = session.head(f"{server.base_url}/file?{size}", timeout=10)
        assert head.headers["content-length"] == str(size) and head.content == b""
        assert session.get(f"{server.base_url}/file?0", timeout=10).content == b""


@pytest.mark.parametrize("raw, status", [
    pytest.param(b"NOT HTTP AT ALL\r\n\r\n", 400, id="garbage"),
    pytest.param(b"GET / HTTP/1.1\r\n\r\n", 400, id="no-host"),
    pytest.param(b"GET /" + b"x" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414, id="long-target"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"y" * 20000 + b"\r\n\r\n", 431,
                 id="big-headers"),
    pytest.param(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 501,
                 id="unknown-coding"),
    pytest.param(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                 400, id="duplicate-length"),
])
def test_malformed_request_gets_status_and_close(serve, raw, status):
    server = serve(basic())
    with server.connect() as sock:
        sock.sendall(raw)
        (got, headers, _), = parse_responses(read_until_closed(sock))
    assert got == status
    assert headers["connection"] == "close"
    assert requests.get(server.base_url + "/hello", timeout=10).text == "hello"


def closed_for_good(sock) -> bool:
    """After the server's FIN: whether the server's socket is gone (our next
    bytes draw a reset) rather than lingering (reading and dropping them)."""
    sock.settimeout(2)
    try:
        for _ in range(5):
            sock.sendall(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n")
            time.sleep(0.1)
    except (ConnectionResetError, BrokenPipeError):
        return True
    return False


@pytest.mark.parametrize("request_head", [
    b"GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"GET /hello HTTP/1.0\r\n\r\n",
], ids=["http11-close", "http10"])
def test_a_client_that_closes_gets_its_answer_and_an_immediate_close(serve, request_head):
    # RFC 9112 9.6: this client sends nothing after this request, so there is
    # nothing to linger for: the server closes at once.
    server = serve(basic())
    with server.connect() as sock:
        sock.sendall(request_head)
        (status, headers, body), = parse_responses(read_until_closed(sock))
        assert (status, headers["connection"], body) == (200, "close", b"hello")
        assert closed_for_good(sock)


def test_a_server_side_close_still_lingers_for_pipelined_requests(serve):
    # The app's Connection: close comes as a surprise to a client that has
    # pipelined more: the server reads and drops it instead of resetting the
    # connection (which could destroy the response in flight).
    server = serve(basic())
    with server.connect() as sock:
        sock.sendall(b"GET /close HTTP/1.1\r\nHost: a\r\n\r\n"
                     b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n")
        (status, headers, body), = parse_responses(read_until_closed(sock))
        assert (status, headers["connection"]) == (200, "close")
        assert not closed_for_good(sock)


def test_app_errors_are_500_and_logged_and_serving_goes_on(serve):
    server = serve(basic())
    resp = requests.get(server.base_url + "/boom", timeout=10)
    assert resp.status_code == 500
    assert server.wait_for_text("RuntimeError: boom from the test app")
    assert requests.get(server.base_url + "/bad-header", timeout=10).status_code == 500
    assert server.wait_for_text("invalid response header")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        _ = requests.get(server.base_url + "/boom-late", timeout=10).content
    assert server.wait_for_text("late boom from the test app")
    assert requests.get(server.base_url + "/hello", timeout=10).text == "hello"


def test_header_with_underscore_never_reaches_environ(serve):
    server = serve(basic())
    resp = requests.get(server.base_url + "/headers?q=1",
                        headers={"X-Forwarded-For": "1.2.3.4", "X_Forwarded_For": "6.6.6.6"},
                        timeout=10)
    assert "HTTP_X_FORWARDED_FOR=1.2.3.4" in resp.text.splitlines()
    assert "6.6.6.6" not in resp.text
    assert "QUERY_STRING=q=1" in resp.text.splitlines()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc for worker pids")
def test_killed_worker_is_respawned_and_serves(serve):
    server = serve(basic(workers=2))
    before = server.worker_pids()
    assert len(before) == 2
    victim = sorted(before)[0]
    mark = len(server.lines)
    os.kill(victim, signal.SIGKILL)
    assert server.wait_for_text("killed by SIGKILL", start=mark)
    line = server.wait_for_text("ready", start=mark)
    assert line is not None
    after = server.worker_pids()
    assert victim not in after and len(after) == 2
    (new_pid,) = after - before
    seen = set()
    for _ in range(400):  # new connections spread over both workers
        seen.add(int(requests.get(server.base_url + "/whoami", timeout=10).text.split()[0]))
        if new_pid in seen:
            break
    assert new_pid in seen


def test_sigterm_lets_the_request_in_flight_finish(serve):
    server = serve(basic(workers=1))
    result = {}

    def slow_request():
        result["resp"] = requests.get(server.base_url + "/slow?1.5", timeout=30)

    client = threading.Thread(target=slow_request)
    client.start()
    assert server.wait_for_text("slow request started")
    server.signal(signal.SIGTERM)
    client.join(30)
    assert result["resp"].status_code == 200
    assert result["resp"].text == "slow done"
    assert server.proc.wait(30) == 0


TIMEOUTS = """
{
    servers {
        timeouts {
            read_header 1s
            idle 1s
        }
    }
}
:$PORT {
    python {
        module_wsgi "wsgi_basic:app"
        working_dir "$APPS"
        workers 1
    }
}
"""


def test_read_header_timeout_answers_408_and_closes(serve):
    server = serve(TIMEOUTS)
    with server.connect() as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: a\r\n")  # never finishes its head
        (status, headers, _), = parse_responses(read_until_closed(sock))
    assert status == 408
    assert headers["connection"] == "close"


def test_idle_keep_alive_connection_is_closed(serve):
    server = serve(TIMEOUTS)
    with server.connect() as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n")
        (status, _, body), = parse_responses(read_until_closed(sock))
    assert (status, body) == (200, b"hello")


def test_a_port_in_use_is_refused(serve):
    first = serve(basic())
    second = serve(basic().replace("$PORT", str(first.port)), wait=False)
    assert second.proc.wait(30) == 1
    assert "address already in use" in second.log.lower()
    assert requests.get(first.base_url + "/hello", timeout=10).text == "hello"


def test_second_sigint_stops_at_once(serve):
    server = serve(basic(workers=1))
    result = {}

    def slow_request():
        try:
            result["resp"] = requests.get(server.base_url + "/slow?20", timeout=60)
        except requests.RequestException as exc:
            result["error"] = exc

    client = threading.Thread(target=slow_request)
    client.start()
    assert server.wait_for_text("slow request started")
    server.signal(signal.SIGINT)
    assert server.wait_for_text("received SIGINT")
    server.signal(signal.SIGINT)
    assert server.proc.wait(30) == 1  # forced: the slow request was not waited for
    client.join(30)
    assert "error" in result
    assert "second interrupt" in server.log


def test_max_requests_recycles_workers_without_failures(serve):
    server = serve(BASIC.replace("workers %d", "workers 1\n        max_requests 30"))
    pids = set()
    # Bounded: the worker notices its count on its next tick (every 0.5 s).
    for _ in range(5000):  # a new connection each time: none may be lost
        resp = requests.get(server.base_url + "/whoami", timeout=10)
        assert resp.status_code == 200
        pids.add(int(resp.text.split()[0]))
        if len(pids) >= 3:
            break
    assert len(pids) >= 3  # replaced at least twice
    assert "reached max_requests" in server.log
    assert server.wait_for_text("retired")
