"""On-demand TLS at the first handshake (Caddy's ``tls { on_demand }``).

Python's SNI callback runs inside the handshake and cannot wait for a CA,
so a listener with on-demand sites reads the server name *before* the
handshake: it accepts the connection itself, peeks at the ClientHello
(``MSG_PEEK``: the bytes stay in the socket for the TLS layer), and when no
certificate is stored for the name, asks the supervisor's certificate
manager for one and waits (without blocking the event loop) until it is
stored, refused, or too long in coming. Only then does the TLS handshake
start, so the very first client gets the new certificate.

Worker and supervisor talk through the data directory, as for the ACME
challenges: the worker writes ``on_demand/requests/<name>``; the
supervisor's watcher (``RequestWatcher``) asks the manager, which checks the
``ask`` endpoint and its rate limit before any CA request, and writes
``on_demand/refused/<name>`` when it will not get one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from fastsnake.certs.storage import Storage

log = logging.getLogger("fastsnake.certs.on_demand")

REQUESTS = "on_demand/requests"
REFUSED = "on_demand/refused"
HELLO_TIMEOUT = 10.0      # a client that sends no ClientHello in this long is dropped
OBTAIN_TIMEOUT = 60.0     # the longest a handshake waits for a new certificate
_NAME = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")


# -- the ClientHello


def client_hello_name(data: bytes) -> str | None:
    """The server name (SNI) of a TLS ClientHello, "" when it names none.
    None while more bytes are needed; ValueError when it is no ClientHello."""
    if len(data) < 5:
        return None
    if data[0] != 0x16:
        raise ValueError("not a TLS handshake record")
    record_end = 5 + int.from_bytes(data[3:5], "big")
    if len(data) < record_end:
        return None
    body = data[5:record_end]
    if len(body) < 4 or body[0] != 0x01:
        raise ValueError("not a ClientHello")
    hello_end = 4 + int.from_bytes(body[1:4], "big")
    if hello_end > len(body):
        return ""  # a ClientHello spread over records: let the SNI callback judge it
    at = 4 + 2 + 32                      # version, random
    at += 1 + body[at]                   # session id
    at += 2 + int.from_bytes(body[at:at + 2], "big")  # cipher suites
    at += 1 + body[at]                   # compression methods
    if at + 2 > hello_end:
        return ""
    end = min(hello_end, at + 2 + int.from_bytes(body[at:at + 2], "big"))
    at += 2
    while at + 4 <= end:
        kind = int.from_bytes(body[at:at + 2], "big")
        size = int.from_bytes(body[at + 2:at + 4], "big")
        at += 4
        if kind == 0 and size >= 5:      # server_name: list length, type 0, length, name
            length = int.from_bytes(body[at + 3:at + 5], "big")
            return body[at + 5:at + 5 + length].decode("ascii", "replace").lower()
        at += size
    return ""


async def peek_server_name(loop: asyncio.AbstractEventLoop, conn: socket.socket) -> str | None:
    """The SNI of the ClientHello waiting on ``conn``, "" without one, None
    when the client went away, sent something else or took too long."""
    deadline = loop.time() + HELLO_TIMEOUT
    fd = conn.fileno()
    while True:
        ready: asyncio.Future[None] = loop.create_future()
        loop.add_reader(fd, _settle, ready)
        try:
            await asyncio.wait_for(ready, max(0.0, deadline - loop.time()))
        except asyncio.TimeoutError:
            return None
        finally:
            loop.remove_reader(fd)
        try:
            data = conn.recv(16389, socket.MSG_PEEK)
        except BlockingIOError:
            continue
        except OSError:
            return None
        if not data:
            return None
        try:
            name = client_hello_name(data)
        except ValueError:
            return ""  # not TLS: the handshake will fail on its own
        if name is not None:
            return name
        # Part of the ClientHello so far: the socket stays readable until
        # the rest comes, so look again shortly instead of spinning.
        await asyncio.sleep(0.005)
        if loop.time() > deadline:
            return None


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


# -- worker side


class CertificateRequester:
    """Asks the supervisor for a certificate and waits for it (or a no)."""

    def __init__(self, storage_root: str, has_certificate: Callable[[str], bool]) -> None:
        self.storage = Storage(storage_root)
        self.has_certificate = has_certificate
        self.waiting: dict[str, asyncio.Future[bool]] = {}

    async def obtain(self, name: str) -> bool:
        if not _NAME.match(name) or self.has_certificate(name):
            return self.has_certificate(name)
        pending = self.waiting.get(name)
        if pending is None:
            pending = asyncio.ensure_future(self._obtain(name))
            self.waiting[name] = pending
            pending.add_done_callback(lambda _: self.waiting.pop(name, None))
        return await asyncio.shield(pending)

    async def _obtain(self, name: str) -> bool:
        asked = time.time()
        self.storage.write(f"{REQUESTS}/{name}", b"%f" % asked)
        deadline = time.monotonic() + OBTAIN_TIMEOUT
        refused = self.storage.path(f"{REFUSED}/{name}")
        while time.monotonic() < deadline:
            if self.has_certificate(name):
                return True
            try:
                if os.stat(refused).st_mtime >= asked - 1:
                    return False
            except OSError:
                pass
            await asyncio.sleep(0.1)
        log.warning("no certificate for %s after %.0f s: the handshake goes on without it",
                    name, OBTAIN_TIMEOUT)
        return False


class OnDemandAcceptor:
    """Accepts a TLS listener's connections itself, so that a name with no
    certificate yet gets one before its handshake starts."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket,
                 protocol: Callable[[], Any], context: Any,
                 requester: CertificateRequester) -> None:
        self.loop = loop
        self.sock = sock
        self.protocol = protocol
        self.context = context
        self.requester = requester
        self.task: asyncio.Task[None] | None = None
        self.connections: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self.sock.setblocking(False)
        self.task = self.loop.create_task(self.accept_forever())

    def close(self) -> None:
        if self.task is not None:
            self.task.cancel()

    async def accept_forever(self) -> None:
        while True:
            try:
                conn, _ = await self.loop.sock_accept(self.sock)
            except OSError as exc:
                log.warning("accept failed: %s", exc)
                await asyncio.sleep(0.1)
                continue
            task = self.loop.create_task(self.handshake_later(conn))
            self.connections.add(task)
            task.add_done_callback(self.connections.discard)

    async def handshake_later(self, conn: socket.socket) -> None:
        try:
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            name = await peek_server_name(self.loop, conn)
            if name is None:
                conn.close()
                return
            if name:
                await self.requester.obtain(name)
            await self.loop.connect_accepted_socket(self.protocol, conn, ssl=self.context)
        except Exception:  # a failed handshake, or the client gone meanwhile
            conn.close()


