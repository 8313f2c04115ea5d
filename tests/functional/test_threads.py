"""WSGI on a thread pool (the thread runtime, or `threads N` in the process
runtime), so a slow request stalls nothing."""

from __future__ import annotations

import concurrent.futures
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
    assert "Traceback" not in server.log.split("boom from the test app")[-1]
