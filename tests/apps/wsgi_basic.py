"""WSGI app with one behaviour per path, for the functional tests."""

import hashlib
import os
import sys
import tempfile
import time


def app(environ, start_response):
    path = environ["PATH_INFO"]
    handler = ROUTES.get(path)
    if handler is None:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"no such path\n"]
    return handler(environ, start_response)


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def whoami(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{os.getpid()} {environ['REMOTE_PORT']} {environ['SERVER_NAME']}".encode()]


def digest(environ, start_response):
    data = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{len(data)} {hashlib.sha256(data).hexdigest()}".encode()]


def big(environ, start_response):
    size = int(environ["QUERY_STRING"] or "0")
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    block = bytes(range(256)) * 4096  # 1 MiB

    def blocks():
        left = size
        while left > 0:
            piece = block[: min(left, len(block))]
            left -= len(piece)
            yield piece

    return blocks()


def file(environ, start_response):
    """A file of the asked size (bytes 0..255 repeating) via wsgi.file_wrapper."""
    size = int(environ["QUERY_STRING"] or "0")
    spool = tempfile.TemporaryFile()
    spool.write((bytes(range(256)) * (size // 256 + 1))[:size])
    spool.seek(0)
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return environ["wsgi.file_wrapper"](spool, 65536)


def stream(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return (b"part %d\n" % i for i in range(10))


def boom(environ, start_response):
    raise RuntimeError("boom from the test app")


def boom_late(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])

    def parts():
        yield b"first part"
        raise RuntimeError("late boom from the test app")

    return parts()


def bad_header(environ, start_response):
    start_response("200 OK", [("X-Injected", "a\r\nSet-Cookie: evil=1")])
    return [b"never sent"]


def slow(environ, start_response):
    print("slow request started", file=sys.stderr, flush=True)
    time.sleep(float(environ["QUERY_STRING"] or "1"))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"slow done"]


def headers(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    lines = sorted(f"{k}={v}" for k, v in environ.items()
                   if k.startswith("HTTP_") or k in ("CONTENT_TYPE", "CONTENT_LENGTH",
                                                     "SERVER_NAME", "SERVER_PORT",
                                                     "PATH_INFO", "QUERY_STRING",
                                                     "SCRIPT_NAME", "REMOTE_ADDR"))
    return ["\n".join(lines).encode("latin-1")]


def close(environ, start_response):
    """Asks the server to close the connection after this response."""
    start_response("200 OK", [("Content-Type", "text/plain"), ("Connection", "close")])
    return [b"bye"]


def legacy_write(environ, start_response):
    """The write() callable start_response returns, then a returned body."""
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"written, ")
    return [b"then returned"]


ROUTES = {
    "/hello": hello, "/whoami": whoami, "/digest": digest, "/big": big, "/stream": stream,
    "/file": file,
    "/boom": boom, "/boom-late": boom_late, "/bad-header": bad_header, "/slow": slow,
    "/headers": headers, "/close": close, "/write": legacy_write,
}
