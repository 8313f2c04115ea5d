# Response-head serialisation in C, included by _http.pyx (module-level
# functions on the protocol's fields: Cython allows no include inside a class
# body, and the class would otherwise pass 1,000 lines).
#
# make_head scans the app's header list once to check it
# and to learn its framing fields, then writes the head into one bytes
# object of exactly the right size: no bytearray growth, no per-line Python
# objects. A small body is copied in after the head, so a whole response is
# one object and one write. Names and values are bytes, or str of latin-1
# characters only (WSGI's native strings, written as their latin-1 bytes:
# the WSGI adapter need not encode each one into a new object first).

from cpython.unicode cimport PyUnicode_1BYTE_DATA, PyUnicode_1BYTE_KIND, PyUnicode_GET_LENGTH, PyUnicode_KIND
from libc.stdint cimport uint64_t
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


# Word-at-a-time checks (8 bytes per step): whether any byte of w is below
# n (n <= 128), or is zero. Both are exact for "is there such a byte".
# (C constants: as literals these would be Python ints, and the arithmetic
# Python's.)
cdef uint64_t EVERY_BYTE_1 = 0x0101010101010101
cdef uint64_t EVERY_BYTE_HIGH = 0x8080808080808080
cdef uint64_t EVERY_BYTE_COLON = 0x3A3A3A3A3A3A3A3A


cdef inline bint any_byte_below(uint64_t w, uint64_t n) noexcept:
    return ((w - EVERY_BYTE_1 * n) & ~w & EVERY_BYTE_HIGH) != 0


cdef inline bint any_zero_byte(uint64_t w) noexcept:
    return ((w - EVERY_BYTE_1) & ~w & EVERY_BYTE_HIGH) != 0


cdef inline bint name_word_ok(const unsigned char* p) noexcept:
    # No byte below 33 and no colon: surely valid (a tab, say, is checked
    # byte by byte, below).
    cdef uint64_t w
    memcpy(&w, p, 8)
    return not any_byte_below(w, 33) and not any_zero_byte(w ^ EVERY_BYTE_COLON)


cdef inline bint valid_header_name(const unsigned char* p, Py_ssize_t n) noexcept:
    # No CR, LF or NUL (they would split the response, RFC 9110 5.5), no
    # colon or space (they would change where the name ends).
    cdef Py_ssize_t i = 0
    cdef unsigned char c
    if n == 0:
        return False
    while i + 8 <= n and name_word_ok(p + i):
        i += 8
    if i + 8 > n and n >= 8 and name_word_ok(p + n - 8):
        return True  # the tail, as the last 8 bytes
    while i < n:
        c = p[i]
        if c <= 32 and (c == 13 or c == 10 or c == 0 or c == 32):
            return False
        if c == 58:
            return False
        i += 1
    return True


cdef inline bint value_word_ok(const unsigned char* p) noexcept:
    # No byte below 14: no NUL, LF or CR in these 8.
    cdef uint64_t w
    memcpy(&w, p, 8)
    return not any_byte_below(w, 14)


cdef inline bint valid_header_value(const unsigned char* p, Py_ssize_t n) noexcept:
    cdef Py_ssize_t i = 0
    cdef unsigned char c
    while i + 8 <= n and value_word_ok(p + i):
        i += 8
    if i + 8 > n and n >= 8 and value_word_ok(p + n - 8):
        return True
    while i < n:
        c = p[i]
        if c <= 13 and (c == 13 or c == 10 or c == 0):
            return False
        i += 1
    return True


cdef inline const char* field_text(object field, Py_ssize_t* size) except NULL:
    """A header name's or value's bytes: a bytes object's own, or a str's
    one-byte (latin-1) characters; anything else is refused."""
    if type(field) is bytes:
        size[0] = PyBytes_GET_SIZE(field)
        return PyBytes_AS_STRING(field)
    if type(field) is str and PyUnicode_KIND(field) == PyUnicode_1BYTE_KIND:
        size[0] = PyUnicode_GET_LENGTH(field)
        return <const char*>PyUnicode_1BYTE_DATA(field)
    raise ValueError(f"invalid response header field {field!r}")


