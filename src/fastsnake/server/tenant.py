"""A tenant process: one dynamic app, served on a private Unix socket.

Started by the front worker that resolved the tenant (``server.tenants``)
as a fresh interpreter, ``python -m fastsnake.server.tenant``, never as a
fork of a worker whose loop is running. It reads its spec (a pickled
``TenantSpec``) from stdin, makes the tenant's environment the real
``os.environ``, imports the app (working_dir, venv, lifespan as the
directive says) and serves it with the ordinary protocol stack
(``_http.HttpProtocol`` and the app's adapter) on the socket. Its stdout
carries one line to the parent: ``ready``, or ``failed <why>``.

The client's address and scheme come in the ``x-fastsnake-client`` and
``x-fastsnake-proto`` fields, which the front worker always sets and strips
from what clients send; only the front can reach the socket (its folder is
mode 0700), so they are trusted here and removed before the app sees the
request. The app sees them as it would behind a trusted proxy.

It stops on SIGTERM/SIGINT (drain, lifespan shutdown, exit 0), and when
its parent dies (PR_SET_PDEATHSIG on Linux; elsewhere a watch on stdin,
which the parent holds open, reaching end of file).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import pickle
import signal
import socket
import sys
from dataclasses import dataclass
from typing import Any

from fastsnake import _http
from fastsnake._wsgi import WsgiPool
from fastsnake.apps.factory import AppFactory
from fastsnake.config.model import Listener, PythonApp
from fastsnake.request.httpdate import http_date
from fastsnake.server.lifecycle import configure_logging, die_with_parent
from fastsnake.server.loops import new_event_loop
from fastsnake.server.memory import HeapKeeper, settle_after_startup, tune_malloc

log = logging.getLogger("fastsnake.tenant")

TICK_SECONDS = 0.5


# The front's fields to the tenant process: who the client is, how it came,
# what handle_path took off the path (see below).
CLIENT_FIELD = b"x-fastsnake-client"
PROTO_FIELD = b"x-fastsnake-proto"
SCRIPT_NAME_FIELD = b"x-fastsnake-script-name"
PRIVATE_FIELDS = frozenset((CLIENT_FIELD, PROTO_FIELD, SCRIPT_NAME_FIELD))


@dataclass(frozen=True)
class TenantSpec:
    app: PythonApp            # resolved: no placeholders left
    environ: dict[str, str]   # the tenant's env_var / env_file values
    socket_path: str
    port: int                 # the front's port, for SERVER_PORT
    parent: int
    debug: bool = False
    server_log: Any = None
    grace_period: float = 30.0


class TenantRouter:
    """Takes the front's private fields off each request and hands it to
    the one app."""

    def __init__(self, handler: Any) -> None:
        self.handler = handler

    def select(self, request: Any) -> Any:
        headers = request.headers
        variables = {}
        for index in range(len(headers) - 1, -1, -1):
            name, value = headers[index]
            if name in PRIVATE_FIELDS:
                del headers[index]
                if name == CLIENT_FIELD:
                    variables["client_ip"] = value.decode("latin-1")
                elif name == PROTO_FIELD:
                    variables["forwarded_proto"] = value.decode("latin-1")
                else:
                    request.script_name = value
        if variables:
            request.vars = {**(request.vars or {}), **variables}
        return self.handler


def listen_unix(path: str) -> socket.socket:
    if os.path.exists(path):
        os.unlink(path)  # a crashed predecessor's
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    os.chmod(path, 0o600)
    sock.listen(1024)
    sock.setblocking(False)
    return sock


async def serve(spec: TenantSpec, ready: Any) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    heap = HeapKeeper()

    def tick() -> None:
        _http.tick(loop.time(), http_date().encode("ascii"))
        heap.tick(_http.request_count())
        loop.call_later(TICK_SECONDS, tick)

    tick()
    app = dataclasses.replace(spec.app, proxy_headers=True)
    executor = WsgiPool(app.threads, loop) if app.threads else None
    factory = AppFactory(loop, Listener("", spec.port, (), workers=1), executor)
    generation = await factory.create(app)
    settle_after_startup()
    router = TenantRouter(generation.handler)
    limits = _http.Limits(idle_timeout=0.0)  # the front's pool decides when to close
    sock = listen_unix(spec.socket_path)
    server = await loop.create_server(
        lambda: _http.HttpProtocol(loop, generation.handler, limits, router), sock=sock)
    ready()
    await stop.wait()
    server.close()
    _http.begin_drain(1.0)
    deadline = loop.time() + spec.grace_period
    while _http.connection_count() and loop.time() < deadline:
        await asyncio.sleep(0.05)
    _http.abort_all()
    await generation.wait_cleaned()  # lifespan shutdown
    if executor is not None:
        executor.shutdown(wait=False)


def main() -> int:
    spec: TenantSpec = pickle.load(sys.stdin.buffer)
    die_with_parent(spec.parent)
    os.environ.update(spec.environ)
    configure_logging(spec.debug, spec.server_log)
    tune_malloc()
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # the app's prints go to the log

    def ready() -> None:
        out.write("ready\n")
        out.flush()

    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(serve(spec, ready))
    except Exception as exc:
        log.exception("tenant %s failed to start", spec.app.target)
        try:
            out.write(f"failed {type(exc).__name__}: {exc}\n".replace("\n", " ") + "\n")
            out.flush()
        except OSError:
            pass
        return 3
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
