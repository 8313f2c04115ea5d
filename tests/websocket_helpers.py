"""Frames built by hand and readers driven to the end, for the codec tests;
and RawClient, a WebSocket client on a plain socket for functional tests."""

from __future__ import annotations

import base64
import os
import struct
import zlib

import pytest

from fastsnake._websocket import FrameReader, WebSocketError

KEY = b"\x37\xfa\x21\x3d"
FIN = 0x80
RSV1 = 0x40
MiB = 1024 * 1024


def xor(data: bytes, key: bytes) -> bytes:
    """Reference masking, independent of the module's."""
    n = len(data)
    if not n:
        return b""
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


def raw(first: int, payload: bytes = b"", *, key: bytes | None = KEY,
        length: int | None = None) -> bytes:
    """A frame built by hand; `length` overrides the declared payload length."""
    n = len(payload) if length is None else length
    mask_bit = 0x80 if key else 0
    if n <= 125:
        head = bytes([first, mask_bit | n])
    elif n <= 0xFFFF:
        head = bytes([first, mask_bit | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([first, mask_bit | 127]) + n.to_bytes(8, "big")
    if key:
        return head + key + xor(payload, key)
    return head + payload


def read_all(reader: FrameReader) -> list[tuple[int, object]]:
    out = []
    while (message := reader.read_message()) is not None:
        out.append(message)
    return out


def feed_all(chunks, **kwargs) -> list[tuple[int, object]]:
    reader = FrameReader(**kwargs)
    out = []
    for chunk in chunks:
        reader.feed(chunk)
        out.extend(read_all(reader))
    assert reader.buffered == 0
    return out


def error_code(data: bytes, **kwargs) -> int:
    reader = FrameReader(**kwargs)
    reader.feed(data)
    with pytest.raises(WebSocketError) as info:
        read_all(reader)
    with pytest.raises(WebSocketError):  # sticky: the reader stays failed
        reader.read_message()
    return info.value.code


def deflate_raw(compressor, data: bytes) -> bytes:
    """What a client sends: raw deflate, sync-flushed, tail stripped (RFC 7692 7.2.1)."""
    out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def split_server_frame(frame: bytes) -> tuple[int, bytes]:
    """(first byte, payload) of an unmasked frame."""
    n = frame[1] & 0x7F
    return frame[0], frame[2 if n < 126 else (4 if n == 126 else 10):]


INVALID_UTF8_DEFLATED = deflate_raw(zlib.compressobj(wbits=-15), b"ok \xff")


class RawClient:
    """A minimal WebSocket client over a raw socket (masked frames)."""

    def __init__(self, server, path: str = "/ws", host: str = "x") -> None:
        self.sock = server.connect()
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
        self.file = self.sock.makefile("rb")
        self.head = b""
        while (line := self.file.readline()) not in (b"\r\n", b""):
            self.head += line

    def send(self, opcode: int, payload: bytes, fin: bool = True) -> None:
        key = os.urandom(4)
        masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        size = len(payload)
        length = (struct.pack("!B", 0x80 | size) if size < 126 else
                  struct.pack("!BH", 0x80 | 126, size) if size < 65536 else
                  struct.pack("!BQ", 0x80 | 127, size))
        self.sock.sendall(bytes([(0x80 if fin else 0) | opcode]) + length + key + masked)

    def recv(self) -> tuple[int, bytes]:
        first, second = self.file.read(2)
        size = second & 0x7F
        if size == 126:
            size = struct.unpack("!H", self.file.read(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", self.file.read(8))[0]
        return first & 0x0F, self.file.read(size)
