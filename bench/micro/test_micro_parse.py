"""Parsing a typical browser request: fastsnake's protocol vs httptools' parser.

fastsnake: HttpProtocol.data_received on a FakeTransport with no handler, so
each call parses the request with llhttp, builds the HttpRequest and answers
the empty 200 that Caddy gives an unrouted request (head serialisation and a
counted write are included: an upper bound on the parse).
httptools: HttpRequestParser.feed_data with callbacks that collect the same
things uvicorn's protocol collects (URL, header list, method, keep-alive).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from inprocess import BROWSER_REQUEST, FakeTransport
from peers import import_peer

from fastsnake import _http

# httptools is compiled: from this env, else from the uvicorn bench venv
# (same interpreter); its benchmark is skipped when neither has it.
httptools: Any = import_peer("httptools", "uvicorn")


def test_fastsnake_protocol_parse(benchmark: Any, loop: asyncio.AbstractEventLoop) -> None:
    proto = _http.HttpProtocol(loop, None, _http.Limits(), None)
    transport = FakeTransport()
    proto.connection_made(transport)
    benchmark(proto.data_received, BROWSER_REQUEST)
    assert transport.written and not transport.closed


class Collector:
    def __init__(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.parser: Any = None
        self.done = 0

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self.method = self.parser.get_method()
        self.keep_alive = self.parser.should_keep_alive()
        self.parsed = httptools.parse_url(self.url)

    def on_message_complete(self) -> None:
        self.done += 1


def test_httptools_parse(benchmark: Any) -> None:
    if httptools is None:
        pytest.skip("httptools is not installed (python bench/run.py installs it)")
    collector = Collector()
    parser = httptools.HttpRequestParser(collector)
    collector.parser = parser
    benchmark(parser.feed_data, BROWSER_REQUEST)
    assert collector.done and len(collector.headers) == 15


@pytest.mark.parametrize("count", [16])
def test_fastsnake_protocol_pipelined(benchmark: Any, loop: asyncio.AbstractEventLoop,
                                      count: int) -> None:
    """16 pipelined requests in one read (answered in order)."""
    proto = _http.HttpProtocol(loop, None, _http.Limits(), None)
    transport = FakeTransport()
    proto.connection_made(transport)
    benchmark(proto.data_received, BROWSER_REQUEST * count)
    assert not transport.closed
