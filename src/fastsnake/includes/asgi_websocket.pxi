# ASGI WebSocket (spec 2.4) over RFC 6455; included by _asgi.pyx.
#
# Theory of operation
# -------------------
# The upgrade request is checked (RFC 6455 4.2.1) before the app sees it; a
# bad handshake gets 400 (426 for another version). The app gets
# websocket.connect first. Its websocket.accept writes the 101 response and
# the protocol hands every later byte to on_data, which feeds the frame
# reader and queues ASGI messages for receive(). Pings are answered here.
#
# States:  CONNECTING --accept--> OPEN --app close--> CLOSING --peer close--> CLOSED
#          CONNECTING --close / http.response--> (HTTP denial response) CLOSED
#          OPEN --peer close or protocol error--> CLOSED (we answer the close frame)
# A close we start waits CLOSE_TIMEOUT for the peer's answer, then drops
# the connection. Past WS_HIGH_WATER bytes of queued messages, reading
# pauses until the app catches up; each message counts WS_MESSAGE_COST bytes
# besides its payload, so a flood of empty frames is bounded too. While the
# socket is full (a peer that pings and never reads), frames wait unread in
# the reader and the socket is not read, so pongs cannot pile up.

import base64
import collections

from fastsnake._websocket import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    FrameReader,
    PerMessageDeflate,
    WebSocketError,
    accept_key,
    encode_close,
    encode_frame,
)

cdef dict WS_EXTENSIONS = {"websocket.http.response": {}}
cdef double CLOSE_TIMEOUT = 5.0
cdef Py_ssize_t WS_HIGH_WATER = 1024 * 1024
# What a queued message costs beyond its payload (its dict, the str or bytes
# object, the deque slot), roughly, on 64-bit CPython.
cdef Py_ssize_t WS_MESSAGE_COST = 256

cdef enum:
    WS_CONNECTING = 0
    WS_OPEN = 1
    WS_CLOSING = 2
    WS_CLOSED = 3


cdef class RefusedRequest(Exchange):
    # Answers a request we refuse before any app sees it.
    cdef bytes status_line
    cdef list headers
    cdef bytes body

    cdef int on_body_complete(self) except -1:
        self.channel.send_response(self.status_line, self.headers, self.body)
        return 0


cdef Exchange refuse(Channel channel, HttpRequest request, bytes status_line,
                     list headers, str why):
    cdef RefusedRequest exchange = RefusedRequest.__new__(RefusedRequest)
    exchange.channel = channel
    exchange.request = request
    exchange.status_line = status_line
    exchange.headers = headers + [(b"content-type", b"text/plain; charset=utf-8")]
    exchange.body = why.encode() + b"\n"
    return exchange


cdef object header_value(list headers, bytes name):
    cdef bytes key
    cdef bytes value
    for key, value in headers:
        if len(key) == len(name) and key.lower() == name:
            return value
    return None


cdef Exchange new_websocket_exchange(AsgiHandler handler, Channel channel,
                                     HttpRequest request):
    headers = request.headers
    connection = header_value(headers, b"connection") or b""
    if (request.method != b"GET" or request.http_minor != 1
            or b"upgrade" not in [t.strip() for t in connection.lower().split(b",")]):
        return refuse(channel, request, b"400 Bad Request", [],
                      "a WebSocket handshake is a GET over HTTP/1.1 with Connection: Upgrade")
    version = header_value(headers, b"sec-websocket-version")
    if version is None or version.strip() != b"13":
        return refuse(channel, request, b"426 Upgrade Required",
                      [(b"sec-websocket-version", b"13")], "WebSocket version 13 is required")
    key = header_value(headers, b"sec-websocket-key")
    try:
        if key is None or len(base64.b64decode(key.strip(), validate=True)) != 16:
            raise ValueError
    except ValueError:
        return refuse(channel, request, b"400 Bad Request", [],
                      "Sec-WebSocket-Key must be 16 bytes in base64")
    cdef WebSocketExchange exchange = WebSocketExchange.__new__(WebSocketExchange)
    exchange.channel = channel
    exchange.request = request
    exchange.handler = handler
    exchange.loop = handler.loop
    exchange.key = key.strip()
    exchange.messages = collections.deque()
    exchange.close_code = 1006
    exchange.close_reason = ""
    offer = header_value(headers, b"sec-websocket-extensions")
    if offer:
        negotiated = PerMessageDeflate.negotiate(offer.decode("latin-1"))
        if negotiated is not None:
            exchange.extensions_header, exchange.deflate = negotiated
    exchange.reader = FrameReader(handler.max_message_size, True, exchange.deflate)
    try:
        exchange.scope = exchange.websocket_scope()
    except UnicodeDecodeError:
        return refuse(channel, request, b"400 Bad Request", [], "the path is not UTF-8")
    return exchange


