# cython: language_level=3
"""WebSocket frame codec (RFC 6455) with permessage-deflate (RFC 7692).

Theory of operation
-------------------
No I/O here: the ASGI layer feeds received bytes to a FrameReader and asks it
for whole messages; it sends what encode_frame / encode_close /
PerMessageDeflate.encode_message return.

FrameReader keeps received bytes in one malloc'd buffer; bytes [start, end)
are unread. A frame is taken only once all its bytes are present, so its
header is parsed (and checked) again on each call until then; the checks that
need only the header (opcode, RSV bits, masking, lengths, the message-size
limit) run before the payload is waited for, so a frame that can never be
accepted is refused at once (RFC 6455 section 10.4). Taking a frame advances
start; the buffer is compacted only when a feed does not fit at the end.

Payloads are unmasked while they are copied out (one copy); a whole text frame
is unmasked in place and decoded straight from the buffer. A fragmented
message is gathered, unmasked, in a bytearray; control frames between its
fragments are returned as they come (section 5.4).

States: no message | fragmented message in progress (msg_opcode != 0)
        | closed (a Close frame was returned: later bytes are ignored, 5.5.1)
        | failed (the WebSocketError is raised again on every call).
"""

import base64
import hashlib
import zlib

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE, PyByteArray_Resize
from cpython.bytes cimport (PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize,
                            PyBytes_GET_SIZE)
from cpython.mem cimport PyMem_Free, PyMem_Realloc
from cpython.unicode cimport PyUnicode_Check, PyUnicode_DecodeUTF8
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memcpy, memmove

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object s, Py_ssize_t* size) except NULL

OP_CONTINUATION = 0
OP_TEXT = 1
OP_BINARY = 2
OP_CLOSE = 8
OP_PING = 9
OP_PONG = 10

cdef enum:
    CONT = 0
    TEXT = 1
    BINARY = 2
    CLOSE = 8
    PING = 9
    PONG = 10

cdef enum:
    # A buffer left this large once drained is freed rather than kept.
    KEEP_BUFFER_MAX = 64 * 1024
    PRESIZE_MAX = 1024 * 1024
    MIN_BUFFER = 4096

cdef bytes GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# RFC 7692 section 7.2.1: a message's compressed data ends with this, sent stripped.
cdef bytes DEFLATE_TAIL = b"\x00\x00\xff\xff"
cdef object zlib_compressobj = zlib.compressobj
cdef object zlib_decompressobj = zlib.decompressobj
cdef object zlib_error = zlib.error
cdef int Z_SYNC_FLUSH = zlib.Z_SYNC_FLUSH
cdef int Z_FULL_FLUSH = zlib.Z_FULL_FLUSH
# Compressor memory is ~2**(wbits+2) + 2**(mem_level+9) bytes per connection:
# 32 KiB here instead of zlib's 256 KiB default. A window smaller than the
# negotiated one is always allowed (the peer inflates with a larger window).
cdef int COMPRESS_WINDOW_BITS = 12
cdef int COMPRESS_MEM_LEVEL = 5


class WebSocketError(Exception):
    def __init__(self, code, reason):
        super().__init__(code, reason)
        self.code = code
        self.reason = reason

    def __str__(self):
        return f"{self.code} {self.reason}"


def accept_key(key):
    if isinstance(key, str):
        key = key.encode("latin-1")
    digest = hashlib.sha1(key.strip() + GUID).digest()
    return base64.b64encode(digest).decode("ascii")


# ------------------------------------------------------------------ masking

cdef inline void mask_copy(char* dst, const char* src, Py_ssize_t n,
                           const char* key) noexcept nogil:
    # Section 5.3; dst may equal src. memcpy keeps unaligned 8-byte loads legal C.
    cdef uint32_t k32
    cdef uint64_t k64, word
    cdef Py_ssize_t i = 0
    memcpy(&k32, key, 4)
    k64 = (<uint64_t>k32 << 32) | k32
    while i + 8 <= n:
        memcpy(&word, src + i, 8)
        word ^= k64
        memcpy(dst + i, &word, 8)
        i += 8
    while i < n:
        dst[i] = src[i] ^ key[i & 3]
        i += 1


