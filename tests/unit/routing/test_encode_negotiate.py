"""``encode``'s choice of format for a request's Accept-Encoding, with the
per-value memo: the same answers whether remembered or not, and a memo
that stops growing. Requests come from the real parser."""

from __future__ import annotations

import pytest

from fastsnake.config.directives import Encode
from fastsnake.routing._walk import NEGOTIATED
from fastsnake.routing.compiler import Encoder
from tests.unit.request.test_matchers import request

CASES = [
    ((), None),
    (("Accept-Encoding: gzip",), b"gzip"),
    (("Accept-Encoding: gzip;q=0.5, zstd",), b"zstd"),
    (("Accept-Encoding: zstd;q=0, gzip;q=0.1",), b"gzip"),
    (("Accept-Encoding: br",), None),
    (("Accept-Encoding: *",), b"zstd"),
    (("Accept-Encoding: *;q=0.2, gzip;q=0.9",), b"gzip"),
    (("Accept-Encoding: gzip;q=bad",), None),
    # Two header lines: both count (not remembered as one value).
    (("Accept-Encoding: br", "Accept-Encoding: gzip"), b"gzip"),
    (("Accept-Encoding: gzip", "Accept-Encoding: gzip;q=0"), None),
]


@pytest.mark.parametrize(("headers", "chosen"), CASES)
def test_choice_is_the_same_the_first_time_and_after(headers: tuple[str, ...],
                                                      chosen: bytes | None) -> None:
    encoder = Encoder(Encode(("zstd", "gzip")))
    for _ in range(3):
        assert encoder.negotiate(request(headers=headers)) == chosen


def test_the_memo_is_bounded() -> None:
    encoder = Encoder(Encode(("gzip",)))
    for n in range(NEGOTIATED + 20):
        value = f"gzip;q=0.{n % 9 + 1}, x-{n}"
        assert encoder.negotiate(request(headers=(f"Accept-Encoding: {value}",))) == b"gzip"
    assert len(encoder.chosen) == NEGOTIATED
    assert encoder.negotiate(request(headers=("Accept-Encoding: identity",))) is None
    assert len(encoder.chosen) == NEGOTIATED
