# Response-head serialisation in C, included by _http.pyx (module-level
# functions on the protocol's fields: Cython allows no include inside a class
# body, and the class would otherwise pass 1,000 lines).
#
# make_head scans the app's header list once to check it
# and to learn its framing fields, then writes the head into one bytes
# object of exactly the right size: no bytearray growth, no per-line Python
# objects. A small body is copied in after the head, so a whole response is
# one object and one write.

from libc.string cimport memcmp, memcpy


cdef extern from "<strings.h>":
    int strncasecmp(const char* a, const char* b, size_t n) nogil

# A whole response's body up to this size is copied behind its head (one
# write); a larger one goes out with writelines, uncopied.
cdef Py_ssize_t INLINE_BODY_MAX = 16 * 1024

cdef enum:
    # What a response header is to the framing.
    H_PLAIN = 0
    H_CONTENT_LENGTH = 1
    H_TRANSFER_ENCODING = 2
    H_CONNECTION = 3
    H_DATE = 4
    H_SERVER = 5


cdef inline int header_kind(const char* name, Py_ssize_t n) noexcept:
    if n == 14:
        if strncasecmp(name, "content-length", 14) == 0:
            return H_CONTENT_LENGTH
    elif n == 17:
        if strncasecmp(name, "transfer-encoding", 17) == 0:
            return H_TRANSFER_ENCODING
    elif n == 10:
        if strncasecmp(name, "connection", 10) == 0:
            return H_CONNECTION
    elif n == 4:
        if strncasecmp(name, "date", 4) == 0:
            return H_DATE
    elif n == 6:
        if strncasecmp(name, "server", 6) == 0:
            return H_SERVER
    return H_PLAIN


cdef inline bint valid_header_name(const unsigned char* p, Py_ssize_t n) noexcept:
    # No CR, LF or NUL (they would split the response, RFC 9110 5.5), no
    # colon or space (they would change where the name ends).
    cdef Py_ssize_t i
    cdef unsigned char c
    if n == 0:
        return False
    for i in range(n):
        c = p[i]
        if c <= 32 and (c == 13 or c == 10 or c == 0 or c == 32):
            return False
        if c == 58:
            return False
    return True


cdef inline bint valid_header_value(const unsigned char* p, Py_ssize_t n) noexcept:
    cdef Py_ssize_t i
    cdef unsigned char c
    for i in range(n):
        c = p[i]
        if c <= 13 and (c == 13 or c == 10 or c == 0):
            return False
    return True


cdef long long parse_content_length(bytes value) except -2:
    """The app's Content-Length (digits, optional surrounding blanks)."""
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(value)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(value)
    cdef Py_ssize_t i = 0
    cdef long long result = 0
    cdef Py_ssize_t digits = 0
    while i < n and (p[i] == 32 or p[i] == 9):
        i += 1
    while i < n and 48 <= p[i] <= 57:
        if result > (0x7FFFFFFFFFFFFFFF - 9) // 10:
            raise ValueError(f"invalid Content-Length {value!r}")
        result = result * 10 + (p[i] - 48)
        digits += 1
        i += 1
    while i < n and (p[i] == 32 or p[i] == 9):
        i += 1
    if digits == 0 or i != n:
        raise ValueError(f"invalid Content-Length {value!r}")
    return result


cdef inline Py_ssize_t format_decimal(char* out, long long value) noexcept:
    """Writes value (>= 0) in decimal at out; returns how many bytes."""
    cdef char digits[24]
    cdef Py_ssize_t n = 0
    cdef Py_ssize_t i
    while True:
        digits[n] = <char>(48 + value % 10)
        n += 1
        value //= 10
        if value == 0:
            break
    for i in range(n):
        out[i] = digits[n - 1 - i]
    return n


cdef inline char* put(char* out, const char* data, Py_ssize_t n) noexcept:
    memcpy(out, data, n)
    return out + n


cdef inline char* put_bytes(char* out, bytes data) noexcept:
    return put(out, PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))


cdef inline int status_code(bytes status_line) except -1:
    """The three-digit code at the start of a status line ("200 OK")."""
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(status_line)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(status_line)
    if (n < 3 or not (48 <= p[0] <= 57 and 48 <= p[1] <= 57 and 48 <= p[2] <= 57)
            or (n > 3 and p[3] != 32)
            or not valid_header_value(p, n)):
        raise ValueError(f"invalid status line {status_line!r}")
    return (p[0] - 48) * 100 + (p[1] - 48) * 10 + (p[2] - 48)


