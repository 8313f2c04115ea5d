"""Measure how slow clients affect a normal one (run by hand, not by pytest).

Starts fastsnake (one worker, tests/apps/hardening_apps.py) on 127.0.0.1,
then:
  1. baseline: a normal client's request latency (keep-alive GETs and
     POSTs, plus fresh connections) and the worker's RSS;
  2. opens --slow connections, half of them slowloris (a head that never ends,
     one byte every 200 ms), half non-readers (ask for an endless response,
     never read it), and measures the same client again while they hang on;
  3. closes them and reads the RSS once more; 2-3 run --cycles times.
Prints p50/p99/max latencies and RSS figures. Bounded in time (about 30 s at
the defaults) and in traffic (loopback only).

    python stress/slow_clients.py [--slow 1000] [--requests 2000] [--interface wsgi]
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import resource
import socket
import statistics
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.server import RunningServer, free_port, write_caddyfile  # noqa: E402

CADDYFILE = """
:$PORT {
    python {
        module_%s "hardening_apps:%s_app"
        working_dir "$APPS"
        workers 1
    }
}
"""


def rss_kib(pid: int) -> int:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


async def trickler(port: int, stop: asyncio.Event, opened: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    opened.append(1)
    try:
        writer.write(b"GET /echo HTTP/1.1\r\nHost: a\r\nX-Slow: ")
        while not stop.is_set():
            writer.write(b"x")
            try:
                await asyncio.wait_for(stop.wait(), 0.2)
            except asyncio.TimeoutError:
                pass
    finally:
        writer.transport.abort()


async def non_reader(port: int, stop: asyncio.Event, opened: list[int]) -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", port))
    opened.append(1)
    try:
        await loop.sock_sendall(sock, b"GET /endless HTTP/1.1\r\nHost: a\r\n\r\n")
        await stop.wait()
    finally:
        sock.close()


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return status, await reader.readexactly(length)


async def measure(port: int, count: int) -> dict[str, list[float]]:
    """Latency (s) of keep-alive GET, keep-alive POST with a 4 KiB body, and
    GET on a fresh connection; checks every answer."""
    out: dict[str, list[float]] = {"keepalive_get": [], "keepalive_post": [], "new_conn_get": []}
    body = b"b" * 4096
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for i in range(count):
        start = time.perf_counter()
        writer.write(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n")
        assert await read_response(reader) == (200, b"hello")
        out["keepalive_get"].append(time.perf_counter() - start)
        start = time.perf_counter()
        writer.write(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4096\r\n\r\n" + body)
        status, data = await read_response(reader)
        assert status == 200 and data.endswith(body)
        out["keepalive_post"].append(time.perf_counter() - start)
        if i % 10 == 0:
            start = time.perf_counter()
            r2, w2 = await asyncio.open_connection("127.0.0.1", port)
            w2.write(b"GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            assert await read_response(r2) == (200, b"hello")
            out["new_conn_get"].append(time.perf_counter() - start)
            w2.close()
    writer.close()
    return out


def summary(name: str, values: list[float]) -> str:
    values = sorted(values)
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
    return (f"  {name:15} n={len(values):5}  p50={statistics.median(values) * 1e3:7.3f} ms"
            f"  p99={p99 * 1e3:7.3f} ms  max={values[-1] * 1e3:7.3f} ms")


async def settle(port: int) -> tuple[float, float]:
    """Probe with one request every 50 ms until one is answered within 50 ms:
    (the slowest probe, the time it took to settle) in seconds. While slow
    clients connect, the worker is busy filling their sockets."""
    began = time.perf_counter()
    worst = 0.0
    while True:
        start = time.perf_counter()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        assert await read_response(reader) == (200, b"hello")
        writer.close()
        took = time.perf_counter() - start
        worst = max(worst, took)
        if took < 0.05:
            return worst, time.perf_counter() - began
        await asyncio.sleep(0.05)


async def run(port: int, pid: int, slow: int, requests: int, cycles: int) -> None:
    print(f"worker pid {pid}, RSS at start: {rss_kib(pid)} KiB")
    await measure(port, 50)  # warm up
    baseline = await measure(port, requests)
    print(f"baseline ({requests} rounds), RSS {rss_kib(pid)} KiB:")
    for name, values in baseline.items():
        print(summary(name, values))
    for cycle in range(1, cycles + 1):
        stop = asyncio.Event()
        opened: list[int] = []
        tasks = [asyncio.ensure_future(trickler(port, stop, opened)) for _ in range(slow // 2)]
        tasks += [asyncio.ensure_future(non_reader(port, stop, opened))
                  for _ in range(slow - slow // 2)]
        worst, took = await settle(port)
        failed = [t for t in tasks if t.done() and not t.cancelled() and t.exception()]
        if failed:
            raise failed[0].exception()
        print(f"cycle {cycle}: {len(opened)} slow connections opened; while they connected "
              f"the slowest probe took {worst * 1e3:.0f} ms, settled after {took:.2f} s; "
              f"RSS {rss_kib(pid)} KiB")
        loaded = await measure(port, requests)
        print(f"cycle {cycle}: with {slow} slow connections ({requests} rounds), "
              f"RSS {rss_kib(pid)} KiB:")
        for name, values in loaded.items():
            print(summary(name, values))
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(1)
        await measure(port, 10)
        print(f"cycle {cycle}: slow connections closed, RSS {rss_kib(pid)} KiB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slow", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--interface", choices=("wsgi", "asgi"), default="wsgi")
    parser.add_argument("--cycles", type=int, default=2,
                        help="open and close the slow connections this many times "
                             "(RSS that keeps growing across cycles would be a leak)")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.slow + 200
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        text = CADDYFILE % (args.interface, args.interface)
        server = RunningServer(write_caddyfile(pathlib.Path(folder), text, port), port)
        try:
            server.wait_ready()
            (pid,) = server.worker_pids()
            scenario = run(port, pid, args.slow, args.requests, args.cycles)
            asyncio.run(asyncio.wait_for(scenario, 300))
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
