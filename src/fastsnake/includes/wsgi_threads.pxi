# WSGI on a thread pool (the thread runtime, or `threads N`); included by _wsgi.pyx.
#
# Theory of operation
# -------------------
# The body is read on the loop as for the loop-thread exchange; then the
# app is called in a pool thread, so a slow request stalls neither the loop
# nor other connections. Everything that touches the transport runs on the
# loop, reached with call_soon_threadsafe. The pool thread hands over one
# piece of body at a time and waits until the loop has written it and the
# transport takes more (`handed` event), so a streamed response is pulled
# only as fast as the client reads it. The app's iterable is closed in the
# pool thread, where it was made; the lease on the app is released on the
# loop once the app is done with the request.

import threading


cdef class ThreadedWsgiExchange(WsgiExchange):
    cdef object loop
    cdef object handed      # set when the loop has taken the last piece
    cdef bint lost          # the client went away: stop pulling

    cdef int on_body_complete(self) except -1:
        cdef dict environ
        self.loop = self.channel.loop
        self.handed = threading.Event()
        self.take_lease()
        try:
            environ = self.build_environ()
        except BaseException as exc:
            self.app_failed(exc)
            return 0
        self.handler.executor.submit(self.run_in_thread, environ)
        return 0

    cdef int on_writable(self) except -1:
        self.handed.set()
        return 0

    cdef int on_connection_lost(self) except -1:
        self.lost = True
        if self.handed is not None:
            self.handed.set()  # the pool thread stops and loop_done finishes
        else:
            self.finish()  # the app was never called: nothing else will
        return 0

    # -- in the pool thread

    def run_in_thread(self, dict environ):
        result = None
        cdef bint finished_on_loop = False
        try:
            result = self.handler.app(environ, self)
            if (type(result) is list or type(result) is tuple) and not self.head_sent:
                # The common case in one hop: nothing follows, so no waiting
                # for the write; the loop sends and releases in one call.
                body = b"".join(result)
                result = None
                finished_on_loop = True
                self.loop.call_soon_threadsafe(self.loop_send_whole_and_finish, body)
            else:
                for chunk in result:
                    if self.lost:
                        break
                    if type(chunk) is not bytes:
                        if not isinstance(chunk, (bytearray, memoryview)):
                            raise TypeError(f"the app yielded {type(chunk).__name__}, not bytes")
                        chunk = bytes(chunk)
                    if chunk:
                        self.hand_over(self.loop_send_chunk, chunk)
                if not self.lost:
                    self.hand_over(self.loop_end, None)
        except BaseException as exc:
            self.loop.call_soon_threadsafe(self.loop_fail, exc)
        finally:
            if result is not None and type(result) is not list and type(result) is not tuple:
                close = getattr(result, "close", None)
                if close is not None:
                    try:
                        close()
                    except BaseException:
                        log.exception("error closing the response of %s", self.describe())
            if not finished_on_loop:
                self.loop.call_soon_threadsafe(self.loop_done)

    def write(self, data):
        """The legacy write() callable, from the app's thread."""
        if type(data) is not bytes:
            raise TypeError(f"write() takes bytes, not {type(data).__name__}")
        if data and not self.lost:
            self.hand_over(self.loop_send_chunk, data)

    cdef hand_over(self, callback, data):
        # One piece in flight: wait until the loop has written it and the
        # transport is ready for more (or the client is gone).
        self.handed.clear()
        self.loop.call_soon_threadsafe(callback, data)
        self.handed.wait()

    # -- on the loop

    def loop_send_whole_and_finish(self, bytes body):
        self.loop_send_whole(body)
        self.loop_done()

    def loop_send_whole(self, bytes body):
        if not self.channel.is_closed() and not self.done:
            if self.status_line is None:
                self.app_failed(RuntimeError("the app returned without calling start_response"))
            else:
                try:
                    self.head_sent = True
                    self.channel.send_response(self.status_line, self.headers, body)
                except ValueError as exc:
                    self.head_sent = False
                    self.app_failed(exc)
        self.handed.set()

    def loop_send_chunk(self, bytes chunk):
        if not self.channel.is_closed() and not self.done:
            if self.head_sent or self.send_head(-1):
                self.channel.write_body(chunk)
        if self.channel.is_writable() or self.channel.is_closed() or self.done:
            self.handed.set()
        # else on_writable sets it once the transport drains

    def loop_end(self, ignored):
        if not self.channel.is_closed() and not self.done:
            if self.head_sent or self.send_head(0):
                self.channel.end_response()
        self.handed.set()

    def loop_fail(self, exc):
        if not self.done:
            self.app_failed(exc)

    def loop_done(self):
        # The pool thread is finished with the request: release what it held.
        self.result = None  # closed in the thread already
        self.finish()
