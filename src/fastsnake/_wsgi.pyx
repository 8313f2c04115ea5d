# cython: language_level=3
"""WSGI (PEP 3333) on the HTTP protocol, run on the event loop's thread.

Theory of operation
-------------------
A WsgiExchange collects the request body first (in memory, spooled to a
temporary file past BODY_SPOOL_THRESHOLD), because the app is called
synchronously on the loop and its reads of wsgi.input must never block. Then
it builds the environ and calls the app once.

  * A list or tuple result (most frameworks' common case) becomes one write:
    head and body together, with a Content-Length computed here.
  * Any other iterable is pulled one item at a time and only while the
    socket drains: when the transport pauses writing, pulling stops and
    resumes from on_writable. The iterable is never collected whole.
  * close() on the result is always called: at the end, on error, and when
    the client goes away.

Because the body is kept until the app runs, it is bounded: a request whose
body passes the app's limit gets 413 as soon as that is known (from its
Content-Length, else as its chunks arrive), so no client can fill the temp
folder. The limit is the route's ``request_body max_size`` when one applies,
else DEFAULT_MAX_BODY_SIZE (nginx refuses past 1 MiB by default; gunicorn and
Caddy stream without a limit, which needs no spool).

An exception before the response head is sent becomes a 500 with the
traceback logged; after it, the connection is closed (the client sees a
truncated body). Headers that could split a response are refused (500).

Per request, as little as possible is made anew (a keep-alive client's
requests are alike): the environ is one copy of the connection's template
(EnvironTemplate, in the channel's memo: the base environ with the peer,
server name, protocol and Host filled in); start_response checks the app's
str headers and keeps them as they are (the head writer takes latin-1 str);
and the connection's last exchange is reused when nothing else holds it.
"""

cimport cython

import io
import logging
import os
import stat
import sys
import tempfile
from urllib.parse import unquote_to_bytes

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_Copy, PyDict_GetItemWithError
from cpython.object cimport PyObject
from cpython.tuple cimport PyTuple_GET_SIZE
from cpython.unicode cimport PyUnicode_1BYTE_KIND, PyUnicode_AsLatin1String, PyUnicode_KIND
from libc.string cimport memchr

from fastsnake._exchange cimport Channel, Exchange, Handler, HttpRequest

include "includes/consts.pxi"
include "includes/wsgi_input.pxi"

cdef object log = logging.getLogger("fastsnake.error")
cdef object TemporaryFile = tempfile.TemporaryFile

cdef bytes INTERNAL_ERROR_STATUS = b"500 Internal Server Error"
cdef list INTERNAL_ERROR_HEADERS = [(b"content-type", b"text/plain; charset=utf-8")]
cdef bytes INTERNAL_ERROR_BODY = b"500 Internal Server Error\n"

cdef extern from "Python.h":
    # On a borrowed pointer: the count as it is, without a reference taken
    # to look at it.
    Py_ssize_t refcount_of "Py_REFCNT"(PyObject* o)


# Bounded caches of per-name work: a hostile client can send many names.
cdef dict g_status_lines = {}
cdef enum:
    CACHE_LIMIT = 512


cdef bytes status_bytes(object status):
    cdef PyObject* cached
    if type(status) is not str:
        raise TypeError(f"status must be a str, not {type(status).__name__}")
    cached = PyDict_GetItemWithError(g_status_lines, status)
    if cached != NULL:
        return <bytes>cached
    encoded = (<str>status).encode("latin-1")
    if len(encoded) < 4 or not encoded[:3].isdigit() or encoded[3:4] != b" ":
        raise ValueError(f"status must look like '200 OK', got {status!r}")
    if encoded[:1] in (b"0", b"1"):
        # 000-099 are no status; 1xx are informational, never a final answer
        # (the server sends 100 Continue itself; WSGI cannot switch protocols).
        raise ValueError(f"status must be a final status (200-999), got {status!r}")
    if len(g_status_lines) < CACHE_LIMIT:
        g_status_lines[status] = encoded
    return encoded