def apply_mask(data, key):
    cdef bytes k = bytes(key)
    cdef bytes src = data if PyBytes_CheckExact(data) else bytes(data)
    if PyBytes_GET_SIZE(k) != 4:
        raise ValueError("a mask key is 4 bytes")
    cdef Py_ssize_t n = PyBytes_GET_SIZE(src)
    cdef bytes out = PyBytes_FromStringAndSize(NULL, n)
    mask_copy(PyBytes_AS_STRING(out), PyBytes_AS_STRING(src), n, PyBytes_AS_STRING(k))
    return out


# ----------------------------------------------------------------- encoding

cdef object view_payload(object payload, const char** src, Py_ssize_t* n):
    # Returns the object that owns *src; str is sent as its UTF-8, uncopied.
    if PyUnicode_Check(payload):
        src[0] = PyUnicode_AsUTF8AndSize(payload, n)
        return payload
    if not PyBytes_CheckExact(payload):
        payload = bytes(payload)
    src[0] = PyBytes_AS_STRING(payload)
    n[0] = PyBytes_GET_SIZE(payload)
    return payload


cdef bytes build_frame(int first, const char* src, Py_ssize_t n, const char* key):
    # Section 5.2: the shortest of the three length encodings.
    cdef Py_ssize_t hlen = 2 if n <= 125 else (4 if n <= 65535 else 10)
    cdef int mask_bit = 0x80 if key != NULL else 0
    cdef int i
    if key != NULL:
        hlen += 4
    cdef bytes out = PyBytes_FromStringAndSize(NULL, hlen + n)
    cdef unsigned char* d = <unsigned char*>PyBytes_AS_STRING(out)
    d[0] = first
    if n <= 125:
        d[1] = mask_bit | n
    elif n <= 65535:
        d[1] = mask_bit | 126
        d[2] = (n >> 8) & 0xFF
        d[3] = n & 0xFF
    else:
        d[1] = mask_bit | 127
        for i in range(8):
            d[2 + i] = (<uint64_t>n >> (56 - 8 * i)) & 0xFF
    if key != NULL:
        memcpy(d + hlen - 4, key, 4)
        mask_copy(<char*>d + hlen, src, n, key)
    else:
        memcpy(d + hlen, src, n)
    return out


