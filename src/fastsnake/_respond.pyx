# cython: language_level=3
"""Fixed responses: Caddy's ``respond``, ``redir``, ``abort`` and the files
``file_server`` chose, and the server's own refusals (a broken app slot's 500,
a full dynamic-app table's 503, an unknown tenant's 404). A fixed response is
serialised once per handler; each request just writes it when its body has
been read."""

import os

cimport cython

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.string cimport memcmp
from posix.unistd cimport close as close_fd

from fastsnake._exchange cimport Channel, Exchange, Handler, HttpRequest, PreparedHead

from fastsnake._exchange import reason_phrase

cdef int OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0)
cdef object os_open = os.open

# What one lstat(2) said, as six numbers, for FileChecks: device, inode,
# mode, size, mtime and ctime in nanoseconds. Plain C so a cache hit costs a
# system call and a few compares rather than an os.stat_result. No lstat on
# Windows: the cache is off there (fs_file_id answers -2).
cdef extern from *:
    """
    #ifdef _WIN32
    static int fs_file_id(const char *path, int follow, long long *id) { return -2; }
    #else
    #include <sys/stat.h>
    #ifdef __APPLE__
    #define FS_MTIM st_mtimespec
    #define FS_CTIM st_ctimespec
    #else
    #define FS_MTIM st_mtim
    #define FS_CTIM st_ctim
    #endif
    static int fs_file_id(const char *path, int follow, long long *id) {
        struct stat st;
        if ((follow ? stat(path, &st) : lstat(path, &st)) != 0) return -1;
        id[0] = (long long)st.st_dev;
        id[1] = (long long)st.st_ino;
        id[2] = (long long)st.st_mode;
        id[3] = (long long)st.st_size;
        id[4] = (long long)st.FS_MTIM.tv_sec * 1000000000LL + st.FS_MTIM.tv_nsec;
        id[5] = (long long)st.FS_CTIM.tv_sec * 1000000000LL + st.FS_CTIM.tv_nsec;
        return 0;
    }
    #endif
    """
    int fs_file_id(const char* path, int follow, long long* id) nogil


cdef class RespondExchange(Exchange):
    cdef RespondHandler handler

    cdef int on_body_complete(self) except -1:
        cdef RespondHandler handler = self.handler
        if handler.close:
            self.channel.closing = True  # "respond { close }": no keep-alive after it
        if handler.prepared is not None:
            self.channel.send_prepared(handler.prepared, handler.body)
        else:
            self.channel.send_response(handler.status_line, handler.headers, handler.body)
        return 0


cdef class RespondHandler(Handler):
    """Answers every request with the same status, headers and body."""

    cdef readonly bytes status_line
    cdef readonly list headers
    cdef readonly bytes body
    cdef readonly bint close
    # The head checked and serialised here, once, so that a request only adds
    # its Date and framing; None when it needs the per-request path (a 204,
    # a header the connection acts on, such as Connection).
    cdef readonly PreparedHead prepared

    def __init__(self, int status, bytes body=b"", headers=(), bytes reason=b"",
                 bint close=False):
        self.status_line = b"%d %s" % (status, reason or reason_phrase(status))
        self.headers = [(bytes(name), bytes(value)) for name, value in headers]
        self.body = body
        self.close = close
        try:
            self.prepared = PreparedHead(self.status_line, self.headers)
        except ValueError:
            self.prepared = None

    cpdef Exchange new_exchange(self, Channel channel, HttpRequest request):
        cdef RespondExchange exchange = RespondExchange.__new__(RespondExchange)
        exchange.channel = channel
        exchange.request = request
        exchange.handler = self
        return exchange


def plain_text(int status, str message):
    """A RespondHandler with a short text/plain body."""
    return RespondHandler(status, message.encode("utf-8") + b"\n",
                          [(b"content-type", b"text/plain; charset=utf-8")])


cdef class AbortExchange(Exchange):
    cdef int begin(self) except -1:
        # Caddy's ``abort``: the connection is dropped with no response.
        self.channel.abort_response()
        return 0


cdef class AbortHandler(Handler):
    cpdef Exchange new_exchange(self, Channel channel, HttpRequest request):
        cdef AbortExchange exchange = AbortExchange.__new__(AbortExchange)
        exchange.channel = channel
        exchange.request = request
        return exchange


