# Included by _exchange.pyx: what routing asks of one response, applied as the
# protocol writes it -- the ``header`` directive's operations, ``encode``'s
# compression, and the site's access log. A request whose routes ask for none
# of these has no filter, and the protocol's write paths skip it with one
# pointer test.

import time
import zlib

# The ``header`` directive's operations (see routing.HeaderOps).
cdef enum:
    OP_SET = 0
    OP_ADD = 1
    OP_DELETE = 2
    OP_DEFAULT = 3
    OP_REPLACE = 4

# Compressing fewer bytes than this is not worth the CPU (Caddy's default).
DEFAULT_MINIMUM_LENGTH = 512


cdef bint name_matches(bytes pattern, bytes name):
    # header names are compared lower-cased; ``-X-*`` style wildcards delete many
    if pattern == b"*":
        return True
    if pattern.endswith(b"*") and pattern.startswith(b"*"):
        return pattern[1:-1] in name
    if pattern.endswith(b"*"):
        return name.startswith(pattern[:-1])
    if pattern.startswith(b"*"):
        return name.endswith(pattern[1:])
    return name == pattern


cdef class ResponseFilter:
    """Per-response work that routing attached to a request (see _exchange.pyi)."""

    def __init__(self, list header_ops=None, bytes encoding=None, compressible=None,
                 long long minimum_length=DEFAULT_MINIMUM_LENGTH, logger=None, int level=0):
        self.header_ops = header_ops
        self.encoding = encoding
        self.compressible = compressible
        self.minimum_length = minimum_length
        self.logger = logger
        self.level = level
        self.compressor = None
        self.source_length = -1
        self.status = 0
        self.size = 0
        self.started = time.monotonic() if logger is not None else 0.0
        self.logged = False
        self.headers = None
        # ``header -Server`` must also remove the server's own Server line.
        # (A loop, not any(): most filters have no header ops, and a
        # generator object per response would cost more than the rest.)
        self.drop_server = False
        if header_ops:
            for op in header_ops:
                if op[0] == OP_DELETE and name_matches(op[1], b"server"):
                    self.drop_server = True
                    break

    cdef list on_head(self, HttpRequest request, bytes status_line, list headers,
                      long long length):
        """Apply header operations and choose compression; returns the headers
        to send. When compressing, Content-Length is dropped (the protocol
        then frames the body itself) and ``source_length`` keeps it."""
        cdef int status = int(status_line[:3])
        self.status = status
        if self.header_ops:
            headers = self.apply_header_ops(headers)
        if self.encoding is not None and self.should_compress(request, status, headers, length):
            headers = self.start_compressing(headers, length)
        self.headers = headers
        return headers

    cdef list apply_header_ops(self, list headers):
        cdef list out = list(headers)
        cdef int op
        cdef bytes lname, name
        for op, lname, name, value, pattern in self.header_ops:
            if op == OP_SET:
                out = [(n, v) for n, v in out if n.lower() != lname]
                out.append((name, value))
            elif op == OP_ADD:
                out.append((name, value))
            elif op == OP_DELETE:
                out = [(n, v) for n, v in out if not name_matches(lname, n.lower())]
            elif op == OP_DEFAULT:
                if not any(n.lower() == lname for n, v in out):
                    out.append((name, value))
            elif op == OP_REPLACE:
                out = [(n, pattern.sub(value, v) if name_matches(lname, n.lower()) else v)
                       for n, v in out]
        return out

    cdef bint should_compress(self, HttpRequest request, int status, list headers,
                              long long length) except -1:
        cdef bytes lname
        cdef bytes content_type = b""
        if request.method == b"HEAD" or status < 200 or status == 204 or status == 206 \
                or status == 304:
            return False
        for name, value in headers:
            lname = name.lower()
            if lname == b"content-encoding":
                return False  # already encoded by the app
            if lname == b"content-length":
                length = int(value)
            elif lname == b"content-type":
                content_type = value
            elif lname == b"cache-control" and b"no-transform" in value.lower():
                return False
        if 0 <= length < self.minimum_length:
            return False
        return self.compressible is None or self.compressible(content_type)

    cdef list start_compressing(self, list headers, long long length):
        cdef list out = []
        cdef bint vary_set = False
        cdef bytes lname
        for name, value in headers:
            lname = name.lower()
            if lname == b"content-length":
                length = int(value)
                continue
            if lname == b"etag" and value.endswith(b'"') and not value.startswith(b"W/"):
                # The bytes differ from the identity representation's.
                value = value[:-1] + b"-" + self.encoding + b'"'
            elif lname == b"vary":
                vary_set = True
                if b"accept-encoding" not in value.lower():
                    value = value + b", Accept-Encoding"
            out.append((name, value))
        out.append((b"content-encoding", self.encoding))
        if not vary_set:
            out.append((b"vary", b"Accept-Encoding"))
        self.source_length = length
        self.compressor = new_compressor(self.encoding, self.level)
        return out

    cdef bytes compress_all(self, bytes body):
        cdef bytes out = self.compressor.compress(body) + self.compressor.flush()
        self.compressor = None
        return out

    cdef bytes compress(self, object data):
        # A sync flush per write, so streamed responses (server-sent events,
        # progress output) reach the client as they are written.
        return self.compressor.compress(data) + self.compressor.flush(zlib.Z_SYNC_FLUSH)

    cdef bytes finish(self):
        cdef object compressor = self.compressor
        self.compressor = None
        return compressor.flush() if compressor is not None else b""

    cdef completed(self, HttpRequest request, long long bytes_read):
        if self.logger is None or self.logged:
            return
        self.logged = True
        try:
            self.logger(request, self.status, self.size, time.monotonic() - self.started,
                        self.headers or [], bytes_read)
        except Exception:
            log.exception("access log failed")


cdef object new_compressor(bytes encoding, int level):
    if encoding == b"gzip":
        # 5 is Caddy's default: most of 9's ratio at a fraction of its CPU.
        return zlib.compressobj(level or 5, zlib.DEFLATED, 31)
    if encoding == b"zstd":
        from compression import zstd  # Python 3.14+; config checks it exists
        return ZstdStream(zstd.ZstdCompressor())
    raise ValueError(f"unknown encoding {encoding!r}")


class ZstdStream:
    """zlib's compress/flush shape over a zstd compressor."""

    def __init__(self, compressor):
        self.compressor = compressor

    def compress(self, data):
        return self.compressor.compress(data)

    def flush(self, mode=None):
        from compression import zstd
        if mode is None:
            return self.compressor.flush()
        return self.compressor.flush(zstd.ZstdCompressor.FLUSH_BLOCK)
