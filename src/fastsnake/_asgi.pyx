# cython: language_level=3
"""ASGI 3 (HTTP spec 2.4) on the HTTP protocol, on the worker's event loop.

Theory of operation
-------------------
An HttpExchange is made when a request's head is parsed. It builds the scope
and starts the app at once as an eagerly started Task: the coroutine runs on
the protocol's own call and the loop schedules nothing unless the app really
suspends. Python 3.12+ has eager_start; on older Pythons the Task's first
step is taken from the loop and run at once (see start_now).

The scope is a copy of the connection's part of it (server, client, scheme,
HTTP version: a ScopeTemplate in the channel's memo) with the request's own
values set.

receive(): body chunks arrive through on_body into a list; receive() hands
    them over all at once as one http.request message (more_body while the
    body is incomplete). Past BODY_HIGH_WATER buffered bytes, reading pauses
    until the app takes the body. Once the whole body has been delivered,
    receive() waits until the response is complete or the client leaves,
    then returns http.disconnect (Starlette listens for it while streaming).
send(): http.response.start is held until the first body message, so a
    whole response (the common case) goes out in one write with a
    Content-Length. With more_body the response is chunked (unless the app
    gave a Content-Length), and send() awaits drain while writing is paused.
    http.response.pathsend is served with sendfile.
Errors: an exception before the head was sent becomes a 500 with the
    traceback logged; after it, the connection is closed. After the client
    left, send() raises ClientDisconnected (an OSError, as spec 2.4 asks) and
    what the app raises then is logged at debug level, without a traceback.

WebSocket requests get a WebSocketExchange (includes/asgi_websocket.pxi).
"""

import asyncio
import contextvars
import logging
import os
import sys
from urllib.parse import unquote

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.string cimport memchr

from fastsnake._exchange cimport Channel, Exchange, Handler, HttpRequest

from fastsnake._exchange import reason_phrase

include "includes/consts.pxi"

cdef object log = logging.getLogger("fastsnake.error")

cdef dict ASGI_VERSION = {"version": "3.0", "spec_version": "2.4"}
cdef dict HTTP_EXTENSIONS = {"http.response.pathsend": {}}
# What every HTTP scope starts from: copying it (a memcpy of its table) and
# then replacing the per-request values is cheaper than building a new dict.
cdef dict HTTP_SCOPE_TEMPLATE = {
    "type": "http",
    "asgi": ASGI_VERSION,
    "http_version": "1.1",
    "server": None,
    "client": None,
    "scheme": "http",
    "method": "GET",
    "root_path": "",
    "path": "",
    "raw_path": b"",
    "query_string": b"",
    "headers": None,
    "extensions": HTTP_EXTENSIONS,
}
cdef bint EAGER_TASKS = sys.version_info >= (3, 12)
cdef object Task = asyncio.Task
cdef object current_task = asyncio.current_task


# Stands in for loop.call_soon while a Task is made (Python < 3.12). A
# Task's __init__ schedules its first step with loop.call_soon(step,
# context=...) and nothing else: this keeps that step instead, so the
# exchange runs it at once, as 3.12's eager_start does, without a Handle and
# a loop turn before the app's first line. A plain function, not an object
# with __call__: a vectorcall with the keyword, no argument tuple or dict.
cdef object g_first_step = None
cdef object g_first_context = None
# Task(context=...) is 3.11+; on 3.10 the task copies the context it is made in.
cdef bint TASK_TAKES_CONTEXT = sys.version_info >= (3, 11)


def keep_first_step(step, *, context=None):
    global g_first_step, g_first_context
    g_first_step = step
    g_first_context = context


