# cython: language_level=3
"""The exchange that relays a request elsewhere: the Cython side of it.

A ``RelayHandler`` makes, per request, a ``RelayExchange`` and a Python
relay object (``upstream.relay.Relay``: it talks to the upstream server).
The exchange is only a bridge: the connection's hooks (which are C-level
and cannot be overridden from Python) call the relay's methods, and the
relay answers through the ``def`` methods here, which call the Channel.
Relaying is I/O-bound (one more socket per request), so the cost of the
Python calls is small beside the hop itself; measured in
docs/python-directive.md ("Dynamic apps").

See docs/architecture.md, "The connection / exchange seam".
"""

from fastsnake._exchange cimport Channel, Exchange, Handler, HttpRequest

# includes/consts.pxi's PAUSE_BODY: stop reading this exchange's body.
cdef int PAUSE_BODY = 2


cdef class RelayExchange(Exchange):
    cdef readonly object relay
    cdef bint lost

    cdef int begin(self) except -1:
        self.relay.begin()
        return 0

    cdef int on_body(self, bytes chunk) except -1:
        self.relay.on_body(chunk)
        return 0

    cdef int on_body_complete(self) except -1:
        self.relay.on_body_complete()
        return 0

    cdef int on_writable(self) except -1:
        self.relay.on_writable()
        return 0

    cdef int on_connection_lost(self) except -1:
        self.lost = True
        self.relay.on_connection_lost()
        return 0

    cdef int on_eof(self) except -1:
        self.relay.on_eof()
        return 0

    cdef int on_data(self, bytes data) except -1:
        self.relay.on_data(data)
        return 0

    # -- what the relay may ask of the Channel

    @property
    def request(self):
        return self.request

    @property
    def peer(self):
        return self.channel.peer

    @property
    def secure(self):
        return self.channel.secure

    def is_closed(self):
        return self.lost or self.channel.is_closed()

    def is_writable(self):
        return self.channel.is_writable()

    def send_continue(self):
        self.channel.send_continue()

    def send_response(self, bytes status_line, list headers, bytes body):
        self.channel.send_response(status_line, headers, body)

    def start_response(self, bytes status_line, list headers, long long length):
        self.channel.start_response(status_line, headers, length)

    def write_body(self, data):
        self.channel.write_body(data)

    def end_response(self):
        self.channel.end_response()

    def abort_response(self):
        self.channel.abort_response()

    def send_error(self, int status, str detail):
        self.channel.send_error(status, detail)

    def switch_protocols(self, bytes head):
        self.channel.switch_protocols(self, head)

    def pause_body(self):
        self.channel.pause_for(PAUSE_BODY)

    def resume_body(self):
        self.channel.resume_for(PAUSE_BODY)

    def get_transport(self):
        return self.channel.get_transport()


cdef class RelayHandler(Handler):
    """Relays every request: ``new_relay(exchange)`` makes the relay object
    of each one (an upstream pool's, bound to where requests go)."""

    cdef readonly object new_relay

    def __init__(self, new_relay):
        self.new_relay = new_relay

    cpdef Exchange new_exchange(self, Channel channel, HttpRequest request):
        cdef RelayExchange exchange = RelayExchange.__new__(RelayExchange)
        exchange.channel = channel
        exchange.request = request
        exchange.relay = self.new_relay(exchange)
        return exchange
