"""WebSocket frames: fastsnake's Cython codec vs websockets' (with its C apply_mask).

Parsing: 64 masked 64-byte binary frames, as a client sends them, fed at once
and read back as messages. Masking: 64 B and 64 KiB. Encoding: one unmasked
64-byte binary frame, as a server sends it.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from fastsnake import _websocket

frames = pytest.importorskip("websockets.frames")
streams = pytest.importorskip("websockets.streams")
speedups = pytest.importorskip("websockets.speedups")

PAYLOAD = os.urandom(64)
KEY = os.urandom(4)
COUNT = 64
BATCH = _websocket.encode_frame(_websocket.OP_BINARY, PAYLOAD, mask_key=KEY) * COUNT


def fastsnake_read_batch() -> int:
    reader = _websocket.FrameReader()
    reader.feed(BATCH)
    n = 0
    while reader.read_message() is not None:
        n += 1
    return n


def websockets_read_batch() -> int:
    reader = streams.StreamReader()
    reader.feed_data(BATCH)
    n = 0
    for _ in range(COUNT):
        parser = frames.Frame.parse(reader.read_exact, mask=True)
        try:
            next(parser)
        except StopIteration as done:
            frame = done.value
            assert frame.data == PAYLOAD
            n += 1
    return n


def test_fastsnake_parse_64_frames(benchmark: Any) -> None:
    assert benchmark(fastsnake_read_batch) == COUNT


def test_websockets_parse_64_frames(benchmark: Any) -> None:
    assert benchmark(websockets_read_batch) == COUNT


@pytest.mark.parametrize("size", [64, 65536])
def test_fastsnake_apply_mask(benchmark: Any, size: int) -> None:
    data = os.urandom(size)
    assert len(benchmark(_websocket.apply_mask, data, KEY)) == size


@pytest.mark.parametrize("size", [64, 65536])
def test_websockets_apply_mask(benchmark: Any, size: int) -> None:
    data = os.urandom(size)
    assert len(benchmark(speedups.apply_mask, data, KEY)) == size


def test_fastsnake_encode_frame(benchmark: Any) -> None:
    assert len(benchmark(_websocket.encode_frame, _websocket.OP_BINARY, PAYLOAD)) == 66


def test_websockets_encode_frame(benchmark: Any) -> None:
    frame = frames.Frame(frames.Opcode.BINARY, PAYLOAD)
    assert len(benchmark(frame.serialize, mask=False)) == 66
