"""BodyInput (wsgi.input over the body's chunks) reads exactly as a BytesIO
over the joined body would, however the body was split and read."""

from __future__ import annotations

import io

from hypothesis import given
from hypothesis import strategies as st

from fastsnake._wsgi import BodyInput

bodies = st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\x00", b"\n")), max_size=8)
operations = st.lists(st.tuples(st.sampled_from(["read", "readline", "readlines", "next"]),
                                st.integers(min_value=-1, max_value=50)), max_size=12)


def apply(stream, operation: str, size: int):
    if operation == "read":
        return stream.read(size)
    if operation == "readline":
        return stream.readline(size)
    if operation == "readlines":
        return stream.readlines(size)
    return next(stream, b"<end>")


@given(bodies, operations)
def test_reads_match_a_bytesio_of_the_joined_body(chunks, ops):
    body = b"".join(chunks)
    ours, reference = BodyInput(list(chunks), len(body)), io.BytesIO(body)
    for operation, size in ops:
        assert apply(ours, operation, size) == apply(reference, operation, size)
    assert ours.read() == reference.read()


def test_a_read_of_a_whole_chunk_returns_that_chunk_without_copying():
    first, second = b"a" * 1000, b"b" * 1000
    stream = BodyInput([first, second], 2000)
    assert stream.read(1000) is first
    assert stream.read(5000) is second
    assert stream.read() == b""


def test_iteration_yields_lines_across_chunks():
    stream = BodyInput([b"one\ntw", b"o\nthr", b"ee"], 13)
    assert list(stream) == [b"one\n", b"two\n", b"three"]

