# Included by _http.pyx: what all connections of a worker share -- the clock
# and Date line the worker's tick refreshes, the set of live connections that
# tick() checks deadlines on and begin_drain()/abort_all() reach, the request
# counter, and the method-name table.

# ---------------------------------------------------------------- shared state
# The clock and Date line are refreshed by tick(); every connection is in
# g_connections so that tick() and begin_drain() can reach it.

cdef double g_now = 0.0
# The time between the last two ticks (at most 1 s): g_now may be that much
# behind the real clock, so deadlines add it and never fire early.
cdef double g_tick = 0.0
cdef bytes g_date_line = b""
cdef unsigned long long g_requests = 0
# Set by begin_drain: connections made from then on (those the worker takes
# from its accept queue as it stops) are served one request, then closed.
cdef bint g_draining = False
cdef double g_idle_grace = 1.0
cdef set g_connections = set()
cdef llhttp.llhttp_settings_t g_settings
cdef list g_method_names = []


def tick(double monotonic_now, bytes date_value):
    """Advance the clock and the cached Date value; expire late connections."""
    global g_now, g_date_line, g_tick
    if g_now > 0.0:
        g_tick = min(max(monotonic_now - g_now, 0.0), 1.0)
    g_now = monotonic_now
    g_date_line = b"date: " + date_value + b"\r\n"
    cdef HttpProtocol proto
    for proto in list(g_connections):
        if proto.deadline_kind != D_NONE and proto.deadline <= g_now:
            proto.expire()


def connection_count():
    return len(g_connections)


def request_count():
    """Requests this process has started to serve (for worker recycling)."""
    return g_requests


def begin_drain(double idle_grace=1.0):
    """Stop taking new requests: busy connections close after their current
    response (with Connection: close); idle ones get idle_grace seconds first,
    because a client may have sent its next request already (closing at once
    would fail it), and then close. Connections made later are treated alike."""
    global g_draining, g_idle_grace
    g_draining = True
    g_idle_grace = idle_grace
    cdef HttpProtocol proto
    for proto in list(g_connections):
        proto.closing = True
        if proto.exchange is None and proto.parse_state == S_IDLE:
            proto.set_deadline(D_IDLE, idle_grace)


def abort_all():
    cdef HttpProtocol proto
    for proto in list(g_connections):
        proto.transport.abort()


cdef _init_tables():
    global g_date_line
    import time
    # The worker's tick() keeps this fresh; a value exists before the first
    # tick. Written here rather than by email.utils.formatdate, which would
    # load the email package (1.5 MB) into every worker for this one line.
    t = time.gmtime()
    g_date_line = ("date: %s, %02d %s %04d %02d:%02d:%02d GMT\r\n" % (
        ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[t.tm_wday], t.tm_mday,
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
         "Dec")[t.tm_mon - 1], t.tm_year, t.tm_hour, t.tm_min, t.tm_sec)).encode("ascii")
    cdef int i
    # Filled on first use: llhttp_method_name aborts on numbers it lacks.
    for i in range(256):
        g_method_names.append(None)


cdef bytes method_name(int number):
    cdef bytes name = g_method_names[number]
    if name is None:
        name = llhttp.llhttp_method_name(<llhttp.llhttp_method_t>number)
        g_method_names[number] = name
    return name


_init_tables()