def encode_frame(int opcode, payload, bint fin=True, bint rsv1=False, mask_key=None):
    cdef const char* src
    cdef Py_ssize_t n
    cdef const char* key = NULL
    owner = view_payload(payload, &src, &n)
    if opcode not in (CONT, TEXT, BINARY, CLOSE, PING, PONG):
        raise ValueError(f"unknown opcode {opcode}")
    if opcode >= CLOSE and (not fin or n > 125 or rsv1):
        raise ValueError("control frames are whole, unextended and at most 125 bytes")
    if mask_key is not None:
        if not PyBytes_CheckExact(mask_key) or PyBytes_GET_SIZE(mask_key) != 4:
            raise ValueError("mask_key is 4 bytes")
        key = PyBytes_AS_STRING(mask_key)
    return build_frame((0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode, src, n, key)


def encode_close(int code=1000, str reason=""):
    # Section 5.5.1: code, then a UTF-8 reason; 125 bytes in all. 1005 means "no code".
    if code == 1005:
        return b"\x88\x00"
    if not 0 <= code <= 0xFFFF:
        raise ValueError(f"close code {code} does not fit 2 bytes")
    cdef bytes text = reason.encode("utf-8")
    cdef Py_ssize_t cut = 123
    if PyBytes_GET_SIZE(text) > cut:
        while text[cut] & 0xC0 == 0x80:   # cut before the character it splits
            cut -= 1
        text = text[:cut]
    cdef bytes payload = bytes((code >> 8, code & 0xFF)) + text
    return build_frame(0x80 | CLOSE, PyBytes_AS_STRING(payload), PyBytes_GET_SIZE(payload), NULL)


# ------------------------------------------------------- permessage-deflate

cdef object parse_window_bits(object value):
    # RFC 7692 section 7.1.2: 1*DIGIT in 8..15, no leading zero, maybe quoted.
    if value is None:
        return None
    if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
        value = value[1:len(value) - 1]
    if not (value.isdigit() and value.isascii()) or value.startswith("0"):
        return False
    return int(value) if 8 <= int(value) <= 15 else False


cdef object parse_offer(list params):
    # One offer's parameters -> dict, or None when the offer must be declined.
    cdef dict seen = {}
    for param in params:
        name, eq, value = param.partition("=")
        name = name.strip().lower()
        if not name:
            continue
        value = value.strip() if eq else None
        if name in seen:
            return None
        if name in ("server_no_context_takeover", "client_no_context_takeover"):
            if value is not None:
                return None
            seen[name] = True
        elif name in ("server_max_window_bits", "client_max_window_bits"):
            bits = parse_window_bits(value)
            if bits is False or (bits is None and name == "server_max_window_bits"):
                return None
            seen[name] = bits
        else:
            return None
    return seen


cdef class PerMessageDeflate:
    cdef readonly bint server_no_context_takeover
    cdef readonly bint client_no_context_takeover
    cdef readonly int server_max_window_bits
    # Made on first use, so a connection that never compresses pays nothing.
    cdef object compressor
    cdef object decompressor

    def __init__(self, bint server_no_context_takeover=False,
                 bint client_no_context_takeover=False, int server_max_window_bits=15):
        # zlib cannot make a raw deflate stream with an 8-bit window (madler/zlib#171).
        if not 9 <= server_max_window_bits <= 15:
            raise ValueError("server_max_window_bits must be 9..15")
        self.server_no_context_takeover = server_no_context_takeover
        self.client_no_context_takeover = client_no_context_takeover
        self.server_max_window_bits = server_max_window_bits

    @staticmethod
    def negotiate(offer):
        # RFC 7692 section 5: take the first acceptable offer, in the client's order.
        if not isinstance(offer, str):
            offer = bytes(offer).decode("latin-1")
        for item in offer.split(","):
            params = item.split(";")
            if params[0].strip().lower() != "permessage-deflate":
                continue
            found = parse_offer(params[1:])
            if found is None or found.get("server_max_window_bits") == 8:
                continue
            response = ["permessage-deflate"]
            for name in ("server_no_context_takeover", "client_no_context_takeover"):
                if name in found:
                    response.append(name)
            bits = found.get("server_max_window_bits") or 15
            if "server_max_window_bits" in found:
                response.append(f"server_max_window_bits={bits}")
            # client_max_window_bits needs no answer: we inflate with a full window.
            return "; ".join(response), PerMessageDeflate(
                "server_no_context_takeover" in found,
                "client_no_context_takeover" in found, bits)
        return None

    def encode_message(self, int opcode, payload):
        if opcode != TEXT and opcode != BINARY:
            raise ValueError("only text and binary messages are compressed")
        if self.compressor is None:
            self.compressor = zlib_compressobj(
                -1, zlib.DEFLATED, -min(self.server_max_window_bits, COMPRESS_WINDOW_BITS),
                COMPRESS_MEM_LEVEL)
        if PyUnicode_Check(payload):
            payload = (<str>payload).encode("utf-8")
        # A full flush also forgets the window: no context takeover (7.1.1.1).
        cdef bytes data = self.compressor.compress(payload) + self.compressor.flush(
            Z_FULL_FLUSH if self.server_no_context_takeover else Z_SYNC_FLUSH)
        return build_frame(0xC0 | opcode, PyBytes_AS_STRING(data),
                           PyBytes_GET_SIZE(data) - 4, NULL)

    cdef bytes decompress(self, object data, Py_ssize_t max_size):
        # data already ends with DEFLATE_TAIL. max_length bounds the output, so
        # a small input that inflates hugely stops at max_size + 1 bytes.
        cdef bytes out
        # One inflater serves with or without client context takeover: a peer
        # that resets its window just never refers back past the message.
        if self.decompressor is None:
            self.decompressor = zlib_decompressobj(-15)
        try:
            out = self.decompressor.decompress(data, max_size + 1)
        except zlib_error:
            raise WebSocketError(1007, "invalid compressed data")
        if PyBytes_GET_SIZE(out) > max_size:
            raise WebSocketError(1009, "message too big")
        if self.decompressor.eof:
            # A peer without context takeover may end a message with BFINAL.
            self.decompressor = None
        return out


# ----------------------------------------------------------------- decoding

cdef inline bint valid_close_code(int code) noexcept:
    # Section 7.4: 1004-1006 and 1015 are never sent; 1012-1014 joined the
    # IANA registry later; 3000-4999 are for libraries and applications.
    return (1000 <= code <= 1014 and code not in (1004, 1005, 1006)) or 3000 <= code <= 4999


cdef str decode_text(const char* p, Py_ssize_t n):
    try:
        return PyUnicode_DecodeUTF8(p, n, "strict")
    except UnicodeDecodeError:
        raise WebSocketError(1007, "invalid UTF-8 in text")


cdef tuple parse_close(const unsigned char* p, Py_ssize_t n):
    cdef int code
    if n == 0:
        return (1005, "")
    if n == 1:
        raise WebSocketError(1002, "close payload of 1 byte")
    code = (p[0] << 8) | p[1]
    if not valid_close_code(code):
        raise WebSocketError(1002, f"invalid close code {code}")
    return (code, decode_text(<const char*>p + 2, n - 2))


cdef class FrameReader:
    # Received bytes: [start, end) unread, cap allocated.
    cdef char* data
    cdef Py_ssize_t start, end, cap
    # Configuration.
    cdef Py_ssize_t max_size
    cdef bint expect_masked
    cdef PerMessageDeflate deflate
    # The fragmented message in progress.
    cdef int msg_opcode
    cdef bint msg_compressed
    cdef bytearray msg
    # Terminal states.
    cdef readonly bint closed
    cdef object error

    def __init__(self, Py_ssize_t max_message_size=16 * 1024 * 1024, bint expect_masked=True,
                 PerMessageDeflate deflate=None):
        if max_message_size < 0 or max_message_size > (1 << 62):
            raise ValueError("max_message_size out of range")
        self.max_size = max_message_size
        self.expect_masked = expect_masked
        self.deflate = deflate
        self.msg = bytearray()

    def __dealloc__(self):
        PyMem_Free(self.data)

    @property
    def buffered(self):
        return self.end - self.start + (PyByteArray_GET_SIZE(self.msg) if self.msg_opcode else 0)

    cdef int reserve(self, Py_ssize_t room) except -1:
        # Make room bytes free after end: compact first, grow only if needed.
        cdef Py_ssize_t used = self.end - self.start
        cdef Py_ssize_t new_cap
        cdef char* new_data
        if self.start > 0:
            memmove(self.data, self.data + self.start, used)
            self.start = 0
            self.end = used
        if used + room > self.cap:
            new_cap = max(used + room, self.cap * 2, MIN_BUFFER)
            new_data = <char*>PyMem_Realloc(self.data, new_cap)
            if new_data == NULL:
                raise MemoryError()
            self.data = new_data
            self.cap = new_cap
        return 0

    def feed(self, data):
        cdef Py_buffer view
        if self.closed or self.error is not None:
            return  # section 5.5.1: nothing after a Close is read
        if self.start == self.end:
            self.start = self.end = 0
        if PyBytes_CheckExact(data):
            self.append(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))
            return
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            self.append(<const char*>view.buf, view.len)
        finally:
            PyBuffer_Release(&view)

    cdef int append(self, const char* src, Py_ssize_t n) except -1:
        if self.end + n > self.cap:
            self.reserve(n)
        memcpy(self.data + self.end, src, n)
        self.end += n
        return 0

    cdef object need_more(self, Py_ssize_t frame_size):
        # Waiting: drop a big drained buffer; size it once for a known frame,
        # but only a modest one, so a bare header cannot make us allocate much.
        if self.start == self.end:
            self.start = self.end = 0
            if self.cap > KEEP_BUFFER_MAX:
                PyMem_Free(self.data)
                self.data = NULL
                self.cap = 0
        elif self.cap - self.start < frame_size <= PRESIZE_MAX:
            self.reserve(frame_size - (self.end - self.start))
        return None

    def read_message(self):
        if self.error is not None:
            raise self.error
        if self.closed:
            return None
        try:
            return self.next_message()
        except WebSocketError as exc:
            self.error = exc
            raise

    cdef object next_message(self):
        cdef const unsigned char* p
        cdef char* payload
        cdef const char* key
        cdef Py_ssize_t avail, hlen, n, have
        cdef uint64_t n64
        cdef int b0, b1, opcode, i
        cdef bint fin, rsv1, masked
        cdef bytes out
        while True:
            avail = self.end - self.start
            if avail < 2:
                return self.need_more(0)
            p = <const unsigned char*>self.data + self.start
            b0 = p[0]
            b1 = p[1]
            fin = (b0 & 0x80) != 0
            rsv1 = (b0 & 0x40) != 0
            opcode = b0 & 0x0F
            masked = (b1 & 0x80) != 0
            # Section 5.2: RSV bits need an extension; RFC 7692 6: RSV1 on first frames only.
            if b0 & 0x30:
                raise WebSocketError(1002, "RSV2 or RSV3 set")
            if opcode >= CLOSE:
                if opcode > PONG:
                    raise WebSocketError(1002, f"unknown opcode {opcode}")
                if not fin or (b1 & 0x7F) > 125:
                    raise WebSocketError(1002, "control frame fragmented or over 125 bytes")
                if rsv1:
                    raise WebSocketError(1002, "RSV1 set on a control frame")
            elif opcode > BINARY:
                raise WebSocketError(1002, f"unknown opcode {opcode}")
            elif opcode == CONT:
                if self.msg_opcode == 0:
                    raise WebSocketError(1002, "continuation frame without a message")
                if rsv1:
                    raise WebSocketError(1002, "RSV1 set on a continuation frame")
            else:
                if self.msg_opcode != 0:
                    raise WebSocketError(1002, "new message before the last one ended")
                if rsv1 and self.deflate is None:
                    raise WebSocketError(1002, "RSV1 set without permessage-deflate")
            # Section 5.1: clients mask, servers do not.
            if masked != self.expect_masked:
                raise WebSocketError(1002, "frame masked wrongly for its sender")
            n = b1 & 0x7F
            hlen = 2
            if n == 126:
                if avail < 4:
                    return self.need_more(0)
                n = (p[2] << 8) | p[3]
                hlen = 4
            elif n == 127:
                if avail < 10:
                    return self.need_more(0)
                if p[2] & 0x80:
                    raise WebSocketError(1002, "64-bit length with the high bit set")
                n64 = 0
                for i in range(8):
                    n64 = (n64 << 8) | p[2 + i]
                if n64 > <uint64_t>self.max_size:
                    raise WebSocketError(1009, "message too big")
                n = <Py_ssize_t>n64
                hlen = 10
            if masked:
                hlen += 4
            if opcode < CLOSE:
                have = PyByteArray_GET_SIZE(self.msg) if self.msg_opcode else 0
                if n > self.max_size - have:
                    raise WebSocketError(1009, "message too big")
            if avail - hlen < n:
                return self.need_more(hlen + n)

            payload = self.data + self.start + hlen
            key = payload - 4 if masked else NULL
            self.start += hlen + n

            if opcode >= CLOSE:
                if opcode == CLOSE:
                    if key != NULL:
                        mask_copy(payload, payload, n, key)
                    self.closed = True
                    return (CLOSE, parse_close(<const unsigned char*>payload, n))
                return (opcode, self.take(payload, n, key, 0))
            if opcode != CONT and fin:
                # A whole message in one frame: the fast path.
                if rsv1:
                    out = self.take(payload, n, key, 4)
                    return self.finish(opcode, self.deflate.decompress(out, self.max_size))
                if opcode == BINARY:
                    return (BINARY, self.take(payload, n, key, 0))
                if key != NULL:
                    mask_copy(payload, payload, n, key)
                return (TEXT, decode_text(payload, n))
            if opcode != CONT:
                self.msg_opcode = opcode
                self.msg_compressed = rsv1
            have = PyByteArray_GET_SIZE(self.msg)
            PyByteArray_Resize(self.msg, have + n)
            if key != NULL:
                mask_copy(PyByteArray_AS_STRING(self.msg) + have, payload, n, key)
            else:
                memcpy(PyByteArray_AS_STRING(self.msg) + have, payload, n)
            if fin:
                return self.finish_fragmented()

    cdef bytes take(self, const char* payload, Py_ssize_t n, const char* key, int tail):
        # Copy out (unmasking on the way); tail=4 appends the deflate tail.
        cdef bytes out = PyBytes_FromStringAndSize(NULL, n + tail)
        cdef char* d = PyBytes_AS_STRING(out)
        if key != NULL:
            mask_copy(d, payload, n, key)
        else:
            memcpy(d, payload, n)
        if tail:
            memcpy(d + n, PyBytes_AS_STRING(DEFLATE_TAIL), 4)
        return out

    cdef tuple finish(self, int opcode, bytes data):
        if opcode == TEXT:
            return (TEXT, decode_text(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data)))
        return (BINARY, data)

    cdef tuple finish_fragmented(self):
        cdef int opcode = self.msg_opcode
        cdef bytearray msg = self.msg
        self.msg_opcode = 0
        self.msg = bytearray()
        if self.msg_compressed:
            msg += DEFLATE_TAIL
            return self.finish(opcode, self.deflate.decompress(msg, self.max_size))
        if opcode == TEXT:
            return (TEXT, decode_text(PyByteArray_AS_STRING(msg), PyByteArray_GET_SIZE(msg)))
        return (BINARY, bytes(msg))
