# The exchange seam: what one request/response is, whatever connection
# carries it. The adapters (_wsgi, _asgi, _respond) cimport this module and
# never _http; a connection module (_http for HTTP/1.1, an HTTP/2 one later)
# cimports it and gives each exchange a Channel. See docs/architecture.md,
# "The connection / exchange seam".


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


cdef class PreparedHead:
    # A fixed response's status line and headers, checked and serialised
    # once (a cached file's, respond's); the connection adds only what
    # differs per request: Date, Server, Content-Length, Connection.
    cdef readonly bytes status_line
    cdef readonly list headers
    cdef readonly bytes lines        # "HTTP/1.1 <status>\r\n" then "name: value\r\n" each
    cdef readonly int status
    cdef readonly bint encoded       # has a Content-Encoding: ``encode`` leaves it as it is


cdef class Channel:
    # The response side of one exchange: what an adapter may ask of the
    # connection that carries its request. HTTP/1.1 answers one request at a
    # time, so its connection (_http.HttpProtocol) is the Channel of its
    # current exchange; HTTP/2 will make one Channel per stream. Every method
    # here is overridden by the connection; the base only says what they mean.
    cdef object loop
    cdef readonly object peer        # the client's (host, port), or None
    cdef readonly object sockname    # the local (host, port)
    cdef readonly bint secure        # TLS: scheme https / wss, no sendfile
    cdef bint closing                # no new exchanges after this one (respond ... close)
    # One adapter's memo for the requests this channel carries (WSGI keeps
    # its environ template here: a keep-alive client's requests share most
    # of it). Whoever finds an object of another type there replaces it.
    cdef object memo

    cdef int send_continue(self) except -1
    # headers: [(name, value)], each bytes or a str of latin-1 characters only
    # (WSGI's native strings, written as their latin-1 bytes).
    cdef int send_response(self, bytes status_line, list headers, bytes body) except -1
    cdef int send_prepared(self, PreparedHead head, bytes body) except -1
    cdef bint send_prepared_file(self, PreparedHead head, long long length, int fd) except -1
    cdef int start_response(self, bytes status_line, list headers, long long length) except -1
    cdef int write_body(self, object data) except -1
    cdef int send_file(self, int fd, long long offset) except -1
    cdef int switch_protocols(self, Exchange exchange, bytes head) except -1
    cdef long long body_remaining(self)
    cdef int end_response(self) except -1
    cdef int abort_response(self) except -1
    cdef int send_error(self, int status, str detail) except -1
    cdef bint answer_error(self, int status, str message, bint drop_exchange) except -1
    cdef int pause_for(self, int reason)
    cdef int resume_for(self, int reason)
    cdef int limit_body(self, long long limit) except -1
    cdef close_gracefully(self)
    cdef str peer_port_text(self)
    cdef str host_name(self, bytes host)
    cdef bint is_writable(self)
    cdef bint is_closed(self)
    cdef object get_transport(self)


cdef class Exchange:
    # One request/response; adapters subclass it. The connection calls these
    # hooks; the adapter answers through self.channel.
    cdef Channel channel
    cdef HttpRequest request
    cdef int begin(self) except -1
    cdef int on_body(self, bytes chunk) except -1
    cdef int on_body_complete(self) except -1
    cdef int on_writable(self) except -1
    cdef int on_connection_lost(self) except -1
    cdef int on_file_sent(self) except -1
    cdef int on_eof(self) except -1
    cdef int on_data(self, bytes data) except -1


cdef class EmptyResponse(Exchange):
    # What Caddy gives a request that no route handles: 200 with no body.
    pass


cdef class Handler:
    # Makes an Exchange for each request; one per served app.
    cpdef Exchange new_exchange(self, Channel channel, HttpRequest request)


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
