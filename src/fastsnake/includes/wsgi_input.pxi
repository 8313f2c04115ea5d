# Included by _wsgi.pyx: wsgi.input over the request body's chunks.
#
# The body arrives as bytes objects (often the very objects the transport
# read: the parser hands over a whole read when it is all body). Joining them
# into one buffer would copy the body once more and, past malloc's mmap
# threshold, fault in fresh pages for every request; a read that wants a
# whole chunk gets that chunk itself, and only a read across chunks joins.


cdef class BodyInput:
    """PEP 3333 input stream over a list of bytes chunks (read, readline,
    readlines, iteration)."""

    cdef list chunks
    cdef Py_ssize_t index        # the chunk being read
    cdef Py_ssize_t offset       # how far into it
    cdef Py_ssize_t remaining    # bytes not yet read

    def __init__(self, list chunks, Py_ssize_t total):
        # ``total`` is what the chunks hold; the loops also stop at the last
        # chunk, so a wrong total can only shorten a read.
        self.chunks = chunks
        self.index = 0
        self.offset = 0
        self.remaining = total

    def read(self, size=-1):
        cdef Py_ssize_t want = self.remaining if size is None or size < 0 else size
        cdef Py_ssize_t avail
        cdef bytes chunk
        if want <= 0 or self.remaining == 0:
            return b""
        if want > self.remaining:
            want = self.remaining
        self.remaining -= want
        pieces = []
        while want > 0 and self.index < len(self.chunks):
            chunk = self.chunks[self.index]
            avail = PyBytes_GET_SIZE(chunk) - self.offset
            if avail <= want:
                pieces.append(chunk if self.offset == 0 else chunk[self.offset:])
                self.index += 1
                self.offset = 0
                want -= avail
            else:
                pieces.append(chunk[self.offset:self.offset + want])
                self.offset += want
                want = 0
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def readline(self, size=-1):
        cdef Py_ssize_t limit = self.remaining if size is None or size < 0 else size
        cdef Py_ssize_t avail, end
        cdef bytes chunk
        if limit > self.remaining:
            limit = self.remaining
        pieces = []
        while limit > 0 and self.index < len(self.chunks):
            chunk = self.chunks[self.index]
            avail = PyBytes_GET_SIZE(chunk) - self.offset
            end = chunk.find(b"\n", self.offset, self.offset + min(avail, limit))
            take = (end + 1 - self.offset) if end >= 0 else min(avail, limit)
            pieces.append(chunk[self.offset:self.offset + take])
            self.offset += take
            self.remaining -= take
            limit -= take
            if self.offset == PyBytes_GET_SIZE(chunk):
                self.index += 1
                self.offset = 0
            if end >= 0:
                break
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def readlines(self, hint=-1):
        lines = []
        total = 0
        while self.remaining:
            line = self.readline()
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                break
        return lines

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line


cdef list NO_CHUNKS = []  # never changed: BodyInput only reads its list


cdef BodyInput empty_input():
    """wsgi.input for a request without a body (no __init__ call: this is
    every GET)."""
    cdef BodyInput stream = BodyInput.__new__(BodyInput)
    stream.chunks = NO_CHUNKS
    return stream