# -- supervisor side


class RequestWatcher:
    """Hands the workers' requests to the certificate manager, one thread
    per name (an order takes seconds; other names must not wait behind it)."""

    def __init__(self, storage_root: str, obtain_now: Callable[[str], bool],
                 interval: float = 0.1) -> None:
        self.storage = Storage(storage_root)
        self.obtain_now = obtain_now
        self.interval = interval
        self.stopping = threading.Event()
        self.busy: set[str] = set()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.run, name="fastsnake-on-demand",
                                       daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(5)

    def run(self) -> None:
        folder = self.storage.path(REQUESTS)
        while not self.stopping.wait(self.interval):
            try:
                names = os.listdir(folder)
            except OSError:
                continue
            for name in names:
                if name.startswith(".") or not _NAME.match(name):
                    continue
                with self.lock:
                    if name in self.busy:
                        continue
                    self.busy.add(name)
                self.storage.delete(f"{REQUESTS}/{name}")
                threading.Thread(target=self.serve, args=(name,), daemon=True).start()

    def serve(self, name: str) -> None:
        try:
            obtained = self.obtain_now(name)
        except Exception:
            log.exception("on-demand certificate for %s", name)
            obtained = False
        finally:
            with self.lock:
                self.busy.discard(name)
        if not obtained:
            self.storage.write(f"{REFUSED}/{name}", b"no\n")