cdef list bytes_headers(list headers):
    """headers with each str name or value encoded (for code that takes bytes
    only: a response filter's header operations)."""
    cdef list out = []
    for name, value in headers:
        out.append((name.encode("latin-1") if type(name) is str else name,
                    value.encode("latin-1") if type(value) is str else value))
    return out


cdef inline bint mentions_close(const char* p, Py_ssize_t n) noexcept:
    """Whether a Connection value contains "close", in any case."""
    cdef Py_ssize_t i
    for i in range(n - 4):
        if strncasecmp(p + i, "close", 5) == 0:
            return True
    return False


# Past this, one more digit could overflow a long long (a C constant: as a
# literal it would be a Python int, compared as one for every digit).
cdef long long LENGTH_DIGIT_LIMIT = (0x7FFFFFFFFFFFFFFF - 9) // 10


cdef long long parse_content_length(object value) except -2:
    """The app's Content-Length (digits, optional surrounding blanks)."""
    cdef Py_ssize_t n
    cdef const unsigned char* p = <const unsigned char*>field_text(value, &n)
    cdef Py_ssize_t i = 0
    cdef long long result = 0
    cdef Py_ssize_t digits = 0
    while i < n and (p[i] == 32 or p[i] == 9):
        i += 1
    while i < n and 48 <= p[i] <= 57:
        if result > LENGTH_DIGIT_LIMIT:
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


cdef inline char* put2(char* out, char a, char b) noexcept:
    # Two bytes (": ", CRLF) without a call to memcpy.
    out[0] = a
    out[1] = b
    return out + 2


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


cdef struct HeadField:
    # A header line to write, as the first pass of make_head found it.
    const char* name
    const char* value
    Py_ssize_t name_size
    Py_ssize_t value_size


cdef enum:
    # Lines the first pass remembers for the second (more are looked up again).
    FIELDS_KEPT = 24


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
    cdef const char* name
    cdef const char* value
    cdef Py_ssize_t name_size
    cdef Py_ssize_t value_size
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
    cdef HeadField kept[FIELDS_KEPT]
    cdef Py_ssize_t lines = 0
    cdef Py_ssize_t i
    for field_name, field_value in headers:
        name = field_text(field_name, &name_size)
        value = field_text(field_value, &value_size)
        if (not valid_header_name(<const unsigned char*>name, name_size)
                or not valid_header_value(<const unsigned char*>value, value_size)):
            raise ValueError(f"invalid response header {field_name!r}: {field_value!r}")
        kind = header_kind(name, name_size)
        if kind == H_CONTENT_LENGTH:
            app_length = parse_content_length(field_value)
            continue  # re-emitted below, once
        elif kind == H_TRANSFER_ENCODING:
            continue  # framing is ours to choose
        elif kind == H_CONNECTION:
            if mentions_close(value, value_size):
                proto.response_close = True
            continue
        elif kind == H_DATE:
            has_date = True
        elif kind == H_SERVER:
            has_server = True
        size += name_size + value_size + 4
        if lines < FIELDS_KEPT:
            kept[lines].name = name
            kept[lines].name_size = name_size
            kept[lines].value = value
            kept[lines].value_size = value_size
        lines += 1
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
    if lines <= FIELDS_KEPT:
        for i in range(lines):
            at = put(at, kept[i].name, kept[i].name_size)
            at = put2(at, 58, 32)  # ": "
            at = put(at, kept[i].value, kept[i].value_size)
            at = put2(at, 13, 10)
    else:
        # (The list is as the first pass saw it: no Python code ran since.)
        for field_name, field_value in headers:
            name = field_text(field_name, &name_size)
            kind = header_kind(name, name_size)
            if kind == H_CONTENT_LENGTH or kind == H_TRANSFER_ENCODING or kind == H_CONNECTION:
                continue
            at = put(at, name, name_size)
            at = put(at, ": ", 2)
            value = field_text(field_value, &value_size)
            at = put(at, value, value_size)
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
