"""WSGI and ASGI apps for the hardening tests (test_hardening_*.py in
tests/unit/protocol/ and tests/functional/).

Both answer by path:
  /echo...     "METHOD PATH?QUERY host=HOST" and the request body
  /environ     (WSGI) one "KEY=VALUE" line per HTTP_* / CONTENT_* key
  /scope       (ASGI) one "name: value" line per scope header
  /inject/N    tries to send a response header with CR/LF/NUL (case N)
  /endless     streams 64 KiB blocks until the client goes away
  /slow-body   reads the body, then answers after ?SECONDS (ASGI only)
anything else: "hello".
"""

import asyncio
import sys

# What an app tries to smuggle into a response head: (status, headers).
INJECTIONS = [
    ("200 OK", [("X-A", "1\r\nSet-Cookie: evil=1")]),
    ("200 OK", [("X-A", "1\nSet-Cookie: evil=1")]),
    ("200 OK", [("X-A", "1\rSet-Cookie: evil=1")]),
    ("200 OK", [("X-A", "1\x00Set-Cookie: evil=1")]),
    ("200 OK", [("X-A\r\nSet-Cookie", "evil=1")]),
    ("200 OK", [("X-A: 1\r\nSet-Cookie", "evil=1")]),
    ("200 OK\r\nSet-Cookie: evil=1", [("X-A", "1")]),
]


def wsgi_app(environ, start_response):
    path = environ["PATH_INFO"]
    if path.startswith("/echo"):
        body = environ["wsgi.input"].read()
        head = (f"{environ['REQUEST_METHOD']} {path}?{environ['QUERY_STRING']} "
                f"host={environ.get('HTTP_HOST')}\n")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [head.encode("latin-1"), body]
    if path == "/environ":
        environ["wsgi.input"].read()
        lines = sorted(f"{k}={v}" for k, v in environ.items()
                       if k.startswith(("HTTP_", "CONTENT_")))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return ["\n".join(lines).encode("latin-1")]
    if path.startswith("/inject/"):
        status, headers = INJECTIONS[int(path.rsplit("/", 1)[1])]
        start_response(status, headers)
        return [b"must never be sent"]
    if path == "/endless":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return endless_blocks()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def endless_blocks():
    block = b"x" * 65536
    try:
        while True:
            yield block
    finally:
        print("endless stream ended", file=sys.stderr, flush=True)


async def asgi_app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    path = scope["path"]
    body = await read_body(receive)
    if path.startswith("/echo"):
        host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
        query = scope["query_string"].decode("latin-1")
        head = f"{scope['method']} {path}?{query} host={host}\n"
        await respond(send, 200, [(b"content-type", b"text/plain")],
                      head.encode("latin-1") + body)
    elif path == "/scope":
        lines = [f"{n.decode('latin-1')}: {v.decode('latin-1')}" for n, v in scope["headers"]]
        await respond(send, 200, [], "\n".join(lines).encode("latin-1"))
    elif path.startswith("/inject/"):
        status, headers = INJECTIONS[int(path.rsplit("/", 1)[1])]
        if "\r" in status:  # ASGI's status is an int: inject through a header instead
            headers = [("X-Status", status)]
        await respond(send, 200, [(n.encode("latin-1"), v.encode("latin-1"))
                                  for n, v in headers], b"must never be sent")
    elif path == "/slow-body":
        await asyncio.sleep(float(scope["query_string"] or b"1"))
        await respond(send, 200, [], b"slow %d" % len(body))
    elif path == "/endless":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            while True:
                await send({"type": "http.response.body", "body": b"x" * 65536,
                            "more_body": True})
        finally:
            print("endless stream ended", file=sys.stderr, flush=True)
    else:
        await respond(send, 200, [], b"hello")


async def read_body(receive):
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def respond(send, status, headers, body):
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
