"""WSGI apps of the benchmark scenarios: the same module for every server."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

StartResponse = Callable[..., Any]
Environ = dict[str, Any]

HELLO = b"Hello, world!"
BIG = b"x" * (100 * 1024)
READ_BLOCK = 64 * 1024


def hello(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(HELLO)))])
    return [HELLO]


def big(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """A 100 KiB body in one piece."""
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(len(BIG)))])
    return [BIG]


def upload(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """Read the whole request body; answer with its length."""
    stream = environ["wsgi.input"]
    remaining = int(environ.get("CONTENT_LENGTH") or 0)
    total = 0
    while remaining > 0:
        block = stream.read(min(READ_BLOCK, remaining))
        if not block:
            break
        total += len(block)
        remaining -= len(block)
    body = str(total).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