cdef class FileWrapper:
    """wsgi.file_wrapper: iterates a file in blocks; close() closes the file."""

    cdef readonly object filelike
    cdef readonly Py_ssize_t blksize

    def __init__(self, filelike, blksize=8192):
        self.filelike = filelike
        self.blksize = blksize

    def __iter__(self):
        return self

    def __next__(self):
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration

    def close(self):
        close = getattr(self.filelike, "close", None)
        if close is not None:
            close()


# wsgi.input of every request without a body: an empty BodyInput never
# changes (each read returns b"" before touching its state), so one serves all.
cdef BodyInput EMPTY_INPUT = empty_input()


include "includes/wsgi_environ.pxi"


# The body limit of a WSGI request when no request_body max_size applies.
DEFAULT_MAX_BODY_SIZE = 100 * 1024 * 1024


cdef class BodyTooLarge(Exchange):
    # A request whose Content-Length is past the limit: refused before any
    # of its body is read (no 100 Continue is sent).
    cdef int begin(self) except -1:
        self.channel.send_error(413, "request body too large")
        return 0


cdef class WsgiHandler(Handler):
    """Serves one WSGI app; makes a WsgiExchange per request."""

    cdef readonly object app
    cdef readonly dict base_environ
    cdef readonly str name
    # A thread pool: the app runs there instead of on the loop's thread.
    cdef readonly WsgiPool executor
    # An apps.Generation while the app can be swapped: each request holds
    # a read lease on it until the app is done with the request.
    cdef public object generation
    # Bodies larger than this get 413 unless the route set its own limit.
    cdef readonly long long max_body_size
    # proxy_headers: the client and scheme trusted proxies named (routing's
    # request.vars) replace the peer's in REMOTE_ADDR and wsgi.url_scheme.
    cdef readonly bint proxy_headers

    def __init__(self, app, *, int server_port, bint multiprocess=True,
                 str url_scheme="http", str name="", str server_software="fastsnake",
                 executor=None, long long max_body_size=DEFAULT_MAX_BODY_SIZE,
                 bint proxy_headers=False):
        self.app = app
        self.max_body_size = max_body_size
        self.proxy_headers = proxy_headers
        self.name = name
        self.executor = executor
        cdef bint multithread = executor is not None
        self.base_environ = base_environ(server_port, multithread, multiprocess, url_scheme,
                                         server_software)

    cpdef Exchange new_exchange(self, Channel channel, HttpRequest request):
        cdef WsgiExchange exchange
        cdef Exchange refused
        if request.body_limit < 0 and (request.chunked or request.content_length > 0):
            # No route set a limit: this app's default applies.
            if request.content_length > self.max_body_size:
                refused = BodyTooLarge.__new__(BodyTooLarge)
                refused.channel = channel
                refused.request = request
                return refused
            channel.limit_body(self.max_body_size)  # a chunked body is cut at it
        if self.executor is None:
            exchange = self.reused_exchange(channel)
            if exchange is None:
                exchange = WsgiExchange.__new__(WsgiExchange)
        else:
            exchange = ThreadedWsgiExchange.__new__(ThreadedWsgiExchange)
        exchange.channel = channel
        exchange.request = request
        exchange.handler = self
        if request.expect_continue:
            # The body is read now, before the app runs (see module doc).
            channel.send_continue()
        return exchange

    cdef WsgiExchange reused_exchange(self, Channel channel):
        """The channel's last exchange for this app, as new, when nothing but
        the channel's memo holds it any more (else None): a keep-alive
        connection's requests then share one object instead of allocating
        and freeing one each."""
        cdef EnvironTemplate template
        cdef WsgiExchange exchange
        memo = channel.memo
        if type(memo) is not EnvironTemplate:
            return None
        template = <EnvironTemplate>memo
        if template.handler is not self or template.spare is None:
            return None
        if refcount_of(<PyObject*>template.spare) != 1:
            return None  # the app kept it (as start_response), or it still runs
        exchange = <WsgiExchange>template.spare
        template.spare = None
        exchange.clear()
        return exchange

    def environ_for(self, Channel channel, HttpRequest request, body=b""):
        """Build the environ a request would get (for tests and tools)."""
        cdef WsgiExchange exchange = WsgiExchange.__new__(WsgiExchange)
        exchange.channel = channel
        exchange.request = request
        exchange.handler = self
        if body:
            exchange.body = [body]
            exchange.body_size = len(body)
        return exchange.build_environ()