cdef object start_now(object loop, object coro, object context):
    """A Task running coro whose first step has already run (Python < 3.12)."""
    global g_first_step, g_first_context
    g_first_step = None
    # An instance attribute hides the loop's method for this one call; the
    # loop is a plain Python subclass (uvloop.Loop, asyncio's loops).
    loop.call_soon = keep_first_step
    try:
        # A fixed name: 3.11 formats "Task-N" for every task otherwise (3.12
        # names tasks only when asked); the name is for debugging alone.
        if TASK_TAKES_CONTEXT:
            task = Task(coro, loop=loop, name="fastsnake-asgi", context=context)
        else:
            task = context.run(Task, coro, loop=loop, name="fastsnake-asgi")
    finally:
        del loop.call_soon
    step, context = g_first_step, g_first_context
    g_first_step = g_first_context = None
    if step is None:  # a Task that did not schedule as expected: nothing to take over
        return task
    if current_task(loop) is not None:
        # Started from inside another task (a pipelined request resumed by
        # the previous app's task): a task cannot run inside another on
        # 3.11, so the step goes to the loop as Task would have sent it.
        loop.call_soon(step, context=context)
    else:
        context.run(step)
    return task

cdef bytes INTERNAL_ERROR_STATUS = b"500 Internal Server Error"
cdef list INTERNAL_ERROR_HEADERS = [(b"content-type", b"text/plain; charset=utf-8")]
cdef bytes INTERNAL_ERROR_BODY = b"500 Internal Server Error\n"

class ClientDisconnected(OSError):
    """send() after the client went away (ASGI spec 2.4 asks for an OSError),
    so an app streaming without listening for http.disconnect still stops."""


cdef dict g_status_lines = {}
cdef dict g_methods = {}

cdef enum:
    CACHE_LIMIT = 512


cdef bytes status_line_for(object status):
    line = g_status_lines.get(status)
    if line is None:
        if type(status) is not int or not 200 <= status <= 999:
            # 1xx are informational, never the final answer (RFC 9110 15.2).
            raise ValueError(f"invalid status {status!r}: a response needs 200-999")
        line = b"%d %s" % (status, reason_phrase(status))
        g_status_lines[status] = line
    return line


cdef str method_str(bytes method):
    text = g_methods.get(method)
    if text is None:
        text = method.decode("latin-1")
        if len(g_methods) < CACHE_LIMIT:
            g_methods[method] = text
    return text


cdef forwarded(dict scope, dict variables, str plain, str secure):
    # What trusted proxies named (routing's client_ip and forwarded_proto):
    # the client (its port is not known behind a proxy) and the scheme.
    client = variables.get("client_ip")
    if client and (scope["client"] is None or client != scope["client"][0]):
        scope["client"] = (client, 0)
    scheme = variables.get("forwarded_proto")
    if scheme:
        scope["scheme"] = secure if scheme == "https" else plain


cdef str decode_path(bytes raw_path):
    # ASGI: "path" is percent-decoded and UTF-8 decoded. Bytes that are not
    # UTF-8 raise UnicodeDecodeError (the request gets 400): a str with
    # surrogates in it would fail later, inside the app, as a 500.
    if memchr(PyBytes_AS_STRING(raw_path), 37, PyBytes_GET_SIZE(raw_path)) != NULL:  # "%"
        return unquote(raw_path.decode("latin-1"), "utf-8", "strict")
    return raw_path.decode("utf-8")


cdef mount(dict scope, HttpRequest request):
    # handle_path stripped a prefix: it becomes root_path, and "path" keeps
    # it in front, as ASGI frameworks expect (they strip root_path to route).
    cdef bytes full = request.script_name + request.path
    scope["root_path"] = decode_path(request.script_name)
    scope["path"] = decode_path(full)
    scope["raw_path"] = full


cdef list scope_headers(list headers):
    # The parser lowercases names already; a copy, because apps and
    # middleware may change the scope's list (Starlette's MutableHeaders
    # does) and the access log still reads the request's own.
    return list(headers)


cdef object address(object addr):
    if not addr:
        return None
    if type(addr) is tuple and len(<tuple>addr) == 2:
        return addr  # an IPv4 address as the transport gave it (immutable, so shared)
    if type(addr) is str:
        return (addr, None)  # a Unix socket's path (ASGI: [path, None])
    return (addr[0], addr[1])  # IPv6 gives (host, port, flowinfo, scope_id)


