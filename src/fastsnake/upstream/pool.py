"""Connections to one upstream server, kept alive between requests.

An ``UpstreamConnection`` is an asyncio protocol that hands whatever it
reads to the relay that holds it (one at a time: HTTP/1.1 carries one
exchange per connection). A relay that ends with the connection still
clean gives it back to the pool; any doubt (a cut response, an upgrade)
closes it instead, so a reused connection never carries leftovers.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

# Idle connections kept per upstream; more are closed when given back.
MAX_IDLE = 16


class ConnectionUser(Protocol):
    def on_upstream_data(self, data: bytes) -> None: ...
    def on_upstream_lost(self, exc: Exception | None) -> None: ...
    def on_upstream_writable(self) -> None: ...
    def on_upstream_full(self) -> None: ...


class UpstreamConnection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: Any = None
        self.user: ConnectionUser | None = None
        self.closed = False
        self.reused = False  # it carried an exchange before (it may be closing as we write)

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.user is not None:
            self.user.on_upstream_data(data)
        else:  # an idle connection has nothing to say: it is broken
            self.transport.abort()

    def eof_received(self) -> bool:
        return False  # close; the relay hears connection_lost

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        user, self.user = self.user, None
        if user is not None:
            user.on_upstream_lost(exc)

    def pause_writing(self) -> None:
        if self.user is not None:
            self.user.on_upstream_full()

    def resume_writing(self) -> None:
        if self.user is not None:
            self.user.on_upstream_writable()

    def write(self, data: Any) -> None:
        self.transport.write(data)

    def pause_reading(self) -> None:
        if not self.closed:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if not self.closed:
            self.transport.resume_reading()

    def close(self) -> None:
        self.user = None
        if not self.closed:
            self.transport.abort()


class UnixPool:
    """Connections to a server on a Unix socket."""

    def __init__(self, loop: asyncio.AbstractEventLoop, path: str) -> None:
        self.loop = loop
        self.path = path
        self.idle: list[UpstreamConnection] = []
        self.closed = False

    def take_idle(self, user: ConnectionUser) -> UpstreamConnection | None:
        """An idle connection, at once, or None."""
        while self.idle:
            conn = self.idle.pop()
            if not conn.closed:
                conn.user = user
                return conn
        return None

    async def acquire(self, user: ConnectionUser, fresh: bool = False) -> UpstreamConnection:
        """An idle connection, or a new one (always a new one when fresh)."""
        conn = None if fresh else self.take_idle(user)
        if conn is not None:
            return conn
        _, conn = await self.loop.create_unix_connection(UpstreamConnection, self.path)
        conn.user = user
        return conn

    def release(self, conn: UpstreamConnection) -> None:
        conn.user = None
        conn.reused = True
        if self.closed or conn.closed or len(self.idle) >= MAX_IDLE:
            conn.close()
            return
        conn.resume_reading()
        self.idle.append(conn)

    def close(self) -> None:
        self.closed = True
        for conn in self.idle:
            conn.close()
        self.idle.clear()