@cython.freelist(8)
cdef class Writer:
    """The write() callable start_response returns: a small object of its
    own (kept on a free list) costs less per request than a bound method."""

    cdef object exchange

    def __call__(self, data):
        return self.exchange.write(data)


cdef class WsgiExchange(Exchange):
    cdef WsgiHandler handler
    # request body: None, a list of chunks, or a spooled temporary file
    cdef object body
    cdef Py_ssize_t body_size
    cdef bint spooled
    # response
    cdef bytes status_line
    cdef list headers
    cdef bint head_sent
    cdef object result
    cdef object iterator
    cdef bint done
    # The app generation this request holds a read lease on, from the app's
    # call to finish(): a request that never reaches the app holds none.
    cdef object leased

    cdef int clear(self) except -1:
        """Back to the state __new__ gives (a reused exchange, see
        WsgiHandler.reused_exchange): every field above but the handler."""
        self.body = None
        self.body_size = 0
        self.spooled = False
        self.status_line = None
        self.headers = None
        self.head_sent = False
        self.result = None
        self.iterator = None
        self.done = False
        self.leased = None
        return 0

    # -- request body

    cdef int on_body(self, bytes chunk) except -1:
        # Chunks are kept as they came (BodyInput reads across them without
        # joining); past BODY_SPOOL_THRESHOLD they go to a temporary file.
        if self.spooled:
            self.body_size += PyBytes_GET_SIZE(chunk)
            self.body.write(chunk)
            return 0
        if self.body is None:
            self.body = [chunk]
        else:
            self.body.append(chunk)
        self.body_size += PyBytes_GET_SIZE(chunk)
        if self.body_size > BODY_SPOOL_THRESHOLD:
            spool = TemporaryFile()
            spool.writelines(self.body)
            self.body = spool
            self.spooled = True
        return 0

    cdef object make_input(self):
        if self.spooled:
            self.body.seek(0)
            return self.body
        if self.body is None:
            return empty_input()
        return BodyInput(self.body, self.body_size)

    cdef Py_ssize_t body_length(self):
        if self.spooled:
            return self.body.tell()
        return self.body_size

    cdef dict build_environ(self):
        cdef HttpRequest req = self.request
        cdef EnvironTemplate template = connection_environ(self.handler, self.channel, req)
        cdef dict environ = PyDict_Copy(template.environ)
        if type(self) is WsgiExchange:
            template.spare = self
        cdef bytes path = req.path
        cdef bytes name
        cdef bytes value
        cdef bint host_pending = template.host_header is not None
        # The template holds what this connection's requests share; only
        # what differs from it is set here (each set is a dict store).
        if req.method != b"GET":
            environ["REQUEST_METHOD"] = method_str(req.method)
        if memchr(PyBytes_AS_STRING(path), 37, PyBytes_GET_SIZE(path)) != NULL:  # "%"
            environ["PATH_INFO"] = unquote_to_bytes(path).decode("latin-1")
        else:
            environ["PATH_INFO"] = path.decode("latin-1")
        if PyBytes_GET_SIZE(req.query):
            environ["QUERY_STRING"] = req.query.decode("latin-1")
        if req.script_name:
            # handle_path mounted the app below this prefix (PEP 3333's SCRIPT_NAME).
            environ["SCRIPT_NAME"] = unquote_to_bytes(req.script_name).decode("latin-1")
        if self.handler.proxy_headers and req.vars:
            forwarded(environ, req.vars)
        if self.body is not None:
            environ["wsgi.input"] = self.make_input()
        for name, value in req.headers:
            if host_pending and name == b"host":
                # The first Host field: the template has its usual value
                # (routing's request_header may have changed or added one).
                host_pending = False
                if value != template.host_header:
                    environ["HTTP_HOST"] = value.decode("latin-1")
                continue
            key = environ_key(name)
            if key is None:
                continue
            text = value.decode("latin-1")
            if key in environ:
                sep = "; " if key == "HTTP_COOKIE" else ","
                environ[key] = environ[key] + sep + text
            else:
                environ[key] = text
        if host_pending:
            del environ["HTTP_HOST"]  # (routing removed the field)
        if req.chunked:
            # The body was read whole and de-chunked: the app sees it as a
            # body of known length (Django trusts only CONTENT_LENGTH; Werkzeug
            # ignores it while Transfer-Encoding says chunked).
            environ["CONTENT_LENGTH"] = str(self.body_length())
            environ.pop("HTTP_TRANSFER_ENCODING", None)
        return environ

    # -- running the app

    cdef int take_lease(self) except -1:
        generation = self.handler.generation
        if generation is not None:
            self.leased = generation
            generation.acquire()
        return 0

    cdef int on_body_complete(self) except -1:
        cdef dict environ
        self.take_lease()
        try:
            environ = self.build_environ()
            self.result = self.handler.app(environ, self)
        except BaseException as exc:
            self.app_failed(exc)
            return 0
        result = self.result
        if (type(result) is list or type(result) is tuple) and not self.head_sent:
            self.send_sequence(result)
        elif type(result) is FileWrapper and not self.head_sent and self.start_sendfile(result):
            pass
        else:
            try:
                self.iterator = iter(result)
            except BaseException as exc:
                self.app_failed(exc)
                return 0
            self.pump()
        return 0

    cdef int send_sequence(self, object items) except -1:
        # Whole body known: one write with head, Content-Length and body.
        cdef bytes body
        try:
            if len(items) == 1:
                body = items[0]
            else:
                body = b"".join(items)
            if self.status_line is None:
                raise RuntimeError("the app returned without calling start_response")
        except BaseException as exc:
            self.app_failed(exc)
            return 0
        self.finish()  # closes the result and releases the app's lease
        try:
            self.head_sent = True
            self.channel.send_response(self.status_line, self.headers, body)
        except ValueError as exc:
            self.head_sent = False
            self.app_failed(exc)
        return 0

    cdef int pump(self) except -1:
        """Pull from the app's iterable while the socket takes data."""
        cdef Channel channel = self.channel
        while not self.done:
            if channel.is_closed():
                self.finish()
                return 0
            if not channel.is_writable():
                return 0  # on_writable resumes
            try:
                chunk = next(self.iterator)
            except StopIteration:
                break
            except BaseException as exc:
                self.app_failed(exc)
                return 0
            if type(chunk) is not bytes:
                if isinstance(chunk, (bytearray, memoryview)):
                    chunk = bytes(chunk)
                else:
                    self.app_failed(TypeError(
                        f"the app yielded {type(chunk).__name__}, not bytes"))
                    return 0
            if PyBytes_GET_SIZE(chunk) == 0:
                continue
            if not self.head_sent and not self.send_head(-1):
                return 0
            channel.write_body(chunk)
        if self.done:
            return 0
        if not self.head_sent and not self.send_head(0):
            return 0
        self.finish()
        if not channel.is_closed():
            channel.end_response()
        return 0

    cdef bint send_head(self, long long length) except -1:
        if self.status_line is None:
            self.app_failed(RuntimeError("the app sent a body before calling start_response"))
            return False
        try:
            self.head_sent = True
            self.channel.start_response(self.status_line, self.headers, length)
        except ValueError as exc:
            self.head_sent = False
            self.app_failed(exc)
            return False
        return True

    # -- wsgi.file_wrapper over sendfile

    cdef bint start_sendfile(self, FileWrapper wrapper) except -1:
        """Serve a regular file with the protocol's sendfile path; False
        leaves it to plain iteration (not a regular file, no fileno...)."""
        if self.status_line is None:
            return False
        try:
            file_fd = wrapper.filelike.fileno()
            info = os.fstat(file_fd)
            position = wrapper.filelike.tell()
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            return False
        if not stat.S_ISREG(info.st_mode):
            return False
        self.result = wrapper  # closed by finish(), after the last byte
        if self.send_head(max(0, info.st_size - position)):
            self.channel.send_file(file_fd, position)
        return True

    cdef int on_file_sent(self) except -1:
        self.finish()
        if not self.channel.is_closed():
            self.channel.end_response()
        return 0

    cdef int on_writable(self) except -1:
        if self.iterator is not None and not self.done:
            self.pump()
        return 0

    cdef int on_connection_lost(self) except -1:
        self.finish()
        return 0

    cdef int finish(self):
        if not self.done:
            self.done = True
            self.close_result()
            if self.spooled:
                self.body.close()
            if self.leased is not None:
                leased, self.leased = self.leased, None
                leased.release()
        return 0

    cdef int close_result(self):
        result = self.result
        self.result = None
        if result is not None and type(result) is not list and type(result) is not tuple:
            close = getattr(result, "close", None)
            if close is not None:
                try:
                    close()
                except BaseException:
                    log.exception("error closing the response of %s", self.describe())
        return 0

    cdef str describe(self):
        req = self.request
        return f"{req.method.decode('latin-1')} {req.target.decode('latin-1')}"

    cdef int app_failed(self, exc) except -1:
        log.error("error in WSGI app %s handling %s", self.handler.name, self.describe(),
                  exc_info=exc)
        self.finish()
        if self.head_sent or self.channel.is_closed():
            self.channel.abort_response()
            return 0
        self.head_sent = True
        if not self.channel.answer_error(500, "the app raised " + type(exc).__name__, False):
            self.channel.send_response(INTERNAL_ERROR_STATUS, INTERNAL_ERROR_HEADERS,
                                     INTERNAL_ERROR_BODY)
        return 0

    # -- the callables the app is given

    def __call__(self, status, headers, exc_info=None):
        """start_response (PEP 3333): record status and headers; return write."""
        if exc_info is not None:
            try:
                if self.head_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status_line is not None:
            raise RuntimeError("start_response called a second time without exc_info")
        line = status_bytes(status)
        if type(headers) is not list:
            raise TypeError(f"headers must be a list, not {type(headers).__name__}")
        for item in <list>headers:
            if type(item) is not tuple or PyTuple_GET_SIZE(item) != 2:
                raise TypeError(f"each header must be a (name, value) tuple, got {item!r}")
            name, value = <tuple>item
            if type(name) is not str or type(value) is not str:
                raise TypeError(f"header names and values must be str, got {item!r}")
            if (PyUnicode_KIND(name) != PyUnicode_1BYTE_KIND
                    or PyUnicode_KIND(value) != PyUnicode_1BYTE_KIND):
                # Not latin-1: raise what encoding raises (UnicodeEncodeError).
                PyUnicode_AsLatin1String(name)
                PyUnicode_AsLatin1String(value)
        self.status_line = line
        # The str pairs go to the channel as they are (its head writer takes
        # latin-1 str), in a copy: the app may go on changing its own list.
        self.headers = (<list>headers)[:]
        cdef Writer writer = Writer.__new__(Writer)
        writer.exchange = self
        return writer

    def write(self, data):
        """The legacy write() callable: sends at once, after the head."""
        if type(data) is not bytes:
            raise TypeError(f"write() takes bytes, not {type(data).__name__}")
        if not self.head_sent:
            if not self.send_head(-1):
                raise RuntimeError("the response head could not be sent")
        self.channel.write_body(data)


include "includes/wsgi_threads.pxi"