cdef int wake(object waiter) except -1:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)
    return 0


cdef class AsgiHandler(Handler):
    """Serves one ASGI app; makes an exchange per request."""

    cdef readonly object app
    cdef readonly str name
    cdef public object state        # the lifespan state dict, or None
    cdef readonly object loop
    cdef readonly Py_ssize_t max_message_size
    # proxy_headers: the client and scheme trusted proxies named replace the peer's.
    cdef readonly bint proxy_headers
    # An apps.Generation while the app can be swapped: each request holds a
    # read lease on it until the app's task for that request has finished.
    cdef public object generation
    # What each request's task starts from: a copy of the context the
    # handler was made in, never the context of the task that happens to
    # start it (a pipelined request is started from the previous app's task,
    # whose context variables are that request's business).
    cdef readonly object base_context

    def __init__(self, app, *, loop, str name="", state=None,
                 Py_ssize_t max_message_size=16 * 1024 * 1024, bint proxy_headers=False):
        self.app = app
        self.proxy_headers = proxy_headers
        self.loop = loop
        self.name = name
        self.state = state
        self.max_message_size = max_message_size
        self.base_context = contextvars.copy_context()

    cpdef Exchange new_exchange(self, Channel channel, HttpRequest request):
        if request.upgrade is not None and request.upgrade.lower() == b"websocket":
            return new_websocket_exchange(self, channel, request)
        cdef HttpExchange exchange = HttpExchange.__new__(HttpExchange)
        exchange.channel = channel
        exchange.request = request
        exchange.handler = self
        exchange.loop = self.loop
        exchange.body_complete = request.content_length <= 0 and not request.chunked
        exchange.chunks = []
        try:
            exchange.scope = self.http_scope(channel, request)
        except UnicodeDecodeError:
            return refuse(channel, request, b"400 Bad Request", [], "the path is not UTF-8")
        return exchange

    cdef dict http_scope(self, Channel channel, HttpRequest request):
        cdef dict scope = self.connection_scope(channel, request).copy()
        scope["method"] = method_str(request.method)
        scope["path"] = decode_path(request.path)
        scope["raw_path"] = request.path
        scope["query_string"] = request.query
        scope["headers"] = scope_headers(request.headers)
        if request.script_name:
            mount(scope, request)
        if self.state is not None:
            scope["state"] = self.state.copy()
        if self.proxy_headers and request.vars:
            forwarded(scope, request.vars, "http", "https")
        return scope

    cdef dict connection_scope(self, Channel channel, HttpRequest request):
        """What the scopes of one connection's requests to this app share
        (server, client, scheme, HTTP version), kept in the channel's memo."""
        cdef ScopeTemplate template
        memo = channel.memo
        if type(memo) is ScopeTemplate:
            template = <ScopeTemplate>memo
            if (template.handler is self and template.http_minor == request.http_minor
                    and template.secure == request.secure):
                return template.scope
        template = ScopeTemplate.__new__(ScopeTemplate)
        template.handler = self
        template.http_minor = request.http_minor
        template.secure = request.secure
        template.scope = scope = HTTP_SCOPE_TEMPLATE.copy()
        if request.http_minor != 1:
            scope["http_version"] = "1.0"
        scope["server"] = address(channel.sockname)
        scope["client"] = address(channel.peer)
        if request.secure:
            scope["scheme"] = "https"
        channel.memo = template
        return scope

    def scope_for(self, Channel channel, HttpRequest request):
        """The HTTP scope a request would get (for tests and tools)."""
        return self.http_scope(channel, request)


cdef class ScopeTemplate:
    # The per-connection part of an HTTP scope (AsgiHandler.connection_scope):
    # each request copies it and sets what is its own.
    cdef AsgiHandler handler
    cdef int http_minor
    cdef bint secure
    cdef dict scope


