# cython: language_level=3
"""The exchange seam: one request/response, whatever connection carries it.

A connection (``_http.HttpProtocol`` for HTTP/1.1; an HTTP/2 connection
later) parses a request head into an ``HttpRequest``, asks its ``Handler``
(routing, or one app's adapter) for an ``Exchange``, and then calls the
exchange's hooks as the body arrives and the socket drains. The exchange
answers through its ``Channel``: the response API of the connection. The
adapters (``_wsgi``, ``_asgi``, ``_respond``) see only this module, so a new
protocol needs a new Channel, not new adapters. ``ResponseFilter`` is
routing's per-response work (header operations, compression, access log),
applied by the Channel as it writes.

See docs/architecture.md, "The connection / exchange seam".
"""

cimport cython

import logging

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE

# The logger the protocol has always used: an access-log failure reads the same.
cdef object log = logging.getLogger("fastsnake.http")

# ------------------------------------------------------------ request object

# One per request: a few kept for reuse spare the allocator (and the GC's
# bookkeeping) on every request of a busy connection.
@cython.freelist(8)
cdef class HttpRequest:
    """The parsed head of one request (see _exchange.pyi)."""

    def __repr__(self):
        return f"<HttpRequest {self.method!r} {self.target!r} HTTP/1.{self.http_minor}>"


# -------------------------------------------------------- adapter interfaces

cdef class Exchange:
    """Base of an adapter's per-request object; every hook defaults to no-op."""

    cdef int begin(self) except -1:
        # Called once the protocol has registered the exchange: the place to
        # start an app that may answer at once (even before begin returns).
        return 0

    cdef int on_body(self, bytes chunk) except -1:
        return 0

    cdef int on_body_complete(self) except -1:
        return 0

    cdef int on_writable(self) except -1:
        return 0

    cdef int on_connection_lost(self) except -1:
        return 0

    cdef int on_file_sent(self) except -1:
        return 0

    cdef int on_eof(self) except -1:
        # The client sent FIN: it will send nothing more (it may still read).
        return 0

    cdef int on_data(self, bytes data) except -1:
        # Bytes after a protocol switch (only upgraded exchanges get them).
        return 0


cdef class Handler:
    """Base of an adapter's per-app object."""

    cpdef Exchange new_exchange(self, Channel channel, HttpRequest request):
        raise NotImplementedError


cdef class EmptyResponse(Exchange):
    # What Caddy gives a request that no route handles: 200 with no body.
    cdef int on_body_complete(self) except -1:
        self.channel.send_response(b"200 OK", [], b"")
        return 0


# ------------------------------------------------------------------ prepared heads

cdef bint plain_header(bytes name, bytes value):
    """A header a prepared head may hold: one that cannot split the response
    (no CR, LF or NUL; no colon or blank in the name: RFC 9110 5.5), and
    none of the lines the connection writes itself (framing, Date, Server),
    which a connection must see on each response to act on."""
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(name)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(name)
    cdef Py_ssize_t i
    if n == 0 or name.lower() in CONNECTION_OWNED:
        return False
    for i in range(n):
        if p[i] <= 32 or p[i] == 58:
            return False
    p = <const unsigned char*>PyBytes_AS_STRING(value)
    for i in range(PyBytes_GET_SIZE(value)):
        if p[i] == 13 or p[i] == 10 or p[i] == 0:
            return False
    return True


cdef frozenset CONNECTION_OWNED = frozenset([
    b"content-length", b"transfer-encoding", b"connection", b"date", b"server"])