cdef class WebSocketExchange(AppRun):
    cdef bytes key
    cdef object reader
    cdef object deflate
    cdef str extensions_header
    cdef int state
    cdef bint connect_delivered
    cdef object messages
    cdef Py_ssize_t queued_bytes
    cdef bint reading_paused
    cdef bint backlogged        # the socket is full: read no more frames
    cdef object receive_waiter
    cdef object drain_waiter
    cdef object close_timer
    cdef int close_code
    cdef str close_reason
    # a denial response (websocket.http.response.*)
    cdef bytes denial_status
    cdef list denial_headers
    cdef bint denial_started

    cdef dict websocket_scope(self):
        cdef HttpRequest request = self.request
        protocols = header_value(request.headers, b"sec-websocket-protocol")
        subprotocols = ([p.strip() for p in protocols.decode("latin-1").split(",") if p.strip()]
                        if protocols else [])
        cdef dict scope = {
            "type": "websocket",
            "asgi": ASGI_VERSION,
            "http_version": "1.1",
            "server": address(self.channel.sockname),
            "client": address(self.channel.peer),
            "scheme": "wss" if request.secure else "ws",
            "root_path": "",
            "path": decode_path(request.path),
            "raw_path": request.path,
            "query_string": request.query,
            "headers": scope_headers(request.headers),
            "subprotocols": subprotocols,
            "extensions": WS_EXTENSIONS,
        }
        if request.script_name:
            mount(scope, request)
        if self.handler.state is not None:
            scope["state"] = self.handler.state.copy()
        if self.handler.proxy_headers and request.vars:
            forwarded(scope, request.vars, "ws", "wss")
        return scope

    # -- from the protocol

    cdef int on_data(self, bytes data) except -1:
        if self.state == WS_CLOSED:
            return 0
        self.reader.feed(data)
        return self.read_frames()

    cdef int read_frames(self) except -1:
        while self.state != WS_CLOSED:
            if not self.channel.is_writable() and not self.channel.is_closed():
                # What we would answer (a pong, a close) would only queue:
                # leave the frames in the reader until the client reads.
                if not self.backlogged:
                    self.backlogged = True
                    self.channel.pause_for(PAUSE_BACKLOG)
                break
            try:
                message = self.reader.read_message()
            except WebSocketError as exc:
                self.fail(exc.code, exc.reason)
                break
            if message is None:
                break
            self.on_message(message[0], message[1])
        wake(self.receive_waiter)
        return 0

    cdef int on_message(self, int opcode, object payload) except -1:
        if opcode == OP_TEXT:
            self.queue({"type": "websocket.receive", "text": payload},
                       len(payload) + WS_MESSAGE_COST)
        elif opcode == OP_BINARY:
            self.queue({"type": "websocket.receive", "bytes": payload},
                       len(payload) + WS_MESSAGE_COST)
        elif opcode == OP_PING:
            if self.state == WS_OPEN:
                self.write(encode_frame(OP_PONG, payload))
        elif opcode == OP_CLOSE:
            code, reason = payload
            if self.state == WS_OPEN:
                # Answer with the same code (RFC 6455 5.5.1); none given -> none sent.
                self.write(encode_close(code))
            self.close_code = code
            self.close_reason = reason
            self.closed()
        return 0

    cdef int queue(self, dict message, Py_ssize_t size) except -1:
        self.messages.append(message)
        self.queued_bytes += size
        if self.queued_bytes > WS_HIGH_WATER and not self.reading_paused:
            self.reading_paused = True
            self.channel.pause_for(PAUSE_BODY)
        return 0

    cdef int fail(self, int code, str reason) except -1:
        # A protocol violation by the peer: close with the code that says why.
        log.debug("closing a WebSocket: %d %s", code, reason)
        if self.state == WS_OPEN:
            self.write(encode_close(code, reason))
        self.close_code = code
        self.close_reason = reason
        self.closed()
        return 0

    cdef int closed(self) except -1:
        self.state = WS_CLOSED
        if self.close_timer is not None:
            self.close_timer.cancel()
            self.close_timer = None
        if not self.channel.is_closed():
            # FIN after the close frame, then drop what the peer still sends
            # for a moment: closing at once could reset the connection and
            # lose the close frame (RFC 6455 7.1.1: the server closes first).
            self.channel.close_gracefully()
        wake(self.receive_waiter)
        wake(self.drain_waiter)
        return 0

    cdef int on_writable(self) except -1:
        wake(self.drain_waiter)
        if self.backlogged:
            self.backlogged = False
            self.channel.resume_for(PAUSE_BACKLOG)
            self.read_frames()
        return 0

    cdef int on_connection_lost(self) except -1:
        self.disconnected = True
        if self.state != WS_CLOSED:
            self.state = WS_CLOSED
            if self.close_timer is not None:
                self.close_timer.cancel()
                self.close_timer = None
        wake(self.receive_waiter)
        wake(self.drain_waiter)
        return 0

    cdef int on_body_complete(self) except -1:
        return 0

    cdef int write(self, bytes frame) except -1:
        if not self.channel.is_closed():
            self.channel.get_transport().write(frame)
        return 0

    def close_timed_out(self):
        self.close_timer = None
        if self.state == WS_CLOSING:
            self.channel.get_transport().abort()

    # -- the callables the app is given

    async def receive(self):
        if not self.connect_delivered:
            self.connect_delivered = True
            return {"type": "websocket.connect"}
        while True:
            if self.messages:
                message = self.messages.popleft()
                data = message.get("text") or message.get("bytes") or b""
                self.queued_bytes -= len(data) + WS_MESSAGE_COST
                if self.reading_paused and self.queued_bytes < WS_HIGH_WATER // 2:
                    self.reading_paused = False
                    self.channel.resume_for(PAUSE_BODY)
                return message
            if self.state == WS_CLOSED or self.disconnected:
                return {"type": "websocket.disconnect", "code": self.close_code,
                        "reason": self.close_reason}
            self.receive_waiter = self.loop.create_future()
            try:
                await self.receive_waiter
            finally:
                self.receive_waiter = None

    async def send(self, message):
        cdef str kind = message["type"]
        if kind == "websocket.send":
            if self.state != WS_OPEN:
                if self.state == WS_CONNECTING:
                    raise RuntimeError("websocket.send before websocket.accept")
                raise ClientDisconnected("the WebSocket is closed")
            text = message.get("text")
            if text is not None:
                opcode, payload = OP_TEXT, text  # the codec encodes without a copy
            else:
                opcode, payload = OP_BINARY, bytes(message.get("bytes") or b"")
            if self.deflate is not None:
                self.write(self.deflate.encode_message(opcode, payload))
            else:
                self.write(encode_frame(opcode, payload))
            if not self.channel.is_writable() and not self.channel.is_closed():
                self.drain_waiter = self.loop.create_future()
                try:
                    await self.drain_waiter
                finally:
                    self.drain_waiter = None
        elif kind == "websocket.accept":
            if self.state != WS_CONNECTING or self.denial_started:
                raise RuntimeError("websocket.accept sent twice or after a close")
            self.accept(message)
        elif kind == "websocket.close":
            if self.state == WS_CONNECTING and not self.denial_started:
                # Closing before accepting rejects the handshake (ASGI: 403).
                self.state = WS_CLOSED
                self.channel.send_response(b"403 Forbidden", [], b"")
            elif self.state == WS_OPEN:
                self.state = WS_CLOSING
                self.close_code = message.get("code") or 1000
                self.close_reason = message.get("reason") or ""
                self.write(encode_close(self.close_code, self.close_reason))
                self.close_timer = self.loop.call_later(CLOSE_TIMEOUT, self.close_timed_out)
            elif self.state == WS_CLOSED:
                raise ClientDisconnected("the WebSocket is closed")
        elif kind == "websocket.http.response.start":
            if self.state != WS_CONNECTING or self.denial_started:
                raise RuntimeError("websocket.http.response.start after the handshake")
            self.denial_status = status_line_for(message["status"])
            self.denial_headers = list(message.get("headers", ()))
            self.denial_started = True
        elif kind == "websocket.http.response.body":
            if not self.denial_started or self.state != WS_CONNECTING:
                raise RuntimeError("websocket.http.response.body without a response start")
            body = bytes(message.get("body", b""))
            if message.get("more_body", False):
                if self.denial_status is not None:
                    self.channel.start_response(self.denial_status, self.denial_headers, -1)
                    self.denial_status = None
                self.channel.write_body(body)
            else:
                self.state = WS_CLOSED
                if self.denial_status is not None:
                    self.channel.send_response(self.denial_status, self.denial_headers, body)
                else:
                    self.channel.write_body(body)
                    self.channel.end_response()
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r} on a WebSocket")

    cdef int accept(self, dict message) except -1:
        head = bytearray(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n"
                         b"connection: Upgrade\r\nsec-websocket-accept: ")
        head += accept_key(self.key).encode("ascii")
        head += b"\r\n"
        subprotocol = message.get("subprotocol")
        if subprotocol:
            head += b"sec-websocket-protocol: " + subprotocol.encode("latin-1") + b"\r\n"
        if self.extensions_header:
            head += b"sec-websocket-extensions: " + self.extensions_header.encode("latin-1")
            head += b"\r\n"
        for name, value in message.get("headers", ()):
            name = bytes(name)
            value = bytes(value)
            if any(c in name + value for c in (b"\r", b"\n", b"\0")) or b":" in name:
                raise ValueError(f"invalid header in websocket.accept: {name!r}")
            head += name + b": " + value + b"\r\n"
        head += SERVER_LINE
        head += b"\r\n"
        self.state = WS_OPEN
        self.channel.switch_protocols(self, bytes(head))
        return 0

    cdef int app_finished(self, exc, bint cancelled=False) except -1:
        if cancelled:
            exc = RuntimeError("the app's task was cancelled")
        if exc is not None:
            self.report(exc)
        if self.state == WS_CONNECTING:
            if self.denial_started:
                self.channel.abort_response()
            elif exc is not None:
                self.channel.send_response(INTERNAL_ERROR_STATUS, INTERNAL_ERROR_HEADERS,
                                         INTERNAL_ERROR_BODY)
            else:
                self.channel.send_response(b"403 Forbidden", [], b"")
            self.state = WS_CLOSED
        elif self.state == WS_OPEN:
            # The app is gone: close for it (1011 when it failed).
            self.close_code = 1011 if exc is not None else 1000
            self.write(encode_close(self.close_code))
            self.closed()
        return 0