cdef class AppRun(Exchange):
    """What HTTP and WebSocket exchanges share: running the app as a task."""

    cdef AsgiHandler handler
    cdef object loop
    cdef object task
    cdef dict scope
    cdef object leased
    cdef bint disconnected

    cdef int begin(self) except -1:
        scope = self.scope
        self.scope = None
        if self.handler.generation is not None:
            self.leased = self.handler.generation
            self.leased.acquire()
        # The task runs run_app, which settles the exchange itself when the
        # app returns: no done callback, so no extra loop turn per request.
        if EAGER_TASKS:
            task = Task(self.run_app(scope), loop=self.loop, eager_start=True,
                        context=self.handler.base_context.copy())
        else:
            task = start_now(self.loop, self.run_app(scope), self.handler.base_context.copy())
        if not task.done():
            self.task = task  # (the loop holds tasks only weakly)
        return 0

    async def run_app(self, scope):
        """The app's call and its outcome: the whole life of the task."""
        cdef bint cancelled = False
        failure = None
        try:
            await self.handler.app(scope, self.receive, self.send)
        except asyncio.CancelledError:
            cancelled = True
        except BaseException as exc:
            failure = exc
        self.task = None
        try:
            self.app_finished(failure, cancelled)
        finally:
            if self.leased is not None:
                leased, self.leased = self.leased, None
                leased.release()
        if isinstance(failure, (KeyboardInterrupt, SystemExit)):
            raise failure  # as a plain Task would: these stop the worker

    cdef str describe(self):
        req = self.request
        return f"{req.method.decode('latin-1')} {req.target.decode('latin-1')}"

    cdef int report(self, exc) except -1:
        if self.disconnected:
            # The client left; whatever the app raised about it is no news.
            log.debug("ASGI app %s ended after the client left (%s): %r",
                      self.handler.name, self.describe(), exc)
        else:
            log.error("error in ASGI app %s handling %s", self.handler.name, self.describe(),
                      exc_info=exc)
        return 0

    cdef int app_finished(self, exc, bint cancelled=False) except -1:
        raise NotImplementedError

    async def receive(self):
        raise NotImplementedError

    async def send(self, message):
        raise NotImplementedError


