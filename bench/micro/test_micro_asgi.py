"""ASGI: the scope, and whole requests in-process vs uvicorn's httptools protocol.

uvicorn builds its scope inside its httptools callbacks, so its scope cannot be
timed alone; the fair comparison is the whole path on a FakeTransport: parse,
scope, app task, response head and body writes, 100 keep-alive requests per
call. Both servers send Date and Server; uvicorn runs without the proxy-headers
middleware and access log. Response-head serialisation is the difference
between the 2-header and the 12-header app of the same server.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asgi_apps
import pytest
from inprocess import (
    BROWSER_REQUEST,
    CaptureHandler,
    fastsnake_connection,
    uvicorn_connection,
)

from fastsnake._asgi import AsgiHandler

EXTRA_HEADERS = [(b"x-header-%d" % i, b"value number %d, of a typical length" % i)
                 for i in range(10)]


async def many_headers(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": asgi_apps.TEXT_HEADERS + EXTRA_HEADERS})
    await send({"type": "http.response.body", "body": asgi_apps.HELLO})


APPS = {"2-headers": asgi_apps.hello, "12-headers": many_headers}


def test_fastsnake_scope(benchmark: Any, loop: asyncio.AbstractEventLoop) -> None:
    captured = CaptureHandler(loop, BROWSER_REQUEST)
    handler = AsgiHandler(asgi_apps.hello, loop=loop)
    scope = benchmark(handler.scope_for, captured.protocol, captured.request)
    assert scope["path"] == "/articles/2024/fast-python-servers"


@pytest.mark.parametrize("app", list(APPS))
def test_fastsnake_asgi_x100(benchmark: Any, loop: asyncio.AbstractEventLoop,
                             app: str) -> None:
    connection = fastsnake_connection(loop, "asgi", APPS[app], BROWSER_REQUEST)
    benchmark(connection.serve)


@pytest.mark.parametrize("app", list(APPS))
def test_uvicorn_asgi_x100(benchmark: Any, loop: asyncio.AbstractEventLoop, app: str) -> None:
    pytest.importorskip("uvicorn.protocols.http.httptools_impl")
    connection = uvicorn_connection(loop, APPS[app], BROWSER_REQUEST)
    benchmark(connection.serve)