cdef bytes make_head(HttpProtocol proto, bytes status_line, list headers,
                     long long length, bytes body):
    """Serialise the response head and decide the body's framing.

    Raises ValueError (before anything is written) for a header that
    could split the response. length: the body's size when the adapter
    knows it, else -1. body: None, or the whole body, copied behind the
    head as far as the framing lets it be sent (see body_to_send).
    """
    cdef HttpRequest req = proto.request
    cdef int status = status_code(status_line)
    cdef bytes name
    cdef bytes value
    cdef int kind
    cdef long long app_length = -1
    cdef bint has_date = False
    cdef bint has_server = False
    cdef bint add_server
    cdef bint close
    cdef bytes framing_line = None
    cdef bytes connection_line = None
    cdef char length_digits[24]
    cdef Py_ssize_t length_size = 0
    # "HTTP/1.1 " status CRLF ... CRLF
    cdef Py_ssize_t size = 9 + PyBytes_GET_SIZE(status_line) + 4
    cdef bytes out
    cdef char* at
    for name, value in headers:
        if (not valid_header_name(<const unsigned char*>PyBytes_AS_STRING(name),
                                  PyBytes_GET_SIZE(name))
                or not valid_header_value(<const unsigned char*>PyBytes_AS_STRING(value),
                                          PyBytes_GET_SIZE(value))):
            raise ValueError(f"invalid response header {name!r}: {value!r}")
        kind = header_kind(PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name))
        if kind == H_CONTENT_LENGTH:
            app_length = parse_content_length(value)
            continue  # re-emitted below, once
        elif kind == H_TRANSFER_ENCODING:
            continue  # framing is ours to choose
        elif kind == H_CONNECTION:
            if b"close" in value.lower():
                proto.response_close = True
            continue
        elif kind == H_DATE:
            has_date = True
        elif kind == H_SERVER:
            has_server = True
        size += PyBytes_GET_SIZE(name) + PyBytes_GET_SIZE(value) + 4
    add_server = not has_server and (proto.filter is None or not proto.filter.drop_server)
    if add_server:
        size += PyBytes_GET_SIZE(SERVER_LINE)
    if not has_date:
        size += PyBytes_GET_SIZE(g_date_line)
    proto.response_no_body = (req.method == b"HEAD" or status < 200 or status == 204
                             or status == 304)
    if app_length >= 0:
        length = app_length
    if status < 200 or status == 204:
        proto.response_remaining = 0
    elif status == 304 and app_length < 0:
        # RFC 9110 8.6: a 304 may only repeat the length a 200 would have
        # had, which only the app knows; send none unless it gave one.
        proto.response_remaining = 0
    elif length >= 0:
        length_size = format_decimal(length_digits, length)
        size += 18 + length_size  # "content-length: " N CRLF
        # HEAD (and 304) announce the length but send no body.
        proto.response_remaining = 0 if proto.response_no_body else length
    elif proto.response_no_body:
        proto.response_remaining = 0
    elif req.http_minor == 1:
        framing_line = b"transfer-encoding: chunked\r\n"
        proto.response_chunked = True
    else:
        proto.response_close = True  # HTTP/1.0: the body ends when we close
    close = proto.response_close or not req.keep_alive or proto.closing
    proto.response_close = close
    if close:
        connection_line = b"connection: close\r\n"
    elif req.http_minor == 0:
        connection_line = b"connection: keep-alive\r\n"
    if framing_line is not None:
        size += PyBytes_GET_SIZE(framing_line)
    if connection_line is not None:
        size += PyBytes_GET_SIZE(connection_line)
    if body is not None:
        body = body_to_send(proto, body)
        size += PyBytes_GET_SIZE(body)
    proto.response_started = True

    out = PyBytes_FromStringAndSize(NULL, size)
    at = PyBytes_AS_STRING(out)
    at = put(at, "HTTP/1.1 ", 9)
    at = put_bytes(at, status_line)
    at = put(at, "\r\n", 2)
    for name, value in headers:
        kind = header_kind(PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name))
        if kind == H_CONTENT_LENGTH or kind == H_TRANSFER_ENCODING or kind == H_CONNECTION:
            continue
        at = put_bytes(at, name)
        at = put(at, ": ", 2)
        at = put_bytes(at, value)
        at = put(at, "\r\n", 2)
    if add_server:
        at = put_bytes(at, SERVER_LINE)
    if not has_date:
        at = put_bytes(at, g_date_line)
    if length_size:
        at = put(at, "content-length: ", 16)
        at = put(at, length_digits, length_size)
        at = put(at, "\r\n", 2)
    if framing_line is not None:
        at = put_bytes(at, framing_line)
    if connection_line is not None:
        at = put_bytes(at, connection_line)
    at = put(at, "\r\n", 2)
    if body is not None:
        at = put_bytes(at, body)
    if at != PyBytes_AS_STRING(out) + size:
        raise AssertionError("response head size miscounted")
    return out

