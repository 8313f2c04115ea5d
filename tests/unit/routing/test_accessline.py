"""routing._accessline: the access log's JSON line in C must be, byte for
byte, what accesslog's Python encoder writes for the same entry (it stays
as the reference, and writes what the C line leaves to it)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from fastsnake.routing import accesslog
from fastsnake.routing.accesslog import AccessLogger
from tests.unit.routing.test_accesslog import real_request, spec_for

RESP = [(b"server", b"fastsnake"), (b"content-type", b"text/plain; charset=utf-8"),
        (b"Content-Length", b"5")]

REQUESTS = [
    b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
    b"GET /caf%C3%A9?q=\"x\"&r=\\ HTTP/1.1\r\nHost: h:8080\r\nUser-Agent: a\tb \xe9\xff\r\n"
    b"Accept: */*\r\n\r\n",
    b"GET /a HTTP/1.0\r\nCookie: s=1\r\nAuthorization: Basic eA==\r\n\r\n",
    b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nX-Y: \"q\"\r\n\r\n0\r\n\r\n",
    b"GET /weird HTTP/1.1\r\nHost: x\r\nx_under.score: 1\r\nX-Empty:\r\n\r\n",
]


def python_line(logger: AccessLogger, request: Any, level: str, ts: float, status: int,
                duration: float, resp: list[tuple[bytes, bytes]]) -> bytes:
    # As LineLog.log hands them on: to the microsecond.
    ts, duration = micros(ts), micros(duration)
    return accesslog._json_line(level, ts, logger._logger, "handled request",
                                logger._fields(request, status, 5, duration, resp, 7))


def c_line(logger: AccessLogger, request: Any, level: str, ts: float, status: int,
           duration: float, resp: list[tuple[bytes, bytes]]) -> bytes | None:
    assert (level == "error") == (status >= 500)
    return logger.json_line(request, ts, status, 5, duration, resp, 7)


def micros(seconds: float) -> float:
    return math.floor(seconds * 1e6 + 0.5) / 1e6


@pytest.mark.parametrize("raw", REQUESTS)
@pytest.mark.parametrize("redact", [True, False])
def test_the_c_line_is_the_python_line(tmp_path: Path, raw: bytes, redact: bool) -> None:
    logger = AccessLogger(spec_for(tmp_path, name='lo"g\u00e9'), log_credentials=not redact)
    request = real_request(raw)
    for level, ts, status, duration in (("info", 1796408866.7565484, 200, 0.0123),
                                        ("error", 1.0, 503, 1e-05), ("info", 0.5, 204, 2.5e-07)):
        line = c_line(logger, request, level, ts, status, duration, RESP)
        assert line is not None
        assert line == python_line(logger, request, level, ts, status, duration, RESP)
    request.vars = {"client_ip": "198.51.100.4"}  # behind trusted proxies
    assert c_line(logger, request, "info", 2.0, 200, 0.1, RESP) == python_line(
        logger, request, "info", 2.0, 200, 0.1, RESP)
    logger.close()


def test_a_repeated_header_name_is_left_to_python(tmp_path: Path) -> None:
    logger = AccessLogger(spec_for(tmp_path))
    request = real_request(b"GET / HTTP/1.1\r\nHost: x\r\nX-Dup: 1\r\nx-dup: 2\r\n\r\n")
    assert c_line(logger, request, "info", 1.0, 200, 0.1, RESP) is None
    plain = real_request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    cookies = RESP + [(b"set-cookie", b"a=1"), (b"set-cookie", b"b=2")]
    assert c_line(logger, plain, "info", 1.0, 200, 0.1, cookies) is None
    # and what the logger writes for them is the Python encoder's line
    logger.log(request, 200, 5, 0.1, cookies, 7)
    logger.close()
    text = (tmp_path / "a.log").read_text()
    assert '"X-Dup":["1","2"]' in text and '"Set-Cookie":["REDACTED"]' in text


def test_times_are_written_as_repr_writes_them_to_the_microsecond(tmp_path: Path) -> None:
    logger = AccessLogger(spec_for(tmp_path))
    request = real_request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    durations = [k / 1e6 for k in range(0, 2100)] + [
        0.1, 0.5, 1.0, 1.25, 59.999999, 3600.0000004, 0.0000004, 0.0000005, 0.00009951,
        1e-4, 2.5e-07, 123456.7890123]
    stamps = [0.0, 1.0, 1700000000.0, 1796408866.7565484, 1796408866.0000005, 2e9 + 0.1234565]
    for duration in durations:
        assert c_line(logger, request, "info", 1.5, 200, duration, RESP) == python_line(
            logger, request, "info", 1.5, 200, duration, RESP), duration
    for ts in stamps:
        assert c_line(logger, request, "info", ts, 200, 0.001, RESP) == python_line(
            logger, request, "info", ts, 200, 0.001, RESP), ts
    logger.close()


def test_a_request_of_another_kind_is_left_to_python(tmp_path: Path) -> None:
    # The gevent worker logs its own request objects through the same logger.
    logger = AccessLogger(spec_for(tmp_path))
    other = real_request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert c_line(logger, other, "info", 1.0, 200, 0.1, RESP) is not None
    stand_in = type("GeventRequest", (), {"peer": ("127.0.0.1", 5), "vars": None})()
    assert c_line(logger, stand_in, "info", 1.0, 200, 0.1, RESP) is None
    logger.close()
