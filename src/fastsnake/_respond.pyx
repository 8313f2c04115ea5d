# cython: language_level=3
"""Fixed responses: Caddy's ``respond``, ``redir``, ``abort`` and the files
``file_server`` chose, and the server's own refusals (a broken app slot's 500,
a full dynamic-app table's 503, an unknown tenant's 404). A fixed response is
serialised once per handler; each request just writes it when its body has
been read."""

import os

from fastsnake._exchange cimport Channel, Exchange, Handler, HttpRequest

from fastsnake._exchange import reason_phrase


cdef class RespondExchange(Exchange):
    cdef RespondHandler handler

    cdef int on_body_complete(self) except -1:
        cdef RespondHandler handler = self.handler
        if handler.close:
            self.channel.closing = True  # "respond { close }": no keep-alive after it
        self.channel.send_response(handler.status_line, handler.headers, handler.body)
        return 0


cdef class RespondHandler(Handler):
    """Answers every request with the same status, headers and body."""

    cdef readonly bytes status_line
    cdef readonly list headers
    cdef readonly bytes body
    cdef readonly bint close

    def __init__(self, int status, bytes body=b"", headers=(), bytes reason=b"",
                 bint close=False):
        self.status_line = b"%d %s" % (status, reason or reason_phrase(status))
        self.headers = [(bytes(name), bytes(value)) for name, value in headers]
        self.body = body
        self.close = close

    cpdef Exchange new_exchange(self, Channel channel, HttpRequest request):
        cdef RespondExchange exchange = RespondExchange.__new__(RespondExchange)
        exchange.channel = channel
        exchange.request = request
        exchange.handler = self
        return exchange


def plain_text(int status, str message):
    """A RespondHandler with a short text/plain body."""
    return RespondHandler(status, message.encode("utf-8") + b"\n",
                          [(b"content-type", b"text/plain; charset=utf-8")])


cdef class AbortExchange(Exchange):
    cdef int begin(self) except -1:
        # Caddy's ``abort``: the connection is dropped with no response.
        self.channel.abort_response()
        return 0


cdef class AbortHandler(Handler):
    cpdef Exchange new_exchange(self, Channel channel, HttpRequest request):
        cdef AbortExchange exchange = AbortExchange.__new__(AbortExchange)
        exchange.channel = channel
        exchange.request = request
        return exchange


cdef class FileExchange(Exchange):
    cdef FileHandler handler
    cdef int fd

    cdef int on_body_complete(self) except -1:
        cdef FileHandler handler = self.handler
        try:
            self.fd = os.open(handler.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        except OSError as exc:
            # Gone (or unreadable) since file_server looked at it.
            self.channel.send_error(404 if isinstance(exc, FileNotFoundError) else 403,
                                  str(exc))
            return 0
        self.channel.start_response(handler.status_line, handler.headers, handler.length)
        if self.channel.body_remaining() == 0:  # HEAD, 304: nothing to send
            return self.on_file_sent()
        self.channel.send_file(self.fd, handler.offset)
        return 0

    cdef int on_file_sent(self) except -1:
        self.close_file()
        if not self.channel.is_closed():
            self.channel.end_response()
        return 0

    cdef int on_connection_lost(self) except -1:
        self.close_file()
        return 0

    cdef close_file(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


cdef class FileHandler(Handler):
    """One file (or a range of it) that file_server chose for one request."""

    cdef readonly bytes status_line
    cdef readonly list headers
    cdef readonly str path
    cdef readonly long long offset
    cdef readonly long long length

    def __init__(self, int status, headers, str path, long long offset, long long length):
        self.status_line = b"%d %s" % (status, reason_phrase(status))
        self.headers = list(headers)
        self.path = path
        self.offset = offset
        self.length = length

    cpdef Exchange new_exchange(self, Channel channel, HttpRequest request):
        cdef FileExchange exchange = FileExchange.__new__(FileExchange)
        exchange.channel = channel
        exchange.request = request
        exchange.handler = self
        exchange.fd = -1
        return exchange