cdef class FileExchange(Exchange):
    cdef FileHandler handler
    cdef int fd

    cdef int on_body_complete(self) except -1:
        cdef FileHandler handler = self.handler
        try:
            self.fd = os_open(handler.path, OPEN_FLAGS)
        except OSError as exc:
            # Gone (or unreadable) since file_server looked at it.
            self.channel.send_error(404 if isinstance(exc, FileNotFoundError) else 403,
                                  str(exc))
            return 0
        self.channel.start_response(handler.status_line, handler.headers, handler.length)
        if self.channel.body_remaining() == 0:  # HEAD, 304: nothing to send
            return self.on_file_sent()
        self.channel.send_file(self.fd, handler.offset)
        return 0

    cdef int on_file_sent(self) except -1:
        self.close_file()
        if not self.channel.is_closed():
            self.channel.end_response()
        return 0

    cdef int on_connection_lost(self) except -1:
        self.close_file()
        return 0

    cdef close_file(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


cdef class FileHandler(Handler):
    """One file (or a range of it) that file_server chose for one request."""

    cdef readonly bytes status_line
    cdef readonly list headers
    cdef readonly str path
    cdef readonly long long offset
    cdef readonly long long length

    def __init__(self, int status, headers, str path, long long offset, long long length):
        self.status_line = b"%d %s" % (status, reason_phrase(status))
        self.headers = list(headers)
        self.path = path
        self.offset = offset
        self.length = length

    cpdef Exchange new_exchange(self, Channel channel, HttpRequest request):
        cdef FileExchange exchange = FileExchange.__new__(FileExchange)
        exchange.channel = channel
        exchange.request = request
        exchange.handler = self
        exchange.fd = -1
        return exchange


@cython.final
cdef class OpenFile:
    """A cached file's descriptor, held by its cache entry's handler and by
    each exchange sending from it: closed when the last of them lets go, so
    an entry evicted mid-send does not pull the file from under the send
    (nor let its number be reused by another open meanwhile)."""

    cdef readonly int fd

    def __cinit__(self, int fd):
        self.fd = fd

    def __dealloc__(self):
        if self.fd >= 0:
            close_fd(self.fd)
            self.fd = -1


cdef class CachedFileExchange(Exchange):
    cdef CachedFileHandler handler

    cdef int on_body_complete(self) except -1:
        cdef CachedFileHandler handler = self.handler
        # sendfile(2) takes the offset, so exchanges share the descriptor.
        if not self.channel.send_prepared_file(handler.prepared, handler.length,
                                               handler.file.fd):
            return self.on_file_sent()  # HEAD: nothing to send
        return 0

    cdef int on_file_sent(self) except -1:
        if not self.channel.is_closed():
            self.channel.end_response()
        return 0


cdef class CachedFileHandler(Handler):
    """A whole file that the file_server cache keeps open: its head checked
    and serialised once, its body sent with sendfile per request (files
    of fastsnake.files.server.SENDFILE_MIN to SMALL_FILE_MAX, which a write
    from memory would copy at more cost than sendfile's page references).
    A file deleted while cached stays allocated on disk until its entry
    goes (the next request for it, or eviction): FileCache.max_files of
    them at most."""

    cdef readonly PreparedHead prepared
    cdef readonly OpenFile file
    cdef readonly long long length

    def __init__(self, PreparedHead prepared, OpenFile file, long long length):
        self.prepared = prepared
        self.file = file
        self.length = length

    cpdef Exchange new_exchange(self, Channel channel, HttpRequest request):
        cdef CachedFileExchange exchange = CachedFileExchange.__new__(CachedFileExchange)
        exchange.channel = channel
        exchange.request = request
        exchange.handler = self
        return exchange


# -- the file_server cache ---------------------------------------------------------
#
# Theory of operation. file_server (fastsnake.files.server) decides a
# request from a series of lstat calls: one per path component, one per
# precompressed sidecar tried, the root's stat. Given the same request and
# configuration, it decides the same way as long as every one of those calls
# would answer the same. A FileChecks holds those calls and their answers:
# a directory by (device, inode, mode), since entries coming and going in it
# change nothing the walk looked at; a file by (device, inode, mode, size,
# mtime ns, ctime ns), since any write changes mtime and ctime and a
# rename-over changes the inode; a name that did not exist by its absence.
# A cache hit redoes those calls (in C, one system call each) before it
# serves: a changed file is served changed on the next request. What it
# cannot see: a rewrite that keeps the size, the inode and both timestamps,
# i.e. one within the file system's timestamp granularity (the kernel's
# coarse clock tick, a few ms) of the write the cache saw. Caddy's ETag
# (mtime and size) cannot tell those apart either.

# Request headers after which the answer is not the plain one the cache holds.
cdef frozenset not_cached = frozenset([
    b"range", b"if-range", b"if-match", b"if-none-match", b"if-modified-since",
    b"if-unmodified-since", b"sec-websocket-key"])
NOT_CACHED = not_cached  # for fastsnake.files.server, which fills the cache


cdef enum:
    CHECK_ABSENT = 0     # lstat must fail (ENOENT / ENOTDIR)
    CHECK_DIR = 1        # a directory: device, inode, mode
    CHECK_FILE = 2       # anything else: all six numbers
    ID_FIELDS = 6


cdef class FileChecks:
    """The lstat answers one file_server decision rests on (see above)."""

    cdef list paths              # bytes, fs-encoded
    cdef Py_ssize_t n
    cdef int* kinds
    cdef int* follow
    cdef long long* ids

    def __cinit__(self):
        self.kinds = NULL
        self.follow = NULL
        self.ids = NULL

    def __init__(self, list checks):
        """checks: [(path, follow, os.stat_result or None for absent)]."""
        cdef Py_ssize_t i
        self.n = len(checks)
        self.paths = []
        self.kinds = <int*>PyMem_Malloc(max(self.n, 1) * sizeof(int))
        self.follow = <int*>PyMem_Malloc(max(self.n, 1) * sizeof(int))
        self.ids = <long long*>PyMem_Malloc(max(self.n, 1) * ID_FIELDS * sizeof(long long))
        if self.kinds == NULL or self.follow == NULL or self.ids == NULL:
            raise MemoryError()
        for i, (path, follow, st) in enumerate(checks):
            self.paths.append(os.fsencode(path))
            self.follow[i] = 1 if follow else 0
            if st is None:
                self.kinds[i] = CHECK_ABSENT
                continue
            self.kinds[i] = CHECK_DIR if (st.st_mode & 0o170000) == 0o040000 else CHECK_FILE
            self.ids[i * ID_FIELDS] = st.st_dev
            self.ids[i * ID_FIELDS + 1] = st.st_ino
            self.ids[i * ID_FIELDS + 2] = st.st_mode
            self.ids[i * ID_FIELDS + 3] = st.st_size
            self.ids[i * ID_FIELDS + 4] = st.st_mtime_ns
            self.ids[i * ID_FIELDS + 5] = st.st_ctime_ns

    def __dealloc__(self):
        PyMem_Free(self.kinds)
        PyMem_Free(self.follow)
        PyMem_Free(self.ids)

    cpdef bint holds(self):
        """Whether every call still answers as it did."""
        cdef long long now[ID_FIELDS]
        cdef long long* was
        cdef Py_ssize_t i, j, fields
        cdef bytes path
        cdef int found
        for i in range(self.n):
            path = <bytes>self.paths[i]
            found = fs_file_id(path, self.follow[i], now)
            if found == -2:
                return False  # no lstat here (Windows)
            if self.kinds[i] == CHECK_ABSENT:
                if found == 0:
                    return False
                continue
            if found != 0:
                return False
            was = self.ids + i * ID_FIELDS
            fields = 3 if self.kinds[i] == CHECK_DIR else ID_FIELDS
            for j in range(fields):
                if now[j] != was[j]:
                    return False
        return True


@cython.final
cdef class CacheEntry:
    cdef FileChecks checks
    cdef Handler handler
    cdef Py_ssize_t size
    cdef bint open_file         # its handler holds a file open
    cdef bint used              # looked up since eviction last passed it


cpdef object original_tail(bytes target):
    """What file_server's answer for a rewritten request depends on in the
    path the client sent (``target``, up to any ``?``): its last name with
    the slashes after it. Canonical redirects compare that name's base with
    the served path's and look for a trailing slash; nothing else of it
    matters to a file answer. None when it holds a percent-escape (whose
    decoding could move where the name starts) or the target is not a path."""
    cdef const char* p = PyBytes_AS_STRING(target)
    cdef Py_ssize_t end = PyBytes_GET_SIZE(target)
    cdef Py_ssize_t start, i
    if end == 0 or p[0] != b"/":
        return None
    for i in range(end):
        if p[i] == b"?":
            end = i
            break
    start = end
    while start > 0 and p[start - 1] == b"/":
        start -= 1
    while start > 0 and p[start - 1] != b"/":
        start -= 1
    for i in range(start, end):
        if p[i] == b"%":
            return None
    return PyBytes_FromStringAndSize(p + start, end - start)


cdef class FileCache:
    """file_server answers by request key, each with the FileChecks it rests
    on; bounded in entries and in the bytes of the file bodies it keeps in
    memory. Eviction is least-recently-used by the clock ("second chance")
    rule: a hit only sets a flag (no reordering on the hot path); the oldest
    entry goes first unless it was used since eviction last passed it, in
    which case it moves to the back with its flag cleared."""

    cdef dict entries            # key -> CacheEntry, oldest first
    cdef readonly Py_ssize_t max_entries
    cdef readonly Py_ssize_t max_bytes
    cdef readonly Py_ssize_t bytes_held
    cdef readonly Py_ssize_t max_files   # entries holding a file open
    cdef readonly Py_ssize_t files_held
    cdef readonly bint by_encoding  # precompressed: Accept-Encoding is part of the key
    # run()'s answer when the cache has none: file_server's own (Python) run.
    cdef public object miss

    def __init__(self, Py_ssize_t max_entries=4096, Py_ssize_t max_bytes=32 * 1024 * 1024,
                 bint by_encoding=False, Py_ssize_t max_files=64):
        self.entries = {}
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes_held = 0
        self.max_files = max_files
        self.files_held = 0
        self.by_encoding = by_encoding
        self.miss = None

    def run(self, HttpRequest request, walk):
        """A routing step's run: the cached handler, else ``miss(request,
        walk)``. In C, so a hit runs no Python frame."""
        cdef object handler = self.lookup(request)
        if handler is not None:
            return handler
        return self.miss(request, walk)

    cpdef object lookup(self, HttpRequest request):
        """The cached handler for a plain GET or HEAD, or None; the key is
        (the ``root`` var, the path, Accept-Encoding when ``by_encoding``,
        the original_tail of a rewritten request's target), as
        fastsnake.files.server.FileServer._cache_key makes it."""
        cdef bytes method = request.method
        cdef bytes path = request.path
        cdef bytes target = request.target
        cdef Py_ssize_t n = PyBytes_GET_SIZE(path)
        cdef object encoding = None
        cdef bytes name
        cdef dict variables
        if not ((PyBytes_GET_SIZE(method) == 3 and memcmp(PyBytes_AS_STRING(method), "GET", 3) == 0)
                or (PyBytes_GET_SIZE(method) == 4
                    and memcmp(PyBytes_AS_STRING(method), "HEAD", 4) == 0)):
            return None
        cdef object tail = None
        if target is not path and not (
                PyBytes_GET_SIZE(target) >= n
                and memcmp(PyBytes_AS_STRING(target), PyBytes_AS_STRING(path), n) == 0
                and (PyBytes_GET_SIZE(target) == n or PyBytes_AS_STRING(target)[n] == b"?")):
            # Rewritten (handle_path, rewrite): canonical redirects look at
            # the path the client sent, so its last name is part of the key.
            tail = original_tail(target)
            if tail is None:
                return None
        for name, value in request.headers:  # names lowercased by the parser
            if name in not_cached:
                return None
            if PyBytes_GET_SIZE(name) == 15 and name == b"accept-encoding":
                if encoding is not None:
                    return None
                encoding = value
        variables = request.vars
        return self.get((variables.get("root") if variables else None, path,
                         encoding if self.by_encoding else None, tail))

    def __len__(self):
        return len(self.entries)

    cpdef object get(self, object key):
        """The handler cached under ``key`` if what it rests on still holds;
        None (and the entry dropped) otherwise."""
        cdef object found = self.entries.get(key)
        cdef CacheEntry entry
        if found is None:
            return None
        entry = <CacheEntry>found
        if not entry.checks.holds():
            self.drop(key)
            return None
        entry.used = True
        return entry.handler

    def put(self, object key, FileChecks checks, Handler handler, Py_ssize_t size=0,
            bint open_file=False):
        """Remember ``handler`` (holding ``size`` bytes of file in memory, or
        with ``open_file`` a file open) under ``key``."""
        cdef CacheEntry entry
        self.drop(key)
        if size > self.max_bytes or (open_file and self.files_held >= self.max_files):
            return  # (the caller asks has_file_room first, and keeps the body instead)
        # Room first, so the new entry is not the one evicted.
        while self.entries and (len(self.entries) >= self.max_entries
                                or self.bytes_held + size > self.max_bytes):
            self.evict_one()
        entry = CacheEntry.__new__(CacheEntry)
        entry.checks = checks
        entry.handler = handler
        entry.size = size
        entry.open_file = open_file
        entry.used = False
        self.entries[key] = entry
        self.bytes_held += size
        self.files_held += open_file

    def has_file_room(self):
        """Whether one more entry may hold a file open."""
        return self.files_held < self.max_files

    cdef evict_one(self):
        """Drop the oldest entry not used since eviction last passed it."""
        cdef object oldest
        cdef CacheEntry entry
        while True:
            oldest = next(iter(self.entries))
            entry = <CacheEntry>self.entries[oldest]
            if entry.used:
                entry.used = False  # a second chance: to the back of the line
                del self.entries[oldest]
                self.entries[oldest] = entry
                continue
            self.drop(oldest)
            return

    def drop(self, object key):
        cdef object entry = self.entries.pop(key, None)
        if entry is not None:
            self.bytes_held -= (<CacheEntry>entry).size
            self.files_held -= (<CacheEntry>entry).open_file

    def clear(self):
        self.entries.clear()
        self.bytes_held = 0
        self.files_held = 0
