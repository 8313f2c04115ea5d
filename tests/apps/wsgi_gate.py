"""A WSGI app whose /hold requests run until a /release request comes: a
request that is certainly still running while others are served, with no
timing in the test."""

from __future__ import annotations

import sys
import threading

released = threading.Event()


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/hold":
        print("hold started", file=sys.stderr, flush=True)
        # Bounded so that a failing test leaves no thread behind for ever.
        body = b"held" if released.wait(60) else b"never released"
    elif path == "/release":
        released.set()
        body = b"released"
    else:
        body = b"fast " + path.encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
