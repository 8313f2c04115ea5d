# What _http adds under the exchange seam: the HTTP/1.1 connection and its
# limits. Adapters cimport _exchange, not this.

from fastsnake cimport _llhttp as llhttp
from fastsnake._exchange cimport Channel, Exchange, Handler, HttpRequest, ResponseFilter


cdef class Limits:
    cdef readonly Py_ssize_t max_request_line
    cdef readonly Py_ssize_t max_header_size
    cdef readonly Py_ssize_t max_header_count
    cdef readonly long long max_body_size     # -1: unlimited
    cdef readonly double read_header_timeout  # 0: none
    cdef readonly double read_body_timeout
    cdef readonly double write_timeout
    cdef readonly double idle_timeout


cdef class HttpProtocol(Channel):
    # One HTTP/1.1 connection, and the Channel of the one exchange it carries
    # at a time (inherited: loop, peer, sockname, secure, closing).
    # --- per connection
    cdef object transport
    cdef object transport_write      # transport.write, looked up once (each response calls it)
    cdef object router
    cdef Handler handler
    cdef Limits limits
    cdef llhttp.llhttp_t parser
    cdef object __weakref__          # a draining worker tracks TLS handshakes weakly
    # Per-connection memos for the adapters (a keep-alive connection asks
    # the same questions on every request): see peer_port_text, host_name.
    cdef str peer_port
    cdef bytes named_host
    cdef str named_host_name
    cdef bytes checked_host          # the last Host value valid_host passed
    cdef bint closed
    cdef bint client_closes          # this request's client said it sends no more
    cdef bint reading_paused
    cdef bint writing_paused
    cdef int pause_reasons
    cdef double deadline
    cdef int deadline_kind
    cdef object pending_data         # bytes not yet parsed (pipelining)
    cdef Py_ssize_t pending_offset
    cdef int parse_state
    cdef bint deferred               # routing of this request waits (see start_request)
    cdef const char* exec_end        # end of the bytes llhttp_execute is parsing
    cdef const char* exec_begin      # start of the bytes object those bytes are in
    # The last two bytes of the previous bytes object parsed to its end (a
    # request line split across reads: see cb_url's check of its spaces).
    cdef char tail1
    cdef char tail2

    # --- per request, while parsing
    cdef bytes url
    cdef list headers
    cdef bytes header_name
    cdef bytes header_value
    cdef Py_ssize_t header_bytes
    cdef int host_count
    cdef bytes host
    cdef bint saw_transfer_encoding
    cdef bint transfer_encoding_ok
    cdef bint expect_continue
    cdef bytes upgrade
    cdef long long body_received
    cdef long long body_limit        # this request's max body size, -1: none
    cdef long long chunk_framing     # chunked body bytes that were not data
    cdef int trailer_count
    cdef int error_status
    cdef object stashed_error

    # --- per exchange, while answering (HTTP/1.1: one at a time, so here)
    cdef Exchange exchange
    cdef HttpRequest request
    cdef bint response_started
    cdef ResponseFilter filter       # routing's per-response work, usually None
    cdef list cork                   # a streamed response's writes of this loop turn
    cdef Py_ssize_t cork_size
    cdef bint response_chunked
    cdef bint response_no_body
    cdef bint response_close
    cdef bint continue_sent
    cdef long long response_remaining   # -1: not bounded by Content-Length
    # a response body being sent from a file
    cdef bint sending_file
    cdef int file_fd
    cdef int socket_fd               # the connection's, for sendfile; -1: none; -2: not looked up
    cdef bint file_sendfile          # this file goes out with sendfile
    cdef bint file_drain_wait        # write-buffer limits at 0 (see includes/sendfile.pxi)
    cdef long long file_offset
    cdef long long file_left
    # after a protocol switch (101), every received byte goes here
    cdef Exchange upgraded

    cdef bint in_feed

    cdef int feed(self) except -1
    cdef int feed_loop(self) except -1
    cdef int remember_tail(self, bytes data)
    cdef parse_failed(self, llhttp.llhttp_errno_t err)
    cdef int close_now(self) except -1
    cdef int start_request(self) except -1
    cdef int defer_routing(self, object deferred) except -1
    cdef int finish_message(self) except -1
    cdef int reset_request(self)
    cdef int set_deadline(self, int kind, double seconds)
    cdef int expire(self)

    # The cork and the filter behind the Channel methods (the response API).
    cdef int corked(self, object data) except -1
    cdef int flush_cork(self) except -1
    cdef int finish_filter(self, int status) except -1
