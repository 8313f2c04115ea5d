# cython: language_level=3
"""An access log's JSON line, written in C (routing.accesslog keeps the
Python encoder as the reference and for what is rare here).

The bytes are exactly what ``json.JSONEncoder(separators=(",", ":"))`` makes
of accesslog's entry dict: ASCII only (other characters as ``\\u00XX``),
``ts`` and ``duration`` (seconds, to the microsecond) as ``repr`` writes
them, keys in the entry's order. A header map in
which one name repeats (two Set-Cookie lines, say) or a value that is
neither bytes nor latin-1 str is left to the Python encoder: the caller
gets None.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.unicode cimport (
    PyUnicode_1BYTE_DATA,
    PyUnicode_1BYTE_KIND,
    PyUnicode_GET_LENGTH,
    PyUnicode_KIND,
)
from libc.math cimport floor
from libc.string cimport memcpy

from fastsnake._exchange cimport HttpRequest

import time

cdef object wall_clock = time.time


cdef extern from "Python.h":
    char* PyOS_double_to_string(double val, char format_code, int precision, int flags,
                                int* ptype) except NULL
    int Py_DTSF_ADD_DOT_0


cdef struct Buffer:
    char* data
    Py_ssize_t size
    Py_ssize_t capacity


cdef int reserve(Buffer* out, Py_ssize_t more) except -1:
    cdef Py_ssize_t capacity
    cdef char* grown
    if out.size + more <= out.capacity:
        return 0
    capacity = max(out.capacity * 2, out.size + more + 256)
    grown = <char*>PyMem_Realloc(out.data, capacity)
    if grown == NULL:
        raise MemoryError()
    out.data = grown
    out.capacity = capacity
    return 0


cdef inline int put(Buffer* out, const char* text, Py_ssize_t n) except -1:
    reserve(out, n)
    memcpy(out.data + out.size, text, n)
    out.size += n
    return 0


cdef const char* HEX = "0123456789abcdef"


cdef int put_string(Buffer* out, const unsigned char* p, Py_ssize_t n) except -1:
    """``p`` (latin-1 characters) as a JSON string, as json's ASCII encoder
    writes it."""
    cdef Py_ssize_t i
    cdef unsigned char c
    cdef char* at
    reserve(out, n * 6 + 2)  # at most \u00XX per character
    at = out.data + out.size
    at[0] = b'"'
    at += 1
    for i in range(n):
        c = p[i]
        if 0x20 <= c < 0x7f and c != 0x22 and c != 0x5c:
            at[0] = c
            at += 1
        elif c == 0x22 or c == 0x5c:
            at[0] = b"\\"
            at[1] = c
            at += 2
        elif c == 0x0a or c == 0x0d or c == 0x09 or c == 0x08 or c == 0x0c:
            at[0] = b"\\"
            at[1] = b"n" if c == 0x0a else b"r" if c == 0x0d else b"t" if c == 0x09 else (
                b"b" if c == 0x08 else b"f")
            at += 2
        else:
            at[0] = b"\\"
            at[1] = b"u"
            at[2] = b"0"
            at[3] = b"0"
            at[4] = HEX[c >> 4]
            at[5] = HEX[c & 15]
            at += 6
    at[0] = b'"'
    at += 1
    out.size = at - out.data
    return 0


cdef int put_text(Buffer* out, object value) except -1:
    """bytes or a str of latin-1 characters as a JSON string; -2 for
    anything else (the caller falls back to the Python encoder)."""
    if type(value) is bytes:
        return put_string(out, <const unsigned char*>PyBytes_AS_STRING(value),
                          PyBytes_GET_SIZE(value))
    if type(value) is str and PyUnicode_KIND(value) == PyUnicode_1BYTE_KIND:
        return put_string(out, PyUnicode_1BYTE_DATA(value), PyUnicode_GET_LENGTH(value))
    return -2


cdef int put_digits(Buffer* out, unsigned long long value, int width) except -1:
    """value in decimal, zero-padded to ``width`` digits (0: no padding)."""
    cdef char digits[24]
    cdef int n = 0
    while value or n == 0 or n < width:
        digits[23 - n] = <char>(48 + value % 10)
        value //= 10
        n += 1
    return put(out, digits + 24 - n, n)


cdef int put_int(Buffer* out, long long value) except -1:
    if value < 0:
        put(out, "-", 1)
        return put_digits(out, <unsigned long long>(-value), 0)
    return put_digits(out, <unsigned long long>value, 0)


cdef int put_micros(Buffer* out, double value) except -1:
    """A time in seconds to the microsecond, as ``repr`` writes the float
    nearest to it (accesslog rounds the same way: ``micros``): fixed
    notation with trailing zeros dropped, or repr's exponent form below
    1e-4."""
    cdef long long k = <long long>floor(value * 1e6 + 0.5)
    cdef char* text
    cdef Py_ssize_t n
    cdef long long fraction
    cdef int width
    if k < 0 or value != value:
        text = PyOS_double_to_string(value, b"r", 0, Py_DTSF_ADD_DOT_0, NULL)
        n = 0
        while text[n]:
            n += 1
        try:
            return put(out, text, n)
        finally:
            PyMem_Free(text)
    if k == 0:
        return put(out, "0.0", 3)
    if k < 10:  # 5e-06
        put_digits(out, k, 0)
        return put(out, "e-06", 4)
    if k < 100:  # 1.2e-05, 3e-05
        put_digits(out, k // 10, 0)
        if k % 10:
            put(out, ".", 1)
            put_digits(out, k % 10, 0)
        return put(out, "e-05", 4)
    put_digits(out, k // 1000000, 0)
    put(out, ".", 1)
    fraction = k % 1000000
    width = 6
    while width > 1 and fraction % 10 == 0:
        fraction //= 10
        width -= 1
    return put_digits(out, fraction, width)


cdef inline double micros(double seconds):
    # accesslog.micros, the same arithmetic.
    return floor(seconds * 1e6 + 0.5) / 1e6


cdef class LineLog:
    """The per-request half of an access log, in C: the level check, the
    line (json_line, else the subclass's ``python_line``), the write and
    the report of a failed one, which never reaches the server. The subclass
    (routing.accesslog.AccessLogger) sets the fields up."""

    cdef public bint info_enabled
    cdef public bint error_enabled
    cdef public bint fast           # JSON lines: json_line can write them
    cdef public bint redact
    cdef public bytes head_info     # the line up to the ts value, per level
    cdef public bytes head_error
    cdef public bytes middle        # from after ts to the remote_ip value
    cdef public object writer       # routing.logwriter.LineWriter
    cdef public object reporter     # routing.logwriter.Reporter
    cdef public object skip, chunked_skip, sensitive, canonical_header
    cdef public dict canonical

    cpdef object json_line(self, object req, double ts, int status, long long size,
                           double duration, list response_headers, long long bytes_read):
        """The JSON line (with its newline) of one finished request, or None
        where the Python encoder must write it: ``req`` is not the protocol's
        HttpRequest (the gevent worker's own), a Unix-socket peer, a repeated
        header name. ``ts`` and ``duration`` are to the microsecond already."""
        cdef Buffer out
        cdef bytes head = self.head_error if status >= 500 else self.head_info
        if type(req) is not HttpRequest:
            return None
        cdef HttpRequest request = <HttpRequest>req
        cdef object peer = request.peer
        cdef object ip, client_ip
        cdef dict variables = request.vars
        if not (type(peer) is tuple and len(peer) >= 2 and type(peer[0]) is str
                and type(peer[1]) is int):
            return None  # a Unix socket's peer: the Python encoder says it as Go does
        ip = peer[0]
        client_ip = variables.get("client_ip") if variables else None
        if not client_ip:
            client_ip = ip
        out.data = <char*>PyMem_Malloc(1024)
        if out.data == NULL:
            raise MemoryError()
        out.size = 0
        out.capacity = 1024
        try:
            put(&out, PyBytes_AS_STRING(head), PyBytes_GET_SIZE(head))
            put_micros(&out, ts)
            put(&out, PyBytes_AS_STRING(self.middle), PyBytes_GET_SIZE(self.middle))
            if put_text(&out, ip) == -2:
                return None
            put(&out, ',"remote_port":"', 16)
            put_int(&out, <long long>peer[1])
            put(&out, '","client_ip":', 14)
            if put_text(&out, client_ip) == -2:
                return None
            if request.http_minor == 0:
                put(&out, ',"proto":"HTTP/1.0","method":', 29)
            elif request.http_minor == 1:
                put(&out, ',"proto":"HTTP/1.1","method":', 29)
            else:
                return None
            put_text(&out, request.method)
            put(&out, ',"host":', 8)
            put_text(&out, request.host)
            put(&out, ',"uri":', 7)
            put_text(&out, request.target)
            put(&out, ',"headers":{', 12)
            if self.header_map(&out, request.headers,
                               self.chunked_skip if request.chunked else self.skip) == -2:
                return None
            put(&out, "}", 1)
            if request.chunked:
                put(&out, ',"transfer_encoding":["chunked"]', 32)
            put(&out, '},"bytes_read":', 15)
            put_int(&out, bytes_read)
            put(&out, ',"user_id":"","duration":', 25)
            put_micros(&out, duration)
            put(&out, ',"size":', 8)
            put_int(&out, size)
            put(&out, ',"status":', 10)
            put_int(&out, status)
            put(&out, ',"resp_headers":{', 17)
            if self.header_map(&out, response_headers, ()) == -2:
                return None
            put(&out, "}}\n", 3)
            return PyBytes_FromStringAndSize(out.data, out.size)
        finally:
            PyMem_Free(out.data)

    cdef int header_map(self, Buffer* out, list headers, object skip) except -1:
        """``{"Name":["value"],...}``; -2 where accesslog's Python does it."""
        cdef list keys = []
        cdef bint first = True
        for name, value in headers:
            key = self.canonical.get(name)
            if key is None:
                key = self.canonical_header(name)
            if key in skip:
                continue
            if key in keys:
                return -2  # a repeated name: its values go in one list
            keys.append(key)
            if not first:
                put(out, ",", 1)
            first = False
            if put_text(out, key) == -2:
                return -2
            put(out, ":[", 2)
            if self.redact and key in self.sensitive:
                put(out, '"REDACTED"', 10)
            elif put_text(out, value) == -2:
                return -2
            put(out, "]", 1)
        return 0

    cpdef log(self, request, status, size, duration, response_headers, bytes_read):
        """Write the entry for one finished request (``request`` is an HttpRequest)."""
        cdef str level
        if status >= 500:
            if not self.error_enabled:
                return
            level = "error"
        elif self.info_enabled:
            level = "info"
        else:
            return
        try:
            now = micros(wall_clock())
            duration = micros(duration)
            line = self.json_line(request, now, status, size, duration, response_headers,
                                  bytes_read) if self.fast else None
            if line is None:
                line = self.python_line(level, now, request, status, size, duration,
                                        response_headers, bytes_read)
            self.writer.write(line)
        except Exception as exc:  # never into the server: OSError, or a bad value
            self.reporter.failed(exc)
        else:
            if self.reporter.failing:
                self.reporter.recovered()

    def python_line(self, level, ts, request, status, size, duration, response_headers,
                    bytes_read):
        raise NotImplementedError
