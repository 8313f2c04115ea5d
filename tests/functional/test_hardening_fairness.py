"""Fairness under slow clients: while 300 connections trickle their heads or
never read their responses, a normal client still gets correct answers from a
single worker. Bounded: about 5 s, 127.0.0.1 only. Latency is not asserted
(stress/slow_clients.py measures it)."""

from __future__ import annotations

import asyncio
import os
import socket

from tests.protocol_harness import parse_responses

SERVER = """
:$PORT {
    python {
        module_wsgi "hardening_apps:wsgi_app"
        working_dir "$APPS"
        workers 1
    }
}
"""

TRICKLERS = 150
NON_READERS = 150
NORMAL_REQUESTS = 60


async def trickler(port: int, stop: asyncio.Event) -> None:
    """A slowloris: a head that never ends, one byte every 200 ms."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
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


async def non_reader(port: int, stop: asyncio.Event) -> None:
    """Asks for an endless response and never reads it."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", port))
    try:
        await loop.sock_sendall(sock, b"GET /endless HTTP/1.1\r\nHost: a\r\n\r\n")
        await stop.wait()
    finally:
        sock.close()


async def normal_client(port: int) -> list[tuple[int, bytes, bytes]]:
    """Keep-alive requests with random bodies, a new connection every 10."""
    results = []
    writer = None
    for i in range(NORMAL_REQUESTS):
        if i % 10 == 0:
            if writer is not None:
                writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        body = os.urandom(1 + i * 97)
        writer.write(b"POST /echo/%d HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n"
                     % (i, len(body)) + body)
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")))
        data = await reader.readexactly(length)
        (status, _, got), = parse_responses(head + data)
        results.append((status, got, b"POST /echo/%d? host=a\n" % i + body))
        await asyncio.sleep(0.02)
    writer.close()
    return results


async def scenario(port: int) -> list[tuple[int, bytes, bytes]]:
    stop = asyncio.Event()
    slow = [asyncio.ensure_future(trickler(port, stop)) for _ in range(TRICKLERS)]
    slow += [asyncio.ensure_future(non_reader(port, stop)) for _ in range(NON_READERS)]
    await asyncio.sleep(0.5)  # let them connect and fill their sockets
    try:
        return await asyncio.wait_for(normal_client(port), 30)
    finally:
        stop.set()
        await asyncio.gather(*slow, return_exceptions=True)


def test_normal_client_is_served_correctly_among_slow_clients(serve):
    server = serve(SERVER)
    results = asyncio.run(scenario(server.port))
    assert len(results) == NORMAL_REQUESTS
    for status, got, expected in results:
        assert status == 200
        assert got == expected
