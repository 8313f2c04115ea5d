# WSGI on a thread pool (the thread runtime, or `threads N`); included by _wsgi.pyx.
#
# Theory of operation
# -------------------
# The body is read on the loop as for the loop-thread exchange and the
# environ is built there; then the app is called in a pool thread, so a slow
# request stalls neither the loop nor other connections. Everything that
# touches the transport runs on the loop.
#
# The hand-off costs more than the app in a small request, so it is made of
# the cheapest parts there are (no Future, Condition or Event per request):
#
#   * to the pool: the exchange goes on a deque and at most one parked thread
#     is woken, by releasing a lock it waits on, and only when no thread is
#     already awake and about to look at the deque. The thread that takes an
#     exchange wakes the next one when more are waiting, so an exchange never
#     waits behind a running app (a slow app holds its own thread only),
#     while a burst of small requests is mostly served by the one thread that
#     holds the GIL, back to back, without a thread switch per request.
#   * back to the loop: an app that returns a list or tuple (the common case)
#     is answered in one step: the thread joins the body and puts the
#     exchange on a second deque; one call_soon_threadsafe drains everything
#     that is there when the loop runs it, so a burst costs one loop wake-up.
#
# The counters below are read and changed only with the GIL held and with no
# Python code in between (deque and list operations, lock release), so every
# such step is atomic with respect to the other threads: there is no other
# lock. A streamed response hands over one piece at a time and waits until
# the loop has written it and the transport takes more (`handed` event), so
# it is pulled only as fast as the client reads it. The app's iterable is
# closed in the pool thread, where it was made; the lease on the app is
# released on the loop once the app is done with the request.

import threading
from _thread import allocate_lock
from collections import deque


cdef class WsgiPool:
    """The threads WSGI apps run on (at most ``size``, started as needed)."""

    cdef readonly int size
    cdef int started
    # Threads awake that will look at `pending` before they park or run an
    # app: while there is one, new work needs no wake-up.
    cdef int searching
    cdef object pending      # deque of ThreadedWsgiExchange, oldest first
    cdef list parked         # the wake locks of parked threads (each held)
    cdef object finished     # deque of ThreadedWsgiExchange for the loop to complete
    cdef bint drain_called   # a drain is scheduled on the loop
    cdef bint wake_called    # a wake_later is scheduled on the loop
    cdef object loop
    cdef bint closed
    cdef object drain_callback
    cdef object wake_callback

    def __init__(self, int size, loop):
        if size < 1:
            raise ValueError("a WSGI pool needs at least one thread")
        self.size = size
        self.loop = loop
        self.pending = deque()
        self.parked = []
        self.finished = deque()
        self.drain_callback = self.drain
        self.wake_callback = self.wake_later

    def shutdown(self, wait=False):
        """Stop the threads once they have nothing left to do (requests still
        queued are served); parked ones leave now."""
        self.closed = True
        while self.parked:
            self.searching += 1
            self.parked.pop().release()

    # -- on the loop

    cdef int submit(self, ThreadedWsgiExchange exchange) except -1:
        if self.closed:
            raise RuntimeError("the WSGI pool is shut down")
        self.pending.append(exchange)
        if self.searching == 0 and not self.wake_called:
            # At the end of this turn of the loop, not now: a thread woken
            # now would only wait for the GIL the loop holds (two thread
            # switches for nothing); then it takes the whole turn's requests.
            self.wake_called = True
            self.loop.call_soon(self.wake_callback)
        return 0

    def wake_later(self):
        self.wake_called = False
        if self.pending and self.searching == 0:
            self.wake_one()

    cdef int wake_one(self) except -1:
        # (GIL held, no Python code in between: see the module comment.)
        if self.parked:
            self.searching += 1
            self.parked.pop().release()
        elif self.started < self.size and not self.closed:
            self.searching += 1
            self.started += 1
            # Daemon: a parked thread, or one stuck in an app after the
            # worker's drain gave up on it, never holds the process open.
            thread = threading.Thread(target=self.work, name=f"fastsnake-wsgi_{self.started}",
                                      daemon=True)
            try:
                thread.start()
            except RuntimeError:  # (the system's thread limit)
                self.searching -= 1
                self.started -= 1
                log.exception("cannot start a WSGI thread (%d running)", self.started)
        # else every thread runs an app: the first to finish looks at pending.
        return 0

    def drain(self):
        """Complete, on the loop, every exchange the threads are done with."""
        cdef ThreadedWsgiExchange exchange
        # Cleared first: an exchange put after this either is taken by the
        # loop below or schedules another drain.
        self.drain_called = False
        while self.finished:
            exchange = self.finished.popleft()
            try:
                exchange.loop_complete()
            except Exception:
                # (the others in the deque are still answered)
                log.exception("internal error completing %s", exchange.describe())
                try:
                    exchange.channel.abort_response()
                except Exception:
                    pass

    # -- in the pool threads

    def work(self):
        cdef ThreadedWsgiExchange exchange
        wake = allocate_lock()
        wake.acquire()
        # Counted in `searching` from here (by whoever started or woke us)
        # until an exchange is taken or the thread parks.
        while True:
            if self.pending:
                exchange = self.pending.popleft()
                self.searching -= 1
                if self.pending and self.searching == 0:
                    self.wake_one()  # the rest must not wait for this app
                exchange.run()
                exchange = None  # (released before parking)
                self.searching += 1
            elif self.closed:
                self.searching -= 1
                self.started -= 1
                return
            else:
                self.searching -= 1
                self.parked.append(wake)
                wake.acquire()  # the waker counts us as searching again

    cdef int post(self, ThreadedWsgiExchange exchange) except -1:
        self.finished.append(exchange)
        if not self.drain_called:
            self.drain_called = True
            try:
                self.loop.call_soon_threadsafe(self.drain_callback)
            except RuntimeError:
                pass  # the loop is closed: nobody is left to answer
        return 0