cdef bint prepared_fits(HttpProtocol proto, PreparedHead head) except -1:
    """Whether this response's filter (if any) leaves a prepared head as it
    is; if so, note for the filter (the access log) what was sent."""
    cdef ResponseFilter filter = proto.filter
    if filter is None:
        return True
    if (filter.header_ops or filter.drop_server
            or (filter.encoding is not None and not head.encoded)):
        return False  # header ops or compression change the head
    # Only the access log's (or ``encode``'s, which leaves an encoded body
    # alone) bookkeeping, as on_head keeps it.
    filter.status = head.status
    filter.headers = head.headers
    return True


cdef bytes prepared_head(HttpProtocol proto, bytes lines, long long length, bytes inline):
    """make_head for a PreparedHead's lines (checked when it was made: no
    framing, Date or Server among them; a status with a Content-Length
    body) and a body of ``length`` bytes; ``inline``, the whole body, is
    copied in behind the head (None: the caller sends the body). A filter
    here changes nothing in the head (prepared_fits said so)."""
    cdef HttpRequest req = proto.request
    cdef bytes method = req.method
    cdef bytes connection_line = None
    cdef char length_digits[24]
    cdef Py_ssize_t length_size = format_decimal(length_digits, length)
    cdef Py_ssize_t size
    cdef bytes out
    cdef char* at
    proto.response_no_body = (PyBytes_GET_SIZE(method) == 4
                              and memcmp(PyBytes_AS_STRING(method), "HEAD", 4) == 0)
    proto.response_remaining = 0 if proto.response_no_body else length
    proto.response_close = proto.response_close or not req.keep_alive or proto.closing
    if proto.response_close:
        connection_line = b"connection: close\r\n"
    elif req.http_minor == 0:
        connection_line = b"connection: keep-alive\r\n"
    proto.response_started = True
    if proto.response_no_body:
        inline = None
    size = (PyBytes_GET_SIZE(lines) + PyBytes_GET_SIZE(SERVER_LINE)
            + PyBytes_GET_SIZE(g_date_line) + 18 + length_size + 2)
    if connection_line is not None:
        size += PyBytes_GET_SIZE(connection_line)
    if inline is not None:
        size += PyBytes_GET_SIZE(inline)
        proto.response_remaining -= PyBytes_GET_SIZE(inline)
    out = PyBytes_FromStringAndSize(NULL, size)
    at = PyBytes_AS_STRING(out)
    at = put_bytes(at, lines)
    at = put_bytes(at, SERVER_LINE)
    at = put_bytes(at, g_date_line)
    at = put(at, "content-length: ", 16)
    at = put(at, length_digits, length_size)
    at = put(at, "\r\n", 2)
    if connection_line is not None:
        at = put_bytes(at, connection_line)
    at = put(at, "\r\n", 2)
    if inline is not None:
        at = put_bytes(at, inline)
    if at != PyBytes_AS_STRING(out) + size:
        raise AssertionError("response head size miscounted")
    return out


cdef bytes body_to_send(HttpProtocol proto, bytes body):
    """What of a whole body (its head just made) goes on the wire:
    nothing for HEAD, 204 and 304, at most the Content-Length the app
    promised (then the connection closes, so extra bytes are never taken
    for a response)."""
    cdef Py_ssize_t n = PyBytes_GET_SIZE(body)
    if proto.response_no_body or n == 0:
        return b""
    if 0 <= proto.response_remaining < n:
        body = body[:proto.response_remaining]
        n = proto.response_remaining
        proto.response_close = True
    if proto.response_remaining >= 0:
        proto.response_remaining -= n
    if proto.response_chunked:
        # Only when the app's own headers asked for nothing: cannot
        # happen with a known length, kept for safety.
        raise AssertionError("a whole body with chunked framing")
    return body
