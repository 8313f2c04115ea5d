"""WebSocket echo load generator on uvloop with raw sockets (wrk cannot do WebSocket).

N connections each do the opening handshake, then keep a window of pre-built
masked binary frames in flight: every echoed frame is answered with a new one
at once, so each connection always has ``window`` frames outstanding
(pipelined). Echoed frames are counted for ``duration`` seconds after every
handshake is done. Prints one JSON object: messages, rate, latency p50/p99
(send to echo, so it includes the queueing that the window causes), failures,
and this process's own CPU use, the check on whether it is the bottleneck.

    python bench/wsload.py --port 8080 --connections 32 --window 8 --duration 5
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import itertools
import json
import os
import resource
import sys
import time

import uvloop


def masked_frame(payload: bytes, key: bytes) -> bytes:
    """One FIN binary frame from a client (RFC 6455 5.2), payload under 126 bytes."""
    assert len(payload) < 126 and len(key) == 4
    body = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return bytes((0x82, 0x80 | len(payload))) + key + body


class Stats:
    def __init__(self) -> None:
        self.running = False
        self.messages = 0
        self.latencies: list[float] = []
        self.failed = 0
        self.lost = 0
        self.bad = 0


class Client(asyncio.Protocol):
    def __init__(self, stats: Stats, request: bytes, frame: bytes, payload: bytes,
                 window: int, upgraded: asyncio.Future[bool]) -> None:
        self.stats = stats
        self.request = request
        self.frame = frame
        self.payload = payload
        self.window = window
        self.upgraded = upgraded
        self.transport: asyncio.Transport | None = None
        self.head = b""
        self.buf = bytearray()
        self.sent: collections.deque[float] = collections.deque()
        self.checked = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.upgraded.done():
            self.upgraded.set_result(False)
        elif self.stats.running:
            self.stats.lost += 1

    def start(self) -> None:
        assert self.transport is not None
        now = time.perf_counter()
        self.sent.extend(itertools.repeat(now, self.window))
        self.transport.write(self.frame * self.window)

    def data_received(self, data: bytes) -> None:
        if not self.upgraded.done():
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            ok = self.head.startswith(b"HTTP/1.1 101")
            self.upgraded.set_result(ok)
            data = self.head[end + 4:]
            if not ok:
                return
        buf = self.buf
        buf += data
        pos = 0
        end = len(buf)
        count = 0
        while end - pos >= 2:
            length = buf[pos + 1] & 0x7F
            head = 2
            if length == 126:
                if end - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2:pos + 4], "big")
                head = 4
            elif length == 127:
                if end - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2:pos + 10], "big")
                head = 10
            if end - pos < head + length:
                break
            opcode = buf[pos] & 0x0F
            if opcode in (1, 2):
                if not self.checked:
                    self.checked = True
                    if bytes(buf[pos + head:pos + head + length]) != self.payload:
                        self.stats.bad += 1
                count += 1
            pos += head + length
        del buf[:pos]
        if not count:
            return
        stats = self.stats
        if stats.running:
            now = time.perf_counter()
            stats.messages += count
            popleft = self.sent.popleft
            record = stats.latencies.append
            for _ in range(count):
                record(now - popleft())
            self.sent.extend(itertools.repeat(now, count))
            assert self.transport is not None
            self.transport.write(self.frame * count)


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def run(host: str, port: int, path: str, connections: int, window: int,
              size: int, duration: float) -> dict[str, object]:
    loop = asyncio.get_running_loop()
    stats = Stats()
    payload = os.urandom(size)
    frame = masked_frame(payload, os.urandom(4))
    clients: list[Client] = []
    for _ in range(connections):
        key = base64.b64encode(os.urandom(16))
        request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                   f"Sec-WebSocket-Key: {key.decode()}\r\n\r\n").encode()
        upgraded: asyncio.Future[bool] = loop.create_future()
        try:
            _, client = await asyncio.wait_for(loop.create_connection(
                lambda r=request, u=upgraded: Client(stats, r, frame, payload, window, u),
                host, port), 10)
        except (OSError, asyncio.TimeoutError):
            stats.failed += 1
            continue
        clients.append(client)
    ready = []
    for client in clients:
        try:
            ok = await asyncio.wait_for(client.upgraded, 10)
        except asyncio.TimeoutError:
            ok = False
        (ready if ok else []).append(client)
        stats.failed += 0 if ok else 1
    usage = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    stats.running = True
    for client in ready:
        client.start()
    await asyncio.sleep(duration)
    stats.running = False
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    for client in clients:
        if client.transport is not None:
            client.transport.abort()
    cpu = (after.ru_utime - usage.ru_utime + after.ru_stime - usage.ru_stime) / elapsed
    p50 = percentile(stats.latencies, 0.50)
    p99 = percentile(stats.latencies, 0.99)
    return {
        "messages": stats.messages, "seconds": elapsed, "rate": stats.messages / elapsed,
        "p50_ms": None if p50 is None else p50 * 1000,
        "p99_ms": None if p99 is None else p99 * 1000,
        "connections": len(ready), "failed": stats.failed, "lost": stats.lost,
        "bad_echo": stats.bad, "cpu": cpu,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--window", type=int, default=8, help="frames in flight per connection")
    parser.add_argument("--size", type=int, default=64, help="payload bytes (under 126)")
    parser.add_argument("--duration", type=float, default=5.0)
    args = parser.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("load tests target the loopback only")
    result = uvloop.run(run(args.host, args.port, args.path, args.connections, args.window,
                            args.size, args.duration))
    json.dump(result, sys.stdout)
    print()
    return 0 if result["messages"] and not result["failed"] and not result["bad_echo"] else 1


if __name__ == "__main__":
    sys.exit(main())