cdef class ThreadedWsgiExchange(WsgiExchange):
    cdef dict environ       # built on the loop, handed to the app in the thread
    cdef bint submitted     # the pool has (or had) it: the pool finishes it
    cdef object handed      # streaming only: set when the loop took the last piece
    cdef bint lost          # the client went away: stop pulling
    cdef bytes reply        # a whole body the thread made, for the loop to send
    cdef object failure     # what the app raised, for the loop to answer

    cdef int on_body_complete(self) except -1:
        self.take_lease()
        try:
            self.environ = self.build_environ()
        except BaseException as exc:
            self.app_failed(exc)
            return 0
        try:
            (<WsgiPool>self.handler.executor).submit(self)
        except RuntimeError as exc:  # the worker is stopping
            self.environ = None
            self.app_failed(exc)
            return 0
        self.submitted = True
        return 0

    cdef int on_writable(self) except -1:
        if self.handed is not None:
            self.handed.set()
        return 0

    cdef int on_connection_lost(self) except -1:
        self.lost = True
        if self.submitted:
            if self.handed is not None:
                self.handed.set()  # the pool thread stops; loop_complete finishes
        else:
            self.finish()  # the app was never called: nothing else will
        return 0

    # -- in the pool thread

    cdef int run(self):
        # Never raises: what goes wrong is the loop's to answer (post).
        cdef dict environ = self.environ
        self.environ = None
        result = None
        try:
            result = self.handler.app(environ, self)
            environ = None
            if (type(result) is list or type(result) is tuple) and not self.head_sent:
                # The common case in one hop: nothing follows, so no waiting
                # for the write; the loop sends and releases in one call.
                self.reply = b"".join(result)
                result = None
            else:
                self.stream(result)
        except BaseException as exc:
            self.failure = exc
        finally:
            if result is not None and type(result) is not list and type(result) is not tuple:
                close = getattr(result, "close", None)
                if close is not None:
                    try:
                        close()
                    except BaseException:
                        log.exception("error closing the response of %s", self.describe())
            result = None
            environ = None
        try:
            (<WsgiPool>self.handler.executor).post(self)
        except BaseException:
            log.exception("internal error handing back %s", self.describe())
        return 0

    cdef int stream(self, result) except -1:
        for chunk in result:
            if self.lost:
                return 0
            if type(chunk) is not bytes:
                if not isinstance(chunk, (bytearray, memoryview)):
                    raise TypeError(f"the app yielded {type(chunk).__name__}, not bytes")
                chunk = bytes(chunk)
            if chunk:
                self.hand_over(self.loop_send_chunk, chunk)
        if not self.lost:
            self.hand_over(self.loop_end, None)
        return 0

    def write(self, data):
        """The legacy write() callable, from the app's thread."""
        if type(data) is not bytes:
            raise TypeError(f"write() takes bytes, not {type(data).__name__}")
        if data and not self.lost:
            self.hand_over(self.loop_send_chunk, data)

    cdef hand_over(self, callback, data):
        # One piece in flight: wait until the loop has written it and the
        # transport is ready for more (or the client is gone).
        if self.handed is None:
            self.handed = threading.Event()
        else:
            self.handed.clear()
        self.channel.loop.call_soon_threadsafe(callback, data)
        self.handed.wait()

    # -- on the loop

    cdef int loop_complete(self) except -1:
        # The pool thread is finished with the request: answer what it left
        # (a whole body, or a failure) and release what it held.
        cdef bytes reply = self.reply
        failure = self.failure
        self.reply = None
        self.failure = None
        if failure is not None:
            if not self.done:
                self.app_failed(failure)
        elif reply is not None:
            self.send_whole(reply)
        self.result = None  # closed in the thread already
        self.finish()
        return 0

    cdef int send_whole(self, bytes body) except -1:
        if self.channel.is_closed() or self.done:
            return 0
        if self.status_line is None:
            self.app_failed(RuntimeError("the app returned without calling start_response"))
            return 0
        try:
            self.head_sent = True
            self.channel.send_response(self.status_line, self.headers, body)
        except ValueError as exc:
            self.head_sent = False
            self.app_failed(exc)
        return 0

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
