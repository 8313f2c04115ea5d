"""The ceiling: the fastest "server" Python on uvloop can be, to measure against.

A bare asyncio Protocol that does not parse HTTP: every b"\\r\\n\\r\\n" it receives
ends a request (so pipelined requests are answered too) and gets the same
canned response. A request carrying ``Connection: close`` gets a closing
response. A first request asking for a WebSocket upgrade gets a 101 and then
every client frame is unmasked and echoed, which is the ceiling for the
WebSocket scenario and the check that bench/wsload.py is not the bottleneck.

    python bench/ceiling.py --port 8080
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import re
import signal

import uvloop

HELLO = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\n"
         b"Hello, world!")
HELLO_CLOSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n"
               b"Connection: close\r\n\r\nHello, world!")
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
WS_KEY = re.compile(rb"(?i)\r\nsec-websocket-key:\s*([^\r\n]+)")


def upgrade_response(key: bytes) -> bytes:
    accept = base64.b64encode(hashlib.sha1(key.strip() + WS_GUID).digest())
    return (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")


def unmask(payload: bytes, key: bytes) -> bytes:
    n = len(payload)
    pad = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(pad, "little")).to_bytes(
        n, "little")


class Ceiling(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.first = True
        self.websocket = False
        self.tail = b""  # the last 3 bytes seen, for a terminator split across reads
        self.frames = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        if self.websocket:
            self.echo_frames(data)
            return
        if self.first:
            self.first = False
            match = WS_KEY.search(data)
            if match is not None:
                self.websocket = True
                self.transport.write(upgrade_response(match.group(1)))
                rest = data[data.find(b"\r\n\r\n") + 4:]
                if rest:
                    self.echo_frames(rest)
                return
        joined = self.tail + data
        count = joined.count(b"\r\n\r\n")
        self.tail = joined[-3:]
        if count == 0:
            return
        if b"Connection: close" in data:
            self.transport.write(HELLO_CLOSE)
            self.transport.close()
        else:
            self.transport.write(HELLO * count)

    def echo_frames(self, data: bytes) -> None:
        assert self.transport is not None
        buf = self.frames
        buf += data
        out = bytearray()
        pos = 0
        end = len(buf)
        while end - pos >= 6:
            b0 = buf[pos]
            length = buf[pos + 1] & 0x7F
            head = 2
            if length == 126:
                length = int.from_bytes(buf[pos + 2:pos + 4], "big")
                head = 4
            elif length == 127:
                length = int.from_bytes(buf[pos + 2:pos + 10], "big")
                head = 10
            if end - pos < head + 4 + length:
                break
            key = bytes(buf[pos + head:pos + head + 4])
            payload = unmask(bytes(buf[pos + head + 4:pos + head + 4 + length]), key)
            pos += head + 4 + length
            if length < 126:
                out += bytes((b0, length))
            elif length < 65536:
                out += bytes((b0, 126)) + length.to_bytes(2, "big")
            else:
                out += bytes((b0, 127)) + length.to_bytes(8, "big")
            out += payload
            if b0 & 0x0F == 8:  # Close: echo it and hang up
                self.transport.write(out)
                self.transport.close()
                return
        del buf[:pos]
        if out:
            self.transport.write(out)


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set_result, None)
    server = await loop.create_server(Ceiling, "127.0.0.1", port, backlog=1024)
    async with server:
        await stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvloop.run(serve(args.port))


if __name__ == "__main__":
    main()
