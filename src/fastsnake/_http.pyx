# cython: language_level=3
"""HTTP/1.1 server protocol on llhttp's C callbacks.

Theory of operation
-------------------
One HttpProtocol per connection. Bytes from the transport go to llhttp, whose
C callbacks collect the request line and headers into per-request fields. The
parser is *paused* at two points so that adapter code never runs inside
llhttp_execute (which must not be re-entered):

  * at the end of headers, when the message has a body: the feed loop builds
    the Exchange (the adapter's per-request object) and resumes parsing, so
    body bytes stream into Exchange.on_body;
  * at the end of every message: the feed loop tells the Exchange the body is
    complete and stops. Parsing of the next pipelined request resumes only
    once the response has ended, so requests are answered in order and at most
    one read's worth of pipelined bytes waits here (reading is paused
    meanwhile).

States (parse_state):  IDLE -> HEADERS -> BODY -> DONE -> (response ends) IDLE
Errors found by llhttp or by our limits answer with a status (RFC 9112, and the
limits README.md lists under "How requests are served"), shut the write side and close: a "lingering close", so a
client still sending its body reads the error instead of a reset.

Timeouts are deadlines checked by tick(), which the worker calls every half
second; setting a deadline costs one float store per request. The clock is
the last tick's, so a deadline adds one tick period: it never passes early,
and is noticed at most about one period late. Each request has at most one
live deadline: read_header from its first byte to the end of its head (bytes
that trickle in do not extend it), read_body from there to the end of its
body (only when it has one), none while the app works, write while the
socket stays full, idle between requests.

Request smuggling (RFC 9112 section 11.2) is refused rather than repaired: a
message whose framing two parsers could read differently (Content-Length with
Transfer-Encoding, repeated or odd framing headers, bare CR/LF, obs-fold,
whitespace in chunk lines) gets a 4xx and the connection closes, so no byte of
it can be taken for the start of another request.
"""

import logging
import os

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport uint64_t
from cpython.object cimport PyObject
from libc.string cimport memchr, memcmp

from fastsnake cimport _llhttp as llhttp
from fastsnake._exchange cimport (Channel, EmptyResponse, Exchange, Handler, HttpRequest,
                                  PreparedHead, ResponseFilter)

from fastsnake._exchange import reason_phrase


cdef extern from "llhttp.h":
    # Not in _llhttp.pxd: the HTTP/2 connection preface ("PRI * HTTP/2.0"),
    # and OPTIONS, the one method with an asterisk-form target.
    cdef enum:
        HPE_PAUSED_H2_UPGRADE
        HTTP_OPTIONS

cdef object log = logging.getLogger("fastsnake.http")
# A chunked body's framing (chunk-size lines, extensions, CRLFs, trailers) may
# exceed its data by at most this much: bounds chunk lines and floods of tiny
# chunks, each of which costs a callback (as Go's "too much non-data").
cdef long long CHUNK_FRAMING_SLACK = 16 * 1024
# llhttp's reasons (9.3) for HPE_INVALID_VERSION that mean "well-formed but
# not 1.0/1.1"; its others ("Expected dot", "Expected CRLF after version")
# are malformed requests, a 400.
cdef tuple VERSION_UNSUPPORTED_REASONS = (b"Invalid HTTP version",
                                          b"Expected HTTP/2 Connection Preface")
# The largest Content-Length we take (llhttp accepts up to 2**64 - 1).
cdef uint64_t MAX_CONTENT_LENGTH = 0x7FFFFFFFFFFFFFFF
# RFC 9110 15.5.6: a 405 carries Allow. Every method but CONNECT reaches the
# app, so name the common ones.
cdef bytes ALLOW_LINE = b"allow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n"

include "includes/consts.pxi"

cdef enum:
    # Parse states.
    S_IDLE = 0
    S_HEADERS = 1
    S_BODY = 2
    S_DONE = 3
    S_CLOSED = 4

