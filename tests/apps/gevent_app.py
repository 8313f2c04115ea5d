"""WSGI app for the runtime gevent tests: it blocks as plain WSGI apps do
(threading primitives, time.sleep), which only a monkey-patched worker
turns into greenlet switches."""

import os
import sys
import threading
import time

# Made at import, so after the worker patched threading: a gevent primitive.
CONCURRENT = 20
barrier = threading.Barrier(CONCURRENT)


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/barrier":
        # Passes only once CONCURRENT requests are inside the app at once.
        barrier.wait(timeout=60)
        body = b"through"
    elif path == "/patched":
        import gevent.monkey

        body = str(gevent.monkey.is_module_patched("socket")).encode()
    elif path == "/sleep":
        print("sleep started", file=sys.stderr, flush=True)
        time.sleep(float(environ.get("QUERY_STRING") or "1"))
        body = b"slept"
    elif path == "/pid":
        body = str(os.getpid()).encode()
    elif path == "/mount":
        body = f"{environ['SCRIPT_NAME']}|{environ['PATH_INFO']}".encode()
    elif path == "/boom":
        raise RuntimeError("boom from the gevent test app")
    elif path == "/echo":
        body = environ["wsgi.input"].read()
    else:
        body = b"hello"
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
