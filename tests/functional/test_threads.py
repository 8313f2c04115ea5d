"""WSGI on a thread pool (the thread runtime, or `threads N` in the process
runtime), so a slow request stalls nothing."""

from __future__ import annotations

import concurrent.futures
import socket
import threading

import pytest
import requests

CADDYFILE = """
:$PORT {
    python {
        module_wsgi "wsgi_basic:app"
        working_dir "$APPS"
        %s
        threads 4
    }
}
"""

RUNTIMES = [pytest.param("workers_runtime thread", id="thread-runtime"),
            pytest.param("workers 1", id="process-runtime-with-threads")]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_slow_request_does_not_stall_others(serve, runtime):
    server = serve(CADDYFILE % runtime)
    slow_done = threading.Event()

    def slow():
        resp = requests.get(server.base_url + "/slow?3", timeout=30)
        slow_done.set()
        return resp.text

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        slow_future = pool.submit(slow)
        assert server.wait_for_text("slow request started")
        # While the slow app sleeps in its pool thread, others are served.
        for _ in range(20):
            assert requests.get(server.base_url + "/hello", timeout=10).text == "hello"
        assert not slow_done.is_set()
        assert slow_future.result(30) == "slow done"


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_streaming_and_big_bodies_through_the_pool(serve, runtime):
    server = serve(CADDYFILE % runtime)
    resp = requests.get(server.base_url + "/stream", timeout=10)
    assert resp.content == b"".join(b"part %d\n" % i for i in range(10))
    size = 8 * 1024 * 1024
    resp = requests.get(f"{server.base_url}/big?{size}", timeout=30)
    assert len(resp.content) == size
    body = b"x" * (3 * 1024 * 1024)
    assert requests.post(server.base_url + "/digest", data=body, timeout=30).text.startswith(
        f"{len(body)} ")
    assert requests.get(server.base_url + "/boom", timeout=10).status_code == 500
    assert server.wait_for_text("boom from the test app")
    with requests.get(f"{server.base_url}/big?{64 * 1024 * 1024}", stream=True,
                      timeout=10) as abandoned:
        next(abandoned.iter_content(65536))
    assert requests.get(server.base_url + "/hello", timeout=10).text == "hello"
    assert requests.get(server.base_url + "/write", timeout=10).text == (
        "written, then returned")
    assert "Traceback" not in server.log.split("boom from the test app")[-1]


GATE_CADDYFILE = """
:$PORT {
    python {
        module_wsgi "wsgi_gate:app"
        working_dir "$APPS"
        %s
        threads 2
    }
}
"""


def ask(sock: socket.socket, path: str) -> None:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())


def answer(sock: socket.socket) -> bytes:
    """The body of one small response (its Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        assert more, f"closed after {data!r}"
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        more = sock.recv(65536)
        assert more, body
        body += more
    return body


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_running_app_holds_only_its_own_thread(serve, runtime):
    # A request that is still running (it ends only when /release comes)
    # must not hold back requests that arrive with it or after it, even with
    # two threads: the held one has one, the other serves the rest. Sent in
    # one burst, so the fast ones may queue behind the held one in the pool.
    server = serve(GATE_CADDYFILE % runtime)
    held = server.connect()
    others = [server.connect() for _ in range(6)]
    ask(held, "/hold")
    for index, sock in enumerate(others):
        ask(sock, f"/fast{index}")
    for index, sock in enumerate(others):
        assert answer(sock) == f"fast /fast{index}".encode()
    assert server.wait_for_text("hold started")
    # Again on the same connections, now that the held app surely runs.
    for index, sock in enumerate(others):
        ask(sock, f"/again{index}")
    for index, sock in enumerate(others):
        assert answer(sock) == f"fast /again{index}".encode()
    ask(others[0], "/release")
    assert answer(others[0]) == b"released"
    assert answer(held) == b"held"
    for sock in [held, *others]:
        sock.close()
