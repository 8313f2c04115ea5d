"""The relay of one exchange to an upstream HTTP/1.1 server.

Theory of operation. ``begin`` starts a task that waits for the upstream
(``Target.ready``: a tenant process may be starting), takes a pooled
connection and writes the request head, re-serialised from the parsed
request (hop-by-hop fields dropped, RFC 9110 section 7.6.1), and the body
as it arrives: with its Content-Length, or re-chunked. Body that arrives
before the connection is kept, with the client's reading paused, so at most
one read waits. The answer is parsed here (status line, fields, then the
body by Content-Length, chunked or until close, RFC 9112 section 6.3) and
handed to the client's Channel, which frames it afresh. A 101 turns the
exchange into a tunnel: bytes pass both ways untouched.

Flow control both ways: the client's socket full pauses reading from the
upstream; the upstream's full pauses reading the client's body.

Failures: no upstream (it cannot start, or refuses the connection) is the
status ``UpstreamUnavailable`` carries; an upstream that goes away before its
head is 502, and after it the client's response is cut (``abort_response``)
so that the client cannot mistake it for a whole one. One exception: a kept-
alive connection the upstream closed just as the request went out (its idle
timeout crossed our write) said nothing at all; a request without a body and
with an idempotent method (RFC 9110 9.2.2) is then sent once more, on a new
connection, as clients do (RFC 9112 9.3.1). An upstream that answers with
``Connection: close`` (or HTTP/1.0 without keep-alive) is not pooled.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from fastsnake.upstream.pool import UnixPool, UpstreamConnection

log = logging.getLogger("fastsnake.upstream")

# Fields that speak of one connection, not of the message (RFC 9110 7.6.1),
# and those this relay writes itself.
HOP_BY_HOP = frozenset((b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer",
                        b"transfer-encoding", b"upgrade", b"content-length", b"expect"))
# The client's Channel writes its own Date, and frames the body itself.
RESPONSE_DROPPED = frozenset((b"connection", b"keep-alive", b"transfer-encoding",
                              b"content-length", b"date"))
MAX_HEAD = 64 * 1024
# Methods a request may be repeated with (RFC 9110 9.2.2).
IDEMPOTENT = frozenset((b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"))

# Response body framing.
HEAD, LENGTH, CHUNKED, UNTIL_CLOSE, TUNNEL, DONE = range(6)


class UpstreamUnavailable(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


class Target(Protocol):
    """Where a relay sends its request, and what it adds to it."""

    private_headers: frozenset[bytes]   # dropped from the client's request

    async def ready(self) -> UnixPool: ...
    def pool_now(self) -> UnixPool | None: ...
    def lease(self) -> None: ...
    def done(self, leased: bool) -> None: ...
    def extra_headers(self, exchange: Any) -> list[tuple[bytes, bytes]]: ...


class BadResponse(Exception):
    pass


class Relay:
    def __init__(self, exchange: Any, target: Target) -> None:
        self.exchange = exchange
        self.request = exchange.request
        self.target = target
        self.pool: UnixPool | None = None
        self.conn: UpstreamConnection | None = None
        self.task: asyncio.Task[None] | None = None
        self.pending: list[bytes] = []
        self.body_done = False
        self.body_sent = False
        self.finished = False
        self.state = HEAD
        self.buffer = b""
        self.remaining = 0
        self.no_body = self.request.method == b"HEAD"
        self.started = False        # the client's response head is out
        self.reading_paused = False
        self.leased = False         # the whole request is in: the upstream's app works on it
        self.conn_reused = False    # the connection carried an exchange before this one
        self.retried = False
        self.upstream_closes = False  # the upstream said it closes after this answer

    # -- the client's side (RelayExchange's hooks)

    def begin(self) -> None:
        pool = self.target.pool_now()
        if pool is not None:
            conn = pool.take_idle(self)
            if conn is not None:  # the usual case: no task, no wait
                self.pool = pool
                self.attach(conn)
                return
        self.task = asyncio.get_event_loop().create_task(self.connect())

    def on_body(self, chunk: bytes) -> None:
        if self.finished:
            return  # answered already: the rest of the body goes nowhere
        if self.conn is None:
            self.pending.append(chunk)
            self.exchange.pause_body()  # until connected: one read waits at most
        else:
            self.send_body(chunk)

    def on_body_complete(self) -> None:
        self.body_done = True
        if not self.finished:
            # As an app in the worker is held from its call: a request still
            # sending its body holds nothing (the upstream may be stopped).
            self.leased = True
            self.target.lease()
        if self.conn is not None and self.state != TUNNEL:
            self.end_body()

    def on_writable(self) -> None:
        if self.reading_paused and self.conn is not None:
            self.reading_paused = False
            self.conn.resume_reading()

    def on_connection_lost(self) -> None:
        self.finish(False)

    def on_eof(self) -> None:
        if self.state == TUNNEL and self.conn is not None and self.conn.transport.can_write_eof():
            self.conn.transport.write_eof()

    def on_data(self, data: bytes) -> None:
        if self.conn is not None:
            self.conn.write(data)

    # -- the upstream's side

    async def connect(self) -> None:
        try:
            self.pool = await self.target.ready()
            if self.finished:
                return
            conn = await self.pool.acquire(self)
        except UpstreamUnavailable as exc:
            self.fail(exc.status, str(exc))
            return
        except OSError as exc:
            self.fail(502, f"cannot reach the upstream: {exc}")
            return
        if self.finished:
            self.pool.release(conn)
            return
        self.attach(conn)

    def may_send_again(self) -> bool:
        """Whether the request may go once more on a new connection: the
        closed one was a kept-alive one, not a byte came back, and the
        request is whole in its head and safe to repeat."""
        request = self.request
        return (self.conn_reused and not self.retried and self.state == HEAD
                and not self.buffer and not self.started
                and request.method in IDEMPOTENT
                and not request.chunked and request.content_length <= 0)

    async def send_again(self) -> None:
        assert self.pool is not None
        try:
            conn = await self.pool.acquire(self, fresh=True)
        except OSError as exc:
            self.fail(502, f"cannot reach the upstream: {exc}")
            return
        if self.finished:
            conn.close()
            return
        self.attach(conn)

    def attach(self, conn: UpstreamConnection) -> None:
        self.conn = conn
        self.conn_reused = conn.reused
        conn.write(self.head())
        if self.request.expect_continue and not self.body_done:
            self.exchange.send_continue()
        pending, self.pending = self.pending, []
        for chunk in pending:
            self.send_body(chunk)
        if pending:
            self.exchange.resume_body()
        if self.body_done:
            self.end_body()

    def head(self) -> bytes:
        request = self.request
        private = self.target.private_headers
        # The path as routing left it (handle_path may have cut a prefix).
        target = request.path + b"?" + request.query if request.query else request.path
        lines = [b"%s %s HTTP/1.1\r\n" % (request.method, target)]
        for name, value in request.headers:
            if name not in HOP_BY_HOP and name not in private:
                lines.append(b"%s: %s\r\n" % (name, value))
        for name, value in self.target.extra_headers(self.exchange):
            lines.append(b"%s: %s\r\n" % (name, value))
        if request.upgrade:
            lines.append(b"connection: upgrade\r\nupgrade: %s\r\n" % request.upgrade)
        if request.chunked:
            lines.append(b"transfer-encoding: chunked\r\n")
        elif request.content_length >= 0:
            lines.append(b"content-length: %d\r\n" % request.content_length)
        lines.append(b"\r\n")
        return b"".join(lines)

    def send_body(self, chunk: bytes) -> None:
        assert self.conn is not None
        if self.request.chunked:
            if chunk:
                self.conn.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        else:
            self.conn.write(chunk)

    def end_body(self) -> None:
        if self.body_sent:
            return
        self.body_sent = True
        if self.request.chunked and self.conn is not None:
            self.conn.write(b"0\r\n\r\n")

    def on_upstream_full(self) -> None:
        self.exchange.pause_body()

    def on_upstream_writable(self) -> None:
        self.exchange.resume_body()

    def on_upstream_data(self, data: bytes) -> None:
        if self.state == TUNNEL:
            self.tunnel_write(data)
            return
        self.buffer = self.buffer + data if self.buffer else data
        try:
            self.parse()
        except BadResponse as exc:
            log.warning("bad response from the upstream %s: %s",
                        self.pool.path if self.pool else "", exc)
            self.cut(f"bad response from the upstream: {exc}")

    def on_upstream_lost(self, exc: Exception | None) -> None:
        self.conn = None
        if self.finished:
            return
        if self.may_send_again():
            self.retried = True
            self.task = asyncio.get_event_loop().create_task(self.send_again())
            return
        if self.state == TUNNEL:
            transport = self.exchange.get_transport()
            if transport is not None:
                transport.close()
            self.finish(False)
        elif self.state == UNTIL_CLOSE:
            self.exchange.write_body(self.buffer) if self.buffer else None
            self.exchange.end_response()
            self.finish(False)
        elif self.state != DONE:
            self.cut("the upstream closed the connection")

    # -- the answer

    def parse(self) -> None:
        while True:
            if self.state == HEAD:
                if not self.parse_head():
                    return
            elif self.state == LENGTH:
                take = self.buffer[:self.remaining]
                self.buffer = self.buffer[len(take):]
                self.remaining -= len(take)
                if take:
                    self.write(take)
                if self.remaining == 0:
                    self.complete()
                return
            elif self.state == CHUNKED:
                if not self.parse_chunk():
                    return
            elif self.state == UNTIL_CLOSE:
                data, self.buffer = self.buffer, b""
                if data:
                    self.write(data)
                return
            elif self.state == TUNNEL:
                data, self.buffer = self.buffer, b""
                if data:
                    self.tunnel_write(data)
                return
            else:  # DONE: nothing more may come on a clean connection
                if self.buffer:
                    raise BadResponse("bytes after the end of the response")
                return

    def parse_head(self) -> bool:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > MAX_HEAD:
                raise BadResponse("response head too large")
            return False
        head, self.buffer = self.buffer[:end], self.buffer[end + 4:]
        lines = head.split(b"\r\n")
        version, _, status_line = lines[0].partition(b" ")
        if not version.startswith(b"HTTP/1.") or not status_line[:3].isdigit():
            raise BadResponse(f"status line {lines[0][:80]!r}")
        status = int(status_line[:3])
        headers: list[tuple[bytes, bytes]] = []
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep:
                raise BadResponse(f"field line {line[:80]!r}")
            headers.append((name.strip().lower(), value.strip()))
        if 100 <= status < 200 and status != 101:
            return True  # an interim answer (we sent no Expect): wait for the real one
        if status == 101:
            self.state = TUNNEL
            out = [b"HTTP/1.1 101 Switching Protocols\r\n"]
            out.extend(b"%s: %s\r\n" % pair for pair in headers)
            out.append(b"\r\n")
            self.exchange.switch_protocols(b"".join(out))
            return True
        fields = dict(headers)
        connection = fields.get(b"connection", b"").lower()
        self.upstream_closes = (b"close" in connection if version == b"HTTP/1.1"
                                else b"keep-alive" not in connection)
        kept = [pair for pair in headers if pair[0] not in RESPONSE_DROPPED]
        length = -1
        if self.no_body or status in (204, 304):
            self.start(status_line, kept, int(fields.get(b"content-length", b"-1") or -1))
            self.complete()
            return True
        if b"chunked" in fields.get(b"transfer-encoding", b"").lower():
            self.state = CHUNKED
            self.remaining = -1
        elif b"content-length" in fields:
            try:
                length = int(fields[b"content-length"])
            except ValueError:
                raise BadResponse("Content-Length is not a number") from None
            if length <= len(self.buffer):
                # The whole answer is here: one write, head and body.
                body, self.buffer = self.buffer[:length], self.buffer[length:]
                self.started = True
                self.exchange.send_response(status_line, kept, body)
                self.complete(ended=True)
                return True
            self.state = LENGTH
            self.remaining = length
        else:
            self.state = UNTIL_CLOSE
        self.start(status_line, kept, length)
        return True

    def parse_chunk(self) -> bool:
        buffer = self.buffer
        if self.remaining < 0:  # at a size line
            end = buffer.find(b"\r\n")
            if end < 0:
                if len(buffer) > 1024:
                    raise BadResponse("chunk size line too long")
                return False
            size_text = buffer[:end].split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise BadResponse(f"chunk size {size_text[:20]!r}") from None
            if size == 0:
                trailer_end = buffer.find(b"\r\n\r\n", end)
                if trailer_end < 0 and buffer[end:end + 4] != b"\r\n\r\n":
                    if buffer.find(b"\r\n", end + 2) != end + 2:
                        return False
                    trailer_end = end
                self.buffer = buffer[trailer_end + 4:]
                self.complete()
                return True
            self.remaining = size
            self.buffer = buffer[end + 2:]
            return True
        if self.remaining > 0:
            take = buffer[:self.remaining]
            self.remaining -= len(take)
            self.buffer = buffer[len(take):]
            if take:
                self.write(take)
            if self.remaining > 0:
                return False
        if len(self.buffer) < 2:
            return False
        if self.buffer[:2] != b"\r\n":
            raise BadResponse("chunk not followed by CRLF")
        self.buffer = self.buffer[2:]
        self.remaining = -1
        return True

    def start(self, status_line: bytes, headers: list[tuple[bytes, bytes]],
              length: int) -> None:
        self.started = True
        self.exchange.start_response(status_line, headers, length)

    def write(self, data: bytes) -> None:
        self.exchange.write_body(data)
        if not self.exchange.is_writable() and self.conn is not None:
            self.reading_paused = True
            self.conn.pause_reading()

    def tunnel_write(self, data: bytes) -> None:
        """After a 101: the bytes as they are; a full client socket pauses
        the upstream until the connection's on_writable."""
        self.exchange.get_transport().write(data)
        if not self.exchange.is_writable() and self.conn is not None:
            self.reading_paused = True
            self.conn.pause_reading()

    def complete(self, ended: bool = False) -> None:
        self.state = DONE
        if not ended:
            self.exchange.end_response()
        self.finish(self.body_sent and not self.buffer and not self.upstream_closes)

    # -- the end

    def fail(self, status: int, detail: str) -> None:
        if not self.finished and not self.exchange.is_closed():
            log.warning("%d for %s %s: %s", status, self.request.method.decode("latin-1"),
                        self.request.path.decode("latin-1")[:200], detail)
            self.exchange.send_error(status, detail)
        self.finish(False)

    def cut(self, detail: str) -> None:
        if self.started:
            log.warning("response cut: %s", detail)
            if not self.exchange.is_closed():
                self.exchange.abort_response()
            self.finish(False)
        else:
            self.fail(502, detail)

    def finish(self, reusable: bool) -> None:
        if self.finished:
            return
        self.finished = True
        if self.task is not None and not self.task.done() and self.conn is None:
            self.task.cancel()
        conn, self.conn = self.conn, None
        if conn is not None:
            if reusable and self.pool is not None:
                self.pool.release(conn)
            else:
                conn.close()
        self.target.done(self.leased)
