# Tunables shared by the Cython modules.

cdef enum:
    # Why reading is paused (bits).
    PAUSE_PIPELINE = 1
    PAUSE_BODY = 2
    PAUSE_BACKLOG = 4   # our own answers (WebSocket pongs) wait for the client to read
    PAUSE_DEFER = 8     # routing waits for work off the loop (a basic_auth password check)

# Every response names us, as Caddy's do (README.md, "How requests are served").
cdef bytes SERVER_LINE = b"server: fastsnake\r\n"

# How long a lingering close keeps reading (and dropping) the client's bytes.
cdef double LINGER_SECONDS = 2.0

# Request bodies up to this size stay in memory; larger ones spool to disk.
cdef Py_ssize_t BODY_SPOOL_THRESHOLD = 1024 * 1024

# A streamed request body buffered past this pauses reading until the app
# takes it (ASGI receive()).
cdef Py_ssize_t BODY_HIGH_WATER = 256 * 1024

# A streamed response's writes are gathered for one loop turn, up to this.
cdef Py_ssize_t CORK_LIMIT = 64 * 1024
