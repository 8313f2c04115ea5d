# cython: language_level=3
"""Fixed responses: Caddy's ``respond``, and the server's own refusals
(a broken app slot's 500, a full dynamic-app table's 503, an unknown
tenant's 404). The response is serialised once per handler; each request
just writes it when its body has been read."""

from fastsnake._http cimport Exchange, Handler, HttpProtocol, HttpRequest


cdef class RespondExchange(Exchange):
    cdef RespondHandler handler

    cdef int on_body_complete(self) except -1:
        cdef RespondHandler handler = self.handler
        self.proto.send_response(handler.status_line, handler.headers, handler.body)
        return 0


cdef class RespondHandler(Handler):
    """Answers every request with the same status, headers and body."""

    cdef readonly bytes status_line
    cdef readonly list headers
    cdef readonly bytes body

    def __init__(self, int status, bytes body=b"", headers=(), bytes reason=b""):
        from fastsnake._http import reason_phrase
        self.status_line = b"%d %s" % (status, reason or reason_phrase(status))
        self.headers = [(bytes(name), bytes(value)) for name, value in headers]
        self.body = body

    cpdef Exchange new_exchange(self, HttpProtocol proto, HttpRequest request):
        cdef RespondExchange exchange = RespondExchange.__new__(RespondExchange)
        exchange.proto = proto
        exchange.request = request
        exchange.handler = self
        return exchange


def plain_text(int status, str message):
    """A RespondHandler with a short text/plain body."""
    return RespondHandler(status, message.encode("utf-8") + b"\n",
                          [(b"content-type", b"text/plain; charset=utf-8")])
