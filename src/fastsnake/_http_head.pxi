# Response-head serialisation in C, included by _http.pyx.
#
# make_head (in the protocol) scans the app's header list once to check it
# and to learn its framing fields, then writes the head into one bytes
# object of exactly the right size: no bytearray growth, no per-line Python
# objects. A small body is copied in after the head, so a whole response is
# one object and one write.

from libc.string cimport memcpy


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
