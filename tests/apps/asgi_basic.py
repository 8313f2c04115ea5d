"""Raw ASGI app with one behaviour per path, for the functional tests."""

import asyncio
import contextvars
import hashlib
import json
import os
import sys
import tempfile
import weakref

STARTED = []


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        if os.environ.get("REJECT_LIFESPAN"):  # as Django's ASGI handler does
            raise ValueError("this app only handles http and websocket")
        await lifespan(scope, receive, send)
        return
    if scope["type"] == "websocket":
        await websocket(scope, receive, send)
        return
    # Route on the path below root_path, as frameworks do (handle_path mounts).
    path = scope["path"].removeprefix(scope.get("root_path", ""))
    handler = ROUTES.get(path)
    if handler is None:
        handler = scope_view if path.startswith("/scope") else not_found
    await handler(scope, receive, send)


async def lifespan(scope, receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if os.environ.get("FAIL_STARTUP"):
                await send({"type": "lifespan.startup.failed", "message": "told to fail"})
                return
            scope["state"]["greeting"] = "hello from lifespan"
            STARTED.append(os.getpid())
            print(f"lifespan startup in {os.getpid()}", file=sys.stderr, flush=True)
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            print(f"lifespan shutdown in {os.getpid()}", file=sys.stderr, flush=True)
            await send({"type": "lifespan.shutdown.complete"})
            return


async def respond(send, status, body, headers=()):
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain"), *headers]})
    await send({"type": "http.response.body", "body": body})


async def read_body(receive):
    chunks = []
    while True:
        message = await receive()
        assert message["type"] == "http.request"
        chunks.append(message["body"])
        if not message.get("more_body"):
            return b"".join(chunks)


async def hello(scope, receive, send):
    await respond(send, 200, b"hello")


async def not_found(scope, receive, send):
    await respond(send, 404, b"no such path")


async def scope_view(scope, receive, send):
    shown = {k: v for k, v in scope.items() if k in (
        "type", "asgi", "http_version", "method", "scheme", "path", "root_path")}
    shown["raw_path"] = scope["raw_path"].decode("latin-1")
    shown["query_string"] = scope["query_string"].decode("latin-1")
    shown["headers"] = [[n.decode("latin-1"), v.decode("latin-1")] for n, v in scope["headers"]]
    shown["client"] = list(scope["client"])
    shown["server"] = list(scope["server"])
    shown["state"] = scope.get("state")
    await respond(send, 200, json.dumps(shown).encode(), [(b"content-type", b"application/json")])


async def digest(scope, receive, send):
    data = await read_body(receive)
    await respond(send, 200, f"{len(data)} {hashlib.sha256(data).hexdigest()}".encode())


async def stream(scope, receive, send):
    count = int(scope["query_string"] or b"10")
    await send({"type": "http.response.start", "status": 200, "headers": []})
    for i in range(count):
        await send({"type": "http.response.body", "body": b"part %d\n" % i, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def endless(scope, receive, send):
    """Streams until the client leaves; logs when it notices."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    try:
        while True:
            await send({"type": "http.response.body", "body": b"x" * 65536, "more_body": True})
            await asyncio.sleep(0)
    finally:
        print("endless stream ended", file=sys.stderr, flush=True)


async def wait_disconnect(scope, receive, send):
    await read_body(receive)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"started", "more_body": True})
    message = await receive()
    print(f"got {message['type']}", file=sys.stderr, flush=True)


async def boom(scope, receive, send):
    raise RuntimeError("asgi boom from the test app")


async def boom_late(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"first", "more_body": True})
    raise RuntimeError("late asgi boom from the test app")


async def no_response(scope, receive, send):
    return


async def pathsend(scope, receive, send):
    size = int(scope["query_string"] or b"0")
    fd, path = tempfile.mkstemp()
    os.write(fd, (bytes(range(256)) * (size // 256 + 1))[:size])
    os.close(fd)
    try:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.pathsend", "path": path})
    finally:
        os.unlink(path)


async def websocket(scope, receive, send):
    message = await receive()
    assert message["type"] == "websocket.connect"
    path = scope["path"]
    if path == "/ws/reject":
        await send({"type": "websocket.close"})
        return
    if path == "/ws/deny":
        await send({"type": "websocket.http.response.start", "status": 401,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "websocket.http.response.body", "body": b"who are you?"})
        return
    subprotocol = scope["subprotocols"][0] if scope["subprotocols"] else None
    await send({"type": "websocket.accept", "subprotocol": subprotocol,
                "headers": [(b"x-test", b"accepted")]})
    if path == "/ws/close-first":
        await send({"type": "websocket.close", "code": 4001, "reason": "bye now"})
        message = await receive()
        print(f"after close: {message['type']}", file=sys.stderr, flush=True)
        return
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            print(f"ws disconnect {message['code']}", file=sys.stderr, flush=True)
            return
        if message.get("text") is not None:
            if message["text"] == "close please":
                await send({"type": "websocket.close", "code": 1000})
                continue
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


REQUEST_MARK = contextvars.ContextVar("request_mark", default="unset")
SEEN_TASKS: "weakref.WeakSet[asyncio.Task]" = weakref.WeakSet()  # ids get reused


async def task_view(scope, receive, send):
    """What the app's task looks like: a real, current Task of its own, a
    fresh context, and timeouts that work (they need a current task)."""
    task = asyncio.current_task()
    before = REQUEST_MARK.get()
    REQUEST_MARK.set("set by an earlier request")
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(5):
            await asyncio.sleep(0)
    else:
        await asyncio.wait_for(asyncio.sleep(0), 5)
    fresh = task not in SEEN_TASKS
    SEEN_TASKS.add(task)
    body = json.dumps({"is_task": isinstance(task, asyncio.Task), "fresh_task": fresh,
                       "same_after_await": asyncio.current_task() is task,
                       "mark_before": before}).encode()
    await respond(send, 200, body)


ROUTES = {
    "/hello": hello, "/scope": scope_view, "/digest": digest, "/stream": stream,
    "/endless": endless, "/wait-disconnect": wait_disconnect, "/boom": boom,
    "/boom-late": boom_late, "/no-response": no_response, "/pathsend": pathsend,
    "/task": task_view,
}
