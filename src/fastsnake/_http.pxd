# The interface _wsgi and _asgi cimport: the protocol, the parsed request,
# and the two classes an adapter subclasses (Handler, Exchange).

from fastsnake cimport _llhttp as llhttp


cdef class HttpRequest:
    # What the parser learnt, handed to the adapter at end of headers.
    cdef readonly bytes method
    cdef readonly bytes target          # request-target as received
    cdef public bytes path              # target up to '?' (routing may rewrite it)
    cdef public bytes query             # after '?', b"" if none (routing may rewrite it)
    cdef readonly list headers          # [(name, value)], bytes, names lowercased
    cdef readonly bytes host            # the Host header's value, b"" if absent
    cdef readonly int http_minor        # 0 or 1
    cdef readonly bint keep_alive
    cdef readonly bint expect_continue
    cdef readonly bint chunked
    cdef readonly long long content_length   # -1 when not given
    cdef readonly bytes upgrade         # the Upgrade header when llhttp saw one
    cdef readonly object peer           # the client's (host, port), or None
    cdef readonly bint secure           # it came over TLS (scheme https / wss)
    # Set by routing (handle_path, root, request_body, header/encode/log):
    cdef public bytes script_name       # the prefix handle_path stripped, b"" if none
    cdef public dict vars               # Caddy's request vars ("root"), or None
    cdef public long long body_limit    # request_body max_size; -1: the listener's limit
    cdef public object response_filter  # a ResponseFilter for this response, or None


cdef class Exchange:
    # One request/response on a connection; adapters subclass it.
    cdef HttpProtocol proto
    cdef HttpRequest request
    cdef int begin(self) except -1
    cdef int on_body(self, bytes chunk) except -1
    cdef int on_body_complete(self) except -1
    cdef int on_writable(self) except -1
    cdef int on_connection_lost(self) except -1
    cdef int on_file_sent(self) except -1
    cdef int on_eof(self) except -1
    cdef int on_data(self, bytes data) except -1


cdef class Handler:
    # Makes an Exchange for each request; one per served app.
    cpdef Exchange new_exchange(self, HttpProtocol proto, HttpRequest request)


cdef class Limits:
    cdef readonly Py_ssize_t max_request_line
    cdef readonly Py_ssize_t max_header_size
    cdef readonly Py_ssize_t max_header_count
    cdef readonly long long max_body_size     # -1: unlimited
    cdef readonly double read_header_timeout  # 0: none
    cdef readonly double read_body_timeout
    cdef readonly double write_timeout
    cdef readonly double idle_timeout


cdef class ResponseFilter:
    # What routing asks of one response: header ops, compression, access log.
    cdef list header_ops
    cdef bytes encoding                 # b"gzip" / b"zstd" negotiated, or None
    cdef object compressible            # content-type -> bool, or None for any
    cdef long long minimum_length
    cdef int level                      # gzip level; 0: the default
    cdef object logger                  # access-log callable, or None
    cdef object compressor              # set while this response is compressed
    cdef long long source_length        # the uncompressed length, -1 if unknown
    cdef int status
    cdef long long size                 # body bytes written to the client
    cdef double started
    cdef bint logged
    cdef list headers                   # the headers sent, for the log
    cdef bint drop_server               # ``header -Server``: no Server line at all
    cdef list on_head(self, HttpRequest request, bytes status_line, list headers,
                      long long length)
    cdef list apply_header_ops(self, list headers)
    cdef bint should_compress(self, HttpRequest request, int status, list headers,
                              long long length) except -1
    cdef list start_compressing(self, list headers, long long length)
    cdef bytes compress_all(self, bytes body)
    cdef bytes compress(self, object data)
    cdef bytes finish(self)
    cdef completed(self, HttpRequest request, long long bytes_read)


cdef class HttpProtocol:
    # --- per connection
    cdef object loop
    cdef object transport
    cdef object router
    cdef Handler handler
    cdef Limits limits
    cdef llhttp.llhttp_t parser
    cdef readonly object peer        # (host, port) or None
    cdef readonly object sockname
    cdef readonly bint secure        # a TLS connection: no sendfile, scheme https
    cdef object __weakref__          # a draining worker tracks TLS handshakes weakly
    # Per-connection memos for the adapters (a keep-alive connection asks
    # the same questions on every request): see peer_port_text, host_name.
    cdef str peer_port
    cdef bytes named_host
    cdef str named_host_name
    cdef bint closed
    cdef bint closing                # no new requests: shutdown or Connection: close
    cdef bint client_closes          # this request's client said it sends no more
    cdef bint reading_paused
    cdef bint writing_paused
    cdef int pause_reasons
    cdef double deadline
    cdef int deadline_kind
    cdef object pending_data         # bytes not yet parsed (pipelining)
    cdef Py_ssize_t pending_offset
    cdef int parse_state
    cdef const char* exec_end        # end of the bytes llhttp_execute is parsing

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

    # --- per request, while answering
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
    cdef int socket_fd
    cdef long long file_offset
    cdef long long file_left
    # after a protocol switch (101), every received byte goes here
    cdef Exchange upgraded

    cdef bint in_feed

    cdef int feed(self) except -1
    cdef int feed_loop(self) except -1
    cdef parse_failed(self, llhttp.llhttp_errno_t err)
    cdef close_gracefully(self)
    cdef int close_now(self) except -1
    cdef int start_request(self) except -1
    cdef int finish_message(self) except -1
    cdef int reset_request(self)
    cdef int pause_for(self, int reason)
    cdef int resume_for(self, int reason)
    cdef int set_deadline(self, int kind, double seconds)
    cdef int expire(self)

    # The response API adapters call.
    cdef int corked(self, object data) except -1
    cdef int flush_cork(self) except -1
    cdef int send_continue(self) except -1
    cdef int send_response(self, bytes status_line, list headers, bytes body) except -1
    cdef int start_response(self, bytes status_line, list headers, long long length) except -1
    cdef int write_body(self, object data) except -1
    cdef int send_file(self, int fd, long long offset) except -1
    cdef int switch_protocols(self, Exchange exchange, bytes head) except -1
    cdef long long body_remaining(self)
    cdef int end_response(self) except -1
    cdef int abort_response(self) except -1
    cdef int finish_filter(self, int status) except -1
    cdef int send_error(self, int status, str detail) except -1
    cdef str peer_port_text(self)
    cdef str host_name(self, bytes host)
    cdef bint is_writable(self)
    cdef bint is_closed(self)
    cdef object get_transport(self)
