"""WSGI: building the environ, and a whole hello request in-process.

The environ: fastsnake's WsgiHandler.environ_for on an HttpRequest parsed from
the browser request, vs gunicorn's http.wsgi.create (from this env or the
bench venv; it also makes gunicorn's Response object) and wsgiref's
WSGIRequestHandler.get_environ (given already-parsed headers).
"""

from __future__ import annotations

import asyncio
import io
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

import pytest
import wsgi_apps
from inprocess import BROWSER_REQUEST, PEER, SOCKNAME, CaptureHandler, fastsnake_connection
from peers import import_peer

from fastsnake._wsgi import WsgiHandler


def test_fastsnake_environ(benchmark: Any, loop: asyncio.AbstractEventLoop) -> None:
    captured = CaptureHandler(loop, BROWSER_REQUEST)
    handler = WsgiHandler(wsgi_apps.hello, server_port=SOCKNAME[1])
    environ = benchmark(handler.environ_for, captured.protocol, captured.request)
    assert environ["HTTP_USER_AGENT"].startswith("Mozilla")


def test_gunicorn_environ(benchmark: Any) -> None:
    gwsgi = import_peer("gunicorn.http.wsgi", "gunicorn")
    if gwsgi is None:
        pytest.skip("gunicorn is not importable (python bench/run.py installs it)")
    from gunicorn.config import Config
    from gunicorn.http.parser import RequestParser

    cfg = Config()
    request = next(iter(RequestParser(cfg, iter([BROWSER_REQUEST]), PEER)))
    _, environ = benchmark(gwsgi.create, request, None, PEER, SOCKNAME, cfg)
    assert environ["HTTP_USER_AGENT"].startswith("Mozilla")


class _Server:
    base_environ: dict[str, Any] = {}


def test_wsgiref_environ(benchmark: Any) -> None:
    server = WSGIServer.__new__(WSGIServer)
    server.server_name, server.server_port = "localhost", SOCKNAME[1]
    server.setup_environ()
    handler = WSGIRequestHandler.__new__(WSGIRequestHandler)
    handler.rfile = io.BytesIO(BROWSER_REQUEST)
    handler.wfile = io.BytesIO()
    handler.raw_requestline = handler.rfile.readline()
    assert handler.parse_request()
    handler.server = server  # type: ignore[assignment]
    handler.client_address = PEER
    environ = benchmark(handler.get_environ)
    assert environ["HTTP_USER_AGENT"].startswith("Mozilla")


def test_fastsnake_wsgi_hello_x100(benchmark: Any, loop: asyncio.AbstractEventLoop) -> None:
    """100 keep-alive requests: parse, environ, app, head, write (no syscalls)."""
    connection = fastsnake_connection(loop, "wsgi", wsgi_apps.hello, BROWSER_REQUEST)
    benchmark(connection.serve)