cdef class PreparedHead:
    """A fixed response head, checked and serialised once (see _exchange.pxd).
    Raises ValueError for what only the per-response path handles: a status
    whose framing is not a Content-Length body (1xx, 204, 304), a header the
    connection writes or acts on, a line that could split the response."""

    def __init__(self, bytes status_line, headers):
        cdef int status
        cdef bytes name
        cdef bytes value
        cdef list parts
        self.status_line = status_line
        self.headers = [(bytes(name), bytes(value)) for name, value in headers]
        if (len(status_line) < 3 or not status_line[:3].isdigit()
                or (len(status_line) > 3 and status_line[3:4] != b" ")
                or not plain_header(b"status", status_line)):
            raise ValueError(f"invalid status line {status_line!r}")
        status = int(status_line[:3])
        if status < 200 or status == 204 or status == 304:
            raise ValueError(f"status {status} has no Content-Length body")
        self.status = status
        self.encoded = False
        parts = [b"HTTP/1.1 ", status_line, b"\r\n"]
        for name, value in self.headers:
            if not plain_header(name, value):
                raise ValueError(f"not a plain response header: {name!r}")
            if name.lower() == b"content-encoding":
                self.encoded = True
            parts += [name, b": ", value, b"\r\n"]
        self.lines = b"".join(parts)


# ------------------------------------------------------------------ channel

cdef class Channel:
    """The response side of one exchange (see _exchange.pxd). A connection
    module subclasses it; these bodies only refuse, so that a Channel that
    forgets a method fails loudly instead of dropping a response."""

    cdef int send_continue(self) except -1:
        raise NotImplementedError

    cdef int send_response(self, bytes status_line, list headers, bytes body) except -1:
        raise NotImplementedError

    cdef int send_prepared(self, PreparedHead head, bytes body) except -1:
        """send_response of a head checked once; a connection may override
        it to skip the per-request check and serialisation."""
        return self.send_response(head.status_line, head.headers, body)

    cdef bint send_prepared_file(self, PreparedHead head, long long length, int fd) except -1:
        """A whole response from a file: the head, then ``length`` bytes of
        ``fd`` from its start, as send_file sends them (the exchange hears
        on_file_sent). False when no body may follow (HEAD): nothing more
        is sent, and the exchange ends the response itself. A connection
        may override it to skip the per-request check of the head and send
        it with the file's first bytes."""
        self.start_response(head.status_line, head.headers, length)
        if self.body_remaining() == 0:
            return False
        self.send_file(fd, 0)
        return True

    cdef int start_response(self, bytes status_line, list headers, long long length) except -1:
        raise NotImplementedError

    cdef int write_body(self, object data) except -1:
        raise NotImplementedError

    cdef int send_file(self, int fd, long long offset) except -1:
        raise NotImplementedError

    cdef int switch_protocols(self, Exchange exchange, bytes head) except -1:
        raise NotImplementedError

    cdef long long body_remaining(self):
        return -1

    cdef int end_response(self) except -1:
        raise NotImplementedError

    cdef int abort_response(self) except -1:
        raise NotImplementedError

    cdef int send_error(self, int status, str detail) except -1:
        raise NotImplementedError

    cdef bint answer_error(self, int status, str message, bint drop_exchange) except -1:
        """The exchange failed before its response began (an app raised, a
        body too large): let the site's ``handle_errors`` routes answer.
        False when it has none for this error; the caller then answers as
        it would have. ``drop_exchange``: the current exchange hears
        on_connection_lost first (it will never answer)."""
        return False

    cdef int pause_for(self, int reason):
        return 0

    cdef int resume_for(self, int reason):
        return 0

    cdef int limit_body(self, long long limit) except -1:
        raise NotImplementedError

    cdef close_gracefully(self):
        raise NotImplementedError

    cdef str peer_port_text(self):
        return ""

    cdef str host_name(self, bytes host):
        return host.decode("latin-1")

    cdef bint is_writable(self):
        return False

    cdef bint is_closed(self):
        return True

    cdef object get_transport(self):
        return None


# ---------------------------------------------------------- reason phrases

cdef dict g_reason_phrases = {}


def reason_phrase(int status):
    """RFC 9110's reason phrase for ``status`` (b"Unknown" for others)."""
    return g_reason_phrases.get(status, b"Unknown")


cdef _init_reason_phrases():
    import http
    for status in http.HTTPStatus:
        g_reason_phrases[status.value] = status.phrase.encode("latin-1")


_init_reason_phrases()


include "includes/response_filter.pxi"