cdef enum:
    # What a deadline means when it passes.
    D_NONE = 0
    D_HEADER = 1
    D_BODY = 2
    D_IDLE = 3
    D_WRITE = 4
    D_LINGER = 5


include "includes/connections.pxi"


cdef class Limits:
    """Plain limits and timeouts for one listener (seconds; 0 disables)."""

    def __init__(self, max_request_line=8192, max_header_size=16384, max_header_count=100,
                 max_body_size=None, read_header_timeout=60.0, read_body_timeout=None,
                 write_timeout=None, idle_timeout=300.0):
        self.max_request_line = max_request_line
        self.max_header_size = max_header_size
        self.max_header_count = max_header_count
        self.max_body_size = -1 if max_body_size is None else max_body_size
        self.read_header_timeout = read_header_timeout or 0.0
        self.read_body_timeout = read_body_timeout or 0.0
        self.write_timeout = write_timeout or 0.0
        self.idle_timeout = idle_timeout or 0.0


include "includes/http1_parse.pxi"
include "includes/http1_head.pxi"
include "includes/sendfile.pxi"


# ------------------------------------------------------------------ protocol

cdef class HttpProtocol:
    """asyncio Protocol serving HTTP/1.1 on one connection (see module doc)."""

    def __cinit__(self):
        llhttp.llhttp_init(&self.parser, llhttp.HTTP_REQUEST, &g_settings)
        self.parser.data = <void*>self

    def __init__(self, loop, Handler handler, Limits limits, router=None):
        self.loop = loop
        self.handler = handler
        self.limits = limits
        self.router = router
        self.parse_state = S_IDLE
        self.socket_fd = -2  # not looked up yet (includes/sendfile.pxi)

    # -- asyncio.Protocol

    def connection_made(self, transport):
        self.transport = transport
        self.transport_write = transport.write
        self.peer = transport.get_extra_info("peername")
        self.sockname = transport.get_extra_info("sockname")
        self.secure = transport.get_extra_info("sslcontext") is not None
        g_connections.add(self)
        if g_draining:
            # Idle until its first request starts (which sets the head deadline).
            self.closing = True
            self.set_deadline(D_IDLE, g_idle_grace)
        elif self.limits.read_header_timeout > 0:
            self.set_deadline(D_HEADER, self.limits.read_header_timeout)

    def connection_lost(self, exc):
        self.closed = True
        self.parse_state = S_CLOSED
        g_connections.discard(self)
        self.memo = None  # (an adapter's memo may refer back to this connection)
        cdef Exchange exchange = self.exchange
        self.cork = None
        self.finish_filter(0)
        # The upgraded exchange (a WebSocket) points back at this protocol:
        # left here, the pair (with its frame buffers, message queue and zlib
        # streams) would wait for a full garbage collection, which comes
        # rarely in a worker (server.memory); dropped, it is freed at once.
        self.upgraded = None
        if exchange is not None:
            self.exchange = None
            try:
                exchange.on_connection_lost()
            except BaseException:
                log.exception("error while abandoning a request")

    def data_received(self, bytes data):
        if self.upgraded is not None:
            try:
                self.upgraded.on_data(data)
            except BaseException:
                log.exception("internal error in an upgraded connection")
                self.transport.abort()
            return
        if self.parse_state == S_CLOSED or self.deadline_kind == D_LINGER:
            return  # lingering close: discard what the client still sends
        if self.pending_data is None:
            self.pending_data = data
            self.pending_offset = 0
        else:
            self.pending_data = self.pending_data[self.pending_offset:] + data
            self.pending_offset = 0
        try:
            self.feed()
        except BaseException:
            log.exception("internal error in the HTTP protocol")
            self.transport.abort()

    def eof_received(self):
        # A client may half-close after a whole request; keep the write side
        # open while its response is owed (and tell the exchange, which may
        # take it as a disconnect, as Go's server does). A request cut short
        # can never be answered: close, and the exchange hears
        # connection_lost (else the socket would sit in CLOSE_WAIT holding
        # the partial body).
        if self.upgraded is not None:
            self.upgraded.on_eof()
            return False
        if self.parse_state == S_HEADERS or self.parse_state == S_BODY:
            return False
        if self.exchange is not None or self.parse_state == S_DONE:
            self.closing = True
            if self.exchange is not None:
                try:
                    self.exchange.on_eof()
                except BaseException:
                    log.exception("error while handling a client's end of input")
            return True
        return False

    def pause_writing(self):
        self.writing_paused = True
        if self.limits.write_timeout > 0:
            self.set_deadline(D_WRITE, self.limits.write_timeout)

    def resume_writing(self):
        self.writing_paused = False
        if self.deadline_kind == D_WRITE:
            self.set_deadline(D_NONE, 0)
        if (self.parse_state == S_IDLE and self.pending_data is not None
                and self.exchange is None and not self.in_feed):
            # Pipelined requests held back while the socket was full.
            self.loop.call_soon(self.resume_parsing)
        if self.sending_file:
            try:
                feed_file(self)
            except BaseException:
                log.exception("error while sending a file")
                self.transport.abort()
        elif self.exchange is not None:
            try:
                self.exchange.on_writable()
            except BaseException:
                log.exception("error while resuming a response")
                self.transport.abort()

    # -- parsing

    cdef int feed(self) except -1:
        self.in_feed = True
        try:
            self.feed_loop()
        finally:
            self.in_feed = False
        return 0

    cdef int feed_loop(self) except -1:
        cdef object data
        cdef const char* start
        cdef const char* stop
        cdef Py_ssize_t size
        cdef llhttp.llhttp_errno_t err
        cdef bint chunked_body
        cdef long long body_before
        while (self.pending_data is not None and self.parse_state != S_CLOSED
               and not self.deferred):
            data = self.pending_data
            size = PyBytes_GET_SIZE(data) - self.pending_offset
            if size <= 0:
                self.remember_tail(data)
                self.pending_data = None
                break
            if self.parse_state == S_DONE or (
                    self.writing_paused and self.parse_state == S_IDLE):
                # Pipelined bytes wait until the current response has ended,
                # and the next request until the client has read enough of
                # the last answers for the transport to take more: else a
                # client that sends and never reads would have every answer
                # buffered here (resume_writing parses on).
                self.pause_for(PAUSE_PIPELINE)
                return 0
            start = PyBytes_AS_STRING(data) + self.pending_offset
            chunked_body = self.parse_state == S_BODY and self.request is not None and (
                self.request.chunked)
            body_before = self.body_received
            self.exec_end = start + size
            self.exec_begin = PyBytes_AS_STRING(data)
            err = llhttp.llhttp_execute(&self.parser, start, size)
            self.exec_end = NULL
            if chunked_body and (err == llhttp.HPE_OK or err == llhttp.HPE_PAUSED):
                # Only body bytes were parsed (the head paused before them,
                # the end of the message pauses after): what was not data
                # was framing.
                stop = (start + size if err == llhttp.HPE_OK
                        else llhttp.llhttp_get_error_pos(&self.parser))
                self.chunk_framing += (stop - start) - (self.body_received - body_before)
                if self.chunk_framing > CHUNK_FRAMING_SLACK + self.body_received:
                    self.error_status = 400
                    self.stashed_error = "too much chunked framing for the data"
                    self.parse_failed(llhttp.HPE_USER)
                    return 0
            if err == llhttp.HPE_OK:
                self.remember_tail(data)
                self.pending_data = None
                break
            if err == llhttp.HPE_PAUSED:
                stop = llhttp.llhttp_get_error_pos(&self.parser)
                self.pending_offset += stop - start
                llhttp.llhttp_resume(&self.parser)
                if self.parse_state == S_BODY:
                    self.start_request()
                elif self.parse_state == S_DONE:
                    self.finish_message()
                continue
            if err == llhttp.HPE_PAUSED_UPGRADE:
                # The rest belongs to the upgraded protocol, if the adapter takes it.
                stop = llhttp.llhttp_get_error_pos(&self.parser)
                self.pending_offset += stop - start
                return 0
            self.parse_failed(err)
            return 0
        if self.pending_data is None:
            self.resume_for(PAUSE_PIPELINE)
        return 0

    cdef int remember_tail(self, bytes data):
        cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
        cdef const char* p = PyBytes_AS_STRING(data)
        if n >= 2:
            self.tail2 = p[n - 2]
            self.tail1 = p[n - 1]
        elif n == 1:
            self.tail2 = self.tail1
            self.tail1 = p[0]
        return 0

    cdef parse_failed(self, llhttp.llhttp_errno_t err):
        cdef int status = self.error_status
        if status == 0:
            if err == llhttp.HPE_USER and isinstance(self.stashed_error, BaseException):
                log.error("internal error while parsing a request",
                          exc_info=self.stashed_error)
                status = 500
            elif err == HPE_PAUSED_H2_UPGRADE:
                status = 505  # the HTTP/2 preface, complete: we speak HTTP/1 here
            elif err == llhttp.HPE_INVALID_VERSION and llhttp.llhttp_get_error_reason(
                    &self.parser) in VERSION_UNSUPPORTED_REASONS:
                status = 505  # a well-formed version we do not speak
            else:
                status = 400  # (also a malformed version, or no CRLF after it)
        detail = self.stashed_error if isinstance(self.stashed_error, str) else (
            llhttp.llhttp_get_error_reason(&self.parser) or b"").decode("latin-1", "replace")
        log.debug("refusing request from %s: %d %s", self.peer, status, detail)
        self.pending_data = None
        if self.response_started:
            self.abort_response()
        else:
            self.send_error(status, detail)

    cdef int start_request(self) except -1:
        global g_requests
        cdef Handler handler = self.handler
        cdef HttpRequest req = self.request
        cdef Exchange exchange
        g_requests += 1
        if self.router is not None:
            routed = self.router.select(req)
            if routed is not None and not isinstance(routed, Handler):
                return self.defer_routing(routed)
            handler = <Handler>routed
            if req.response_filter is not None:
                self.filter = <ResponseFilter?>req.response_filter
            if req.body_limit >= 0 and not 0 <= self.body_limit <= req.body_limit:
                # A route's request_body max_size, tighter than the listener's.
                self.body_limit = req.body_limit
                if req.content_length > req.body_limit or self.body_received > req.body_limit:
                    return self.send_error(413, "request body too large")
        if handler is None:
            exchange = EmptyResponse.__new__(EmptyResponse)
            exchange.channel = self
            exchange.request = req
        else:
            exchange = handler.new_exchange(self, req)
        self.exchange = exchange
        exchange.begin()
        return 0

    cdef int defer_routing(self, object deferred) except -1:
        """Routing needs work done off the event loop first (a basic_auth
        password check): parse nothing more of this connection (the body
        stays unread, in the socket or in pending_data) until it is done,
        then route the request again (routing_ready)."""
        global g_requests
        g_requests -= 1  # counted when it is routed for good
        self.deferred = True
        self.pause_for(PAUSE_DEFER)
        deferred.start(self.routing_ready, self.loop)
        return 0

    def routing_ready(self):
        if not self.deferred:
            return
        self.deferred = False
        if self.closed or self.request is None:
            return
        self.resume_for(PAUSE_DEFER)
        try:
            self.start_request()
            if self.deferred:
                return
            if self.parse_state == S_DONE:
                if self.exchange is not None:
                    self.exchange.on_body_complete()
            elif self.pending_data is not None:
                self.feed()  # the body that waited
        except BaseException:
            log.exception("internal error in the HTTP protocol")
            self.transport.abort()

    cdef int finish_message(self) except -1:
        cdef Exchange exchange = self.exchange
        if exchange is None:
            self.start_request()
            exchange = self.exchange
        if exchange is not None and exchange is self.exchange:
            # (Not if the app already answered and the exchange is over.)
            exchange.on_body_complete()
        return 0

    cdef int reset_request(self):
        self.url = None
        self.headers = []
        self.header_name = None
        self.header_value = None
        self.header_bytes = 0
        self.host_count = 0
        self.host = None
        self.saw_transfer_encoding = False
        self.transfer_encoding_ok = True
        self.expect_continue = False
        self.upgrade = None
        self.body_received = 0
        self.body_limit = self.limits.max_body_size
        self.chunk_framing = 0
        self.trailer_count = 0
        self.error_status = 0
        self.stashed_error = None
        self.client_closes = False
        self.response_started = False
        self.response_chunked = False
        self.response_no_body = False
        self.response_close = False
        self.continue_sent = False
        self.response_remaining = -1
        return 0

    # -- flow control and deadlines

    cdef int pause_for(self, int reason):
        if self.pause_reasons == 0 and not self.closed:
            self.transport.pause_reading()
        self.pause_reasons |= reason
        return 0

    cdef int resume_for(self, int reason):
        if self.pause_reasons & reason:
            self.pause_reasons &= ~reason
            if self.pause_reasons == 0 and not self.closed:
                self.transport.resume_reading()
        return 0

    cdef int limit_body(self, long long limit) except -1:
        """The exchange takes at most ``limit`` body bytes (a WSGI app's
        default); the tighter of it and the route's or listener's wins, and
        the parser answers 413 past it."""
        if limit >= 0 and not 0 <= self.body_limit <= limit:
            self.body_limit = limit
        return 0

    cdef int set_deadline(self, int kind, double seconds):
        self.deadline_kind = kind
        self.deadline = g_now + g_tick + seconds
        return 0

    cdef int expire(self):
        cdef int kind = self.deadline_kind
        self.deadline_kind = D_NONE
        if self.closed:
            return 0
        if kind == D_HEADER and self.parse_state == S_HEADERS:
            self.send_error(408, "timed out reading the request head")
        elif kind == D_BODY and self.pause_reasons & (PAUSE_BODY | PAUSE_DEFER):
            # We stopped reading (the app has not taken what came): not the
            # client's delay. Look again later.
            self.set_deadline(D_BODY, self.limits.read_body_timeout)
        elif kind == D_BODY and self.parse_state == S_BODY and not self.response_started:
            self.send_error(408, "timed out reading the request body")
        else:
            # Idle keep-alive, a stalled writer, a client that never spoke,
            # or the end of a lingering close.
            self.transport.abort() if kind == D_WRITE else self.transport.close()
        return 0

    # -- responses (called by adapters)

    cdef str peer_port_text(self):
        """The client's port as text ("" without one), worked out once."""
        if self.peer_port is None:
            peer = self.peer
            self.peer_port = str(peer[1]) if peer and len(peer) > 1 else ""
        return self.peer_port

    cdef str host_name(self, bytes host):
        """A Host value without its port, as text; an IPv6 literal keeps its
        brackets. Remembers the last one: clients send the same each time."""
        cdef Py_ssize_t end
        if host is self.named_host or host == self.named_host:
            return self.named_host_name
        if host[:1] == b"[":
            end = host.find(b"]")
            name = host[:end + 1].decode("latin-1")
        else:
            name = host.partition(b":")[0].decode("latin-1")
        self.named_host = host
        self.named_host_name = name
        return name

    cdef bint is_writable(self):
        return not self.writing_paused and not self.closed

    cdef bint is_closed(self):
        return self.closed

    cdef object get_transport(self):
        return self.transport

    cdef int send_continue(self) except -1:
        # RFC 9110 10.1.1: only for HTTP/1.1 clients that asked, only once,
        # and never after the final response has begun.
        if (self.request is not None and self.request.expect_continue
                and not self.continue_sent and not self.response_started and not self.closed):
            self.continue_sent = True
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return 0

    cdef int start_response(self, bytes status_line, list headers, long long length) except -1:
        if self.closed:
            return 0
        if self.filter is not None:
            headers = self.filter.on_head(self.request, status_line, bytes_headers(headers),
                                          length)
            if self.filter.compressor is not None:
                length = -1
        self.corked(make_head(self, status_line, headers, length, None))
        return 0

    # A streamed response (start_response, write_body..., end_response) is
    # "corked": its writes of one turn of the event loop are gathered and go
    # to the transport together at the end of the turn (or at end_response,
    # or past CORK_LIMIT). An app that sends 64 small chunks in one step then
    # costs one system call instead of 64. Every other write flushes first,
    # so bytes keep their order.

    cdef int corked(self, object data) except -1:
        if self.cork is None:
            self.cork = [data]
            self.cork_size = len(data)
            self.loop.call_soon(self.flush_soon)
        else:
            self.cork.append(data)
            self.cork_size += len(data)
        if self.cork_size >= CORK_LIMIT:
            self.flush_cork()
        return 0

    cdef int flush_cork(self) except -1:
        cdef list cork = self.cork
        if cork is None:
            return 0
        self.cork = None
        self.cork_size = 0
        if self.closed:
            return 0
        if len(cork) == 1:
            self.transport_write(cork[0])
        else:
            self.transport.writelines(cork)
        return 0

    def flush_soon(self):
        try:
            self.flush_cork()
        except BaseException:
            log.exception("internal error while writing a response")
            self.transport.abort()

    cdef int send_response(self, bytes status_line, list headers, bytes body) except -1:
        """A whole response in one write, then end it."""
        if self.closed:
            return 0
        if self.filter is not None:
            headers = self.filter.on_head(self.request, status_line, bytes_headers(headers),
                                          PyBytes_GET_SIZE(body))
            if self.filter.compressor is not None:
                body = self.filter.compress_all(body)
            self.filter.size += PyBytes_GET_SIZE(body)
        if PyBytes_GET_SIZE(body) <= INLINE_BODY_MAX:
            self.transport_write(make_head(self, status_line, headers, PyBytes_GET_SIZE(body),
                                           body))
        else:
            head = make_head(self, status_line, headers, PyBytes_GET_SIZE(body), None)
            body = body_to_send(self, body)
            if PyBytes_GET_SIZE(body):
                self.transport.writelines((head, body))
            else:
                self.transport.write(head)
        return self.end_response()

    cdef int send_prepared(self, PreparedHead head, bytes body) except -1:
        """send_response for a head checked and serialised once: only the
        per-request lines are added (see prepared_head)."""
        cdef Py_ssize_t n = PyBytes_GET_SIZE(body)
        if self.closed:
            return 0
        if not prepared_fits(self, head):
            return self.send_response(head.status_line, head.headers, body)
        if self.filter is not None:
            self.filter.size += n
        if n <= INLINE_BODY_MAX:
            self.transport.write(prepared_head(self, head.lines, n, body))
        else:
            out = prepared_head(self, head.lines, n, None)
            if self.response_no_body:
                self.transport.write(out)
            else:
                self.response_remaining = 0
                self.transport.writelines((out, body))
        return self.end_response()

    cdef bint send_prepared_file(self, PreparedHead head, long long length,
                                 int fd) except -1:
        """The head checked and serialised once, then the file (see
        includes/sendfile.pxi: the head leaves with the file's first bytes)."""
        if self.closed:
            return False
        if not prepared_fits(self, head):
            self.start_response(head.status_line, head.headers, length)
            if self.body_remaining() == 0:
                return False
            start_file(self, fd, 0, None)
            return True
        out = prepared_head(self, head.lines, length, None)
        if self.response_no_body:
            self.flush_cork()
            self.transport.write(out)
            return False
        start_file(self, fd, 0, out)
        return True

    cdef int write_body(self, object data) except -1:
        cdef Py_ssize_t n = len(data)
        if self.closed or self.response_no_body or n == 0:
            return 0
        if self.filter is not None:
            if self.filter.compressor is not None:
                data = self.filter.compress(data)
                n = len(data)
                if n == 0:
                    return 0
            self.filter.size += n
        if self.response_remaining >= 0:
            if n > self.response_remaining:
                # More than the Content-Length promised: send what fits, then
                # close so the extra bytes are never taken as a response.
                data = data[:self.response_remaining]
                n = self.response_remaining
                self.response_close = True
            self.response_remaining -= n
            if n:
                self.corked(data)
        elif self.response_chunked:
            self.corked(b"%x\r\n" % n)
            self.corked(data)
            self.corked(b"\r\n")
        else:
            self.corked(data)
        return 0

    cdef int send_file(self, int fd, long long offset) except -1:
        """Send the rest of the response body (its Content-Length) from a
        file, then call exchange.on_file_sent() (see includes/sendfile.pxi)."""
        return start_file(self, fd, offset, None)

    cdef int switch_protocols(self, Exchange exchange, bytes head) except -1:
        """Write a 101 head and hand the connection to exchange: every byte
        after the request (already received or not) goes to its on_data."""
        cdef object rest = None
        if self.closed:
            return 0
        self.flush_cork()
        self.transport.write(head)
        self.response_started = True
        self.upgraded = exchange
        self.set_deadline(D_NONE, 0)
        if self.pending_data is not None:
            rest = self.pending_data[self.pending_offset:]
            self.pending_data = None
        if self.pause_reasons & PAUSE_PIPELINE:
            self.resume_for(PAUSE_PIPELINE)
        if rest:
            exchange.on_data(rest)
        return 0

    cdef long long body_remaining(self):
        """Bytes the Content-Length still promises; 0 when no body may follow,
        -1 when the body is not bounded by a length."""
        if self.response_no_body:
            return 0
        return self.response_remaining

    cdef int end_response(self) except -1:
        """The adapter has sent everything: frame the end, then either keep the
        connection for the next request or close it."""
        cdef ResponseFilter filter = self.filter
        if filter is not None:
            self.filter = None
            if filter.compressor is not None and not self.closed:
                tail = filter.finish()
                if tail and self.response_chunked:
                    filter.size += len(tail)
                    self.corked(b"%x\r\n" % len(tail))
                    self.corked(tail)
                    self.corked(b"\r\n")
                elif tail and not self.response_no_body:
                    filter.size += len(tail)
                    self.corked(tail)  # HTTP/1.0: the body ends at close
            filter.completed(self.request, self.body_received)
        if self.closed:
            self.cork = None
            self.exchange = None
            return 0
        if self.response_chunked:
            self.corked(b"0\r\n\r\n")
        elif self.response_remaining > 0:
            self.response_close = True  # the body fell short of its Content-Length
        self.flush_cork()
        self.exchange = None
        self.request = None
        if self.response_close or self.closing or self.parse_state != S_DONE:
            if (self.client_closes and self.parse_state == S_DONE
                    and (self.pending_data is None
                         or PyBytes_GET_SIZE(self.pending_data) <= self.pending_offset)):
                # The client said this was its last request and all of it
                # has been read: nothing more is coming, so nothing can turn
                # the close into a reset. Close now (the transport still
                # sends what it holds first) instead of lingering.
                return self.close_now()
            # Also when the request body was not read to its end: the rest of
            # it would be taken for the next request.
            self.close_gracefully()
            return 0
        self.parse_state = S_IDLE
        if self.limits.idle_timeout > 0:
            self.set_deadline(D_IDLE, self.limits.idle_timeout)
        else:
            self.set_deadline(D_NONE, 0)
        if self.pending_data is not None:
            if not self.in_feed:
                self.loop.call_soon(self.resume_parsing)
        else:
            self.resume_for(PAUSE_PIPELINE)
        return 0

    def resume_parsing(self):
        """Parse pipelined bytes that waited for the previous response."""
        if self.parse_state == S_IDLE and not self.closed:
            try:
                self.feed()
            except BaseException:
                log.exception("internal error in the HTTP protocol")
                self.transport.abort()

    cdef int abort_response(self) except -1:
        """The response cannot be completed: drop the connection."""
        self.exchange = None
        # What the app already produced still goes out before the close, so
        # the client sees a response cut short rather than none at all.
        self.flush_cork()
        self.finish_filter(0)
        if not self.closed:
            self.parse_state = S_CLOSED
            self.transport.close()
        return 0

    cdef int finish_filter(self, int status) except -1:
        # A response that ends without end_response still gets its log line.
        cdef ResponseFilter filter = self.filter
        if filter is not None:
            self.filter = None
            if status:
                filter.status = status
            if self.request is not None:
                filter.completed(self.request, self.body_received)
        return 0

    cdef bint answer_error(self, int status, str message, bint drop_exchange) except -1:
        cdef HttpRequest req = self.request
        cdef Handler handler
        cdef Exchange exchange
        if (self.router is None or req is None or self.closed or self.response_started
                or not self.router.handles_errors):
            return False
        handler = self.router.error_handler(req, status, message)
        if handler is None:
            return False
        if req.response_filter is not None:
            self.filter = <ResponseFilter?>req.response_filter
        if drop_exchange and self.exchange is not None:
            exchange = self.exchange
            self.exchange = None
            exchange.on_connection_lost()
        if self.parse_state != S_DONE:
            # The rest of the body is not wanted (413) or no longer read:
            # parse nothing more, and close once the error page is sent.
            self.parse_state = S_CLOSED
            self.pending_data = None
            self.closing = True
        exchange = handler.new_exchange(self, req)
        self.exchange = exchange
        exchange.begin()
        if self.exchange is exchange:
            exchange.on_body_complete()  # its body, if any, went to the failed exchange
        return True

    cdef int send_error(self, int status, str detail) except -1:
        """Answer with an error status and close (no keep-alive after errors)."""
        cdef bytes phrase = reason_phrase(status)
        cdef bytes body = b"%d %s\n" % (status, phrase)
        cdef bint head
        if self.closed:
            return 0
        if self.response_started:
            return self.abort_response()
        if status == 413 and self.answer_error(status, detail, True):
            return 0
        # RFC 9110 9.3.2: no content in a response to HEAD, errors included
        # (the method is known once the target began: url is per message).
        if self.request is not None:
            head = self.request.method == b"HEAD"
        else:
            head = self.url is not None and self.parser.method == llhttp.HTTP_HEAD
        self.transport.write(
            b"HTTP/1.1 %d %s\r\n%s%s%scontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s"
            % (status, phrase, SERVER_LINE, g_date_line, ALLOW_LINE if status == 405 else b"",
               len(body), b"" if head else body))
        self.response_started = True
        self.finish_filter(status)
        exchange = self.exchange
        self.exchange = None
        if exchange is not None:
            exchange.on_connection_lost()
        self.close_gracefully()
        return 0

    cdef int close_now(self) except -1:
        self.parse_state = S_CLOSED
        self.set_deadline(D_NONE, 0)
        self.flush_cork()
        self.transport.close()
        return 0

    cdef close_gracefully(self):
        # Lingering close: send FIN, ignore what the client still sends for a
        # moment, then close; a reset would destroy the response in flight.
        self.parse_state = S_CLOSED
        self.pending_data = None
        self.flush_cork()
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.set_deadline(D_LINGER, LINGER_SECONDS)
            if self.pause_reasons:
                self.pause_reasons = 0
                self.transport.resume_reading()
        else:
            self.transport.close()