cdef class HttpExchange(AppRun):
    cdef list chunks
    cdef Py_ssize_t buffered
    cdef bint body_complete
    cdef bint final_body_delivered
    cdef bint receive_started
    cdef bint client_eof
    cdef object receive_waiter
    cdef object drain_waiter
    cdef object file_waiter
    # response
    cdef bytes status_line
    cdef list headers
    cdef bint response_started
    cdef bint head_sent
    cdef bint response_complete

    # -- request body, from the protocol

    cdef int on_body(self, bytes chunk) except -1:
        self.chunks.append(chunk)
        self.buffered += len(chunk)
        if self.buffered > BODY_HIGH_WATER:
            self.channel.pause_for(PAUSE_BODY)
        wake(self.receive_waiter)
        return 0

    cdef int on_body_complete(self) except -1:
        self.body_complete = True
        wake(self.receive_waiter)
        return 0

    cdef int on_writable(self) except -1:
        wake(self.drain_waiter)
        return 0

    cdef int on_connection_lost(self) except -1:
        self.disconnected = True
        wake(self.receive_waiter)
        wake(self.drain_waiter)
        wake(self.file_waiter)
        return 0

    cdef int on_file_sent(self) except -1:
        wake(self.file_waiter)
        return 0

    cdef int on_eof(self) except -1:
        # No more request bytes will come: an unfinished body never will,
        # and an app waiting for http.disconnect hears it now.
        self.client_eof = True
        wake(self.receive_waiter)
        return 0

    # -- the callables the app is given

    async def receive(self):
        cdef bytes body
        if not self.receive_started:
            self.receive_started = True
            if not self.body_complete or self.chunks:
                self.channel.send_continue()
        while True:
            if self.chunks:
                body = self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
                self.chunks = []
                if self.buffered > BODY_HIGH_WATER:
                    self.channel.resume_for(PAUSE_BODY)
                self.buffered = 0
                if self.body_complete:
                    self.final_body_delivered = True
                return {"type": "http.request", "body": body, "more_body": not self.body_complete}
            if self.body_complete and not self.final_body_delivered:
                self.final_body_delivered = True
                return {"type": "http.request", "body": b"", "more_body": False}
            if self.disconnected or self.response_complete or self.client_eof:
                return {"type": "http.disconnect"}
            self.receive_waiter = self.loop.create_future()
            try:
                await self.receive_waiter
            finally:
                self.receive_waiter = None

    async def send(self, message):
        cdef str kind = message["type"]
        if kind == "http.response.body":
            if not self.response_started:
                raise RuntimeError("http.response.body sent before http.response.start")
            if self.response_complete:
                raise RuntimeError("http.response.body sent after the response completed")
            if self.disconnected:
                raise ClientDisconnected("the client has gone away")
            body = message.get("body", b"")
            more = message.get("more_body", False)
            if not self.head_sent:
                # A bad header raises here, before anything is written, and
                # the app's failure then becomes a 500.
                if not more:
                    self.channel.send_response(
                        self.status_line, self.headers,
                        body if type(body) is bytes else bytes(body))
                    self.head_sent = True
                    self.response_complete = True
                    wake(self.receive_waiter)
                    return
                self.channel.start_response(self.status_line, self.headers, -1)
                self.head_sent = True
            if body:
                self.channel.write_body(body)
            if not more:
                self.finish_response()
                return
            if not self.channel.is_writable() and not self.disconnected:
                self.drain_waiter = self.loop.create_future()
                try:
                    await self.drain_waiter
                finally:
                    self.drain_waiter = None
        elif kind == "http.response.start":
            if self.response_started:
                raise RuntimeError("http.response.start sent twice")
            self.status_line = status_line_for(message["status"])
            self.headers = list(message.get("headers", ()))
            self.response_started = True
        elif kind == "http.response.pathsend":
            await self.send_path(message["path"])
        elif kind == "http.response.trailers":
            pass  # trailers are only sent when the app asked in the start message
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r} on an HTTP connection")

    async def send_path(self, path):
        if not self.response_started or self.head_sent:
            raise RuntimeError("http.response.pathsend must follow http.response.start alone")
        if self.disconnected:
            raise ClientDisconnected("the client has gone away")
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            self.channel.start_response(self.status_line, self.headers, size)
            self.head_sent = True
            self.file_waiter = self.loop.create_future()
            self.channel.send_file(f.fileno(), 0)
            try:
                if not self.file_waiter.done():
                    await self.file_waiter
            finally:
                self.file_waiter = None
        if not self.disconnected:
            self.finish_response()

    cdef int finish_response(self) except -1:
        self.response_complete = True
        self.channel.end_response()
        wake(self.receive_waiter)
        return 0

    cdef int app_finished(self, exc, bint cancelled=False) except -1:
        if cancelled:
            exc = RuntimeError("the app's task was cancelled")
        if self.client_eof and not self.body_complete and not self.response_complete:
            # The client stopped sending in the middle of its body: the app
            # heard http.disconnect, and whatever it did then is no news.
            self.disconnected = True
            if exc is not None:
                self.report(exc)
            self.channel.abort_response()
            return 0
        if exc is not None:
            self.report(exc)
        elif not self.response_complete and not self.disconnected:
            exc = RuntimeError("the app returned without completing its response")
            log.error("ASGI app %s handling %s: %s", self.handler.name, self.describe(), exc)
        if exc is None or self.response_complete or self.disconnected:
            return 0
        if self.head_sent:
            self.channel.abort_response()
        else:
            self.head_sent = True
            self.response_complete = True
            if not self.channel.answer_error(500, "the app raised " + type(exc).__name__,
                                             False):
                self.channel.send_response(INTERNAL_ERROR_STATUS, INTERNAL_ERROR_HEADERS,
                                         INTERNAL_ERROR_BODY)
        return 0


include "includes/asgi_websocket.pxi"
