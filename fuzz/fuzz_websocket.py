"""Fuzz fastsnake._websocket.FrameReader: any bytes, fed in any chunks, give
messages or WebSocketError, nothing else.

Checked for every input:
  * read_message() returns None or one of the documented tuples:
    (OP_TEXT, str), (OP_BINARY, bytes), (OP_PING, bytes), (OP_PONG, bytes),
    (OP_CLOSE, (int, str)); control payloads are at most 125 bytes and no
    message exceeds max_message_size;
  * the only exception is WebSocketError with code 1002, 1007 or 1009, and
    after one, every later read_message() raises the same error;
  * after a Close frame, read_message() returns None;
  * `buffered` is never negative.

Input layout:
  byte 0   bit 0: expect masked frames (a server's reader)
           bit 1: permessage-deflate on; bits 2-3: its no_context_takeover flags
           bits 4-7: number of split points (0..15)
  byte 1   max_message_size (0..255, times 16) and, with deflate, window bits
  bytes 2-3  seed for the split points
  the rest   the bytes received

    python fuzz/fuzz_websocket.py fuzz/corpus/websocket -max_total_time=60
See fuzz/README.md.
"""

from __future__ import annotations

import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from _fuzzlib import run_fuzzer  # noqa: E402

from fastsnake import _websocket as ws  # noqa: E402

CONTROL = (ws.OP_PING, ws.OP_PONG)


class Failure(AssertionError):
    pass


def split(data: bytes, count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    points = sorted({rng.randrange(0, len(data) + 1) for _ in range(count)} | {len(data)})
    chunks, start = [], 0
    for point in points:
        chunks.append(data[start:point])  # empty chunks too
        start = point
    return chunks


def check_message(message: object, limit: int) -> None:
    if not isinstance(message, tuple) or len(message) != 2:
        raise Failure(f"not an (opcode, payload) pair: {message!r}")
    opcode, payload = message
    if opcode == ws.OP_TEXT:
        ok = isinstance(payload, str) and len(payload.encode("utf-8")) <= limit
    elif opcode == ws.OP_BINARY:
        ok = isinstance(payload, bytes) and len(payload) <= limit
    elif opcode in CONTROL:
        ok = isinstance(payload, bytes) and len(payload) <= 125
    elif opcode == ws.OP_CLOSE:
        ok = (isinstance(payload, tuple) and len(payload) == 2
              and isinstance(payload[0], int) and isinstance(payload[1], str)
              and len(payload[1].encode("utf-8")) <= 123)
    else:
        ok = False
    if not ok:
        raise Failure(f"unexpected message {message!r:.200}")


def test_one_input(data: bytes) -> None:
    if len(data) < 4:
        return
    flags, size_byte = data[0], data[1]
    seed = int.from_bytes(data[2:4], "little")
    stream = data[4:]
    limit = size_byte * 16
    deflate = None
    if flags & 2:
        deflate = ws.PerMessageDeflate(
            server_no_context_takeover=bool(flags & 4),
            client_no_context_takeover=bool(flags & 8),
            server_max_window_bits=9 + size_byte % 7)
    reader = ws.FrameReader(max_message_size=limit, expect_masked=bool(flags & 1),
                            deflate=deflate)
    error = None
    closed = False
    for chunk in split(stream, flags >> 4, seed):
        reader.feed(chunk)
        while True:
            try:
                message = reader.read_message()
            except ws.WebSocketError as exc:
                if exc.code not in (1002, 1007, 1009):
                    raise Failure(f"WebSocketError with code {exc.code}") from exc
                if error is not None and (exc.code, exc.reason) != (error.code, error.reason):
                    raise Failure(f"a second, different error: {exc!r} after {error!r}") from exc
                error = exc
                break
            if error is not None:
                raise Failure(f"read_message returned {message!r} after {error!r}")
            if message is None:
                break
            if closed:
                raise Failure(f"a message after Close: {message!r:.200}")
            check_message(message, limit)
            if message[0] == ws.OP_CLOSE:
                closed = True
        if reader.buffered < 0:
            raise Failure(f"buffered = {reader.buffered}")
        if error is not None:
            try:  # the reader keeps raising the same error
                reader.read_message()
            except ws.WebSocketError as again:
                if again.code != error.code:
                    raise Failure(f"error changed: {error!r} then {again!r}") from again
            else:
                raise Failure(f"no error after {error!r}")


if __name__ == "__main__":
    run_fuzzer(test_one_input, sys.argv)
