# The file pump of the HTTP protocol, included by _http.pyx: a response body
# sent from a file (wsgi.file_wrapper, ASGI pathsend, file_server). The head
# goes into the socket with MSG_MORE and the body with sendfile(2) while the
# transport has nothing queued; when the socket is full, a little goes
# through the transport only to learn when it has drained, then sendfile
# again. Over TLS or when the body is compressed, buffered writes. Module-
# level functions on the protocol's fields (Cython allows no include inside
# a class body), as includes/http1_head.pxi.

cdef object os_sendfile = getattr(os, "sendfile", None)
cdef object os_pread = getattr(os, "pread", None)

# send(2) with MSG_MORE: the response head goes into the socket marked "more
# follows", so the kernel holds it and sends it in the same segment as the
# file's first bytes rather than alone. Measured on loopback (1 MiB files,
# wrk -c64): the client's CPU per response halves, as the segments now go out
# from the server's sendfile call instead of from the client's ACKs. The next
# write without the flag (sendfile's last page, a transport write, or the
# close) pushes it. 0: the socket took nothing; -1: an error the transport's
# own write will meet; -2: no MSG_MORE here (then the transport writes it).
cdef extern from *:
    """
    #if defined(__linux__)
    #include <sys/socket.h>
    #include <errno.h>
    static Py_ssize_t fs_send_more(int fd, const char *data, Py_ssize_t n) {
        Py_ssize_t sent = send(fd, data, (size_t)n, MSG_MORE | MSG_DONTWAIT | MSG_NOSIGNAL);
        if (sent < 0) return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
        return sent;
    }
    #else
    static Py_ssize_t fs_send_more(int fd, const char *data, Py_ssize_t n) { return -2; }
    #endif
    """
    Py_ssize_t fs_send_more(int fd, const char* data, Py_ssize_t n) nogil

# sendfile(2) without os.sendfile's argument parsing and int objects: bytes
# sent, 0 when the socket is full, -errno on an error. -ENOSYS where there is
# no Linux sendfile (then os.sendfile does it).
cdef extern from *:
    """
    #if defined(__linux__)
    #include <sys/sendfile.h>
    static Py_ssize_t fs_sendfile(int out, int src, long long offset, Py_ssize_t count) {
        off_t at = (off_t)offset;
        Py_ssize_t sent;
        do {
            sent = sendfile(out, src, &at, (size_t)count);
        } while (sent < 0 && errno == EINTR);
        if (sent < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;
        return sent;
    }
    #else
    #include <errno.h>
    static Py_ssize_t fs_sendfile(int out, int src, long long offset, Py_ssize_t count) {
        return -ENOSYS;
    }
    #endif
    """
    Py_ssize_t fs_sendfile(int out, int src, long long offset, Py_ssize_t count) nogil
    int ENOSYS


cdef object read_at(int fd, Py_ssize_t size, long long offset):
    # os.pread where it exists; Windows has none, and only this pump reads
    # the file, so seeking first is safe there.
    if os_pread is not None:
        return os_pread(fd, size, offset)
    os.lseek(fd, offset, os.SEEK_SET)
    return os.read(fd, size)

# sendfile() at most this much per call, so one big file cannot hog the loop.
cdef Py_ssize_t SENDFILE_CHUNK = 1024 * 1024
# Without sendfile (TLS, compression), the file goes through buffered writes
# of this size.
cdef Py_ssize_t FILE_READ_CHUNK = 256 * 1024
# When sendfile finds the socket full, this much goes through the transport,
# only so that it tells us when the socket has drained (see feed_file).
cdef Py_ssize_t DRAIN_CHUNK = 16 * 1024


cdef int connection_fd(HttpProtocol proto) except -2:
    """The connection's socket for sendfile, looked up once; -1 when the
    bytes must go through the transport (TLS encrypts them) or there is no
    sendfile."""
    if proto.socket_fd == -2:
        sock = (None if proto.secure or os_sendfile is None
                else proto.transport.get_extra_info("socket"))
        proto.socket_fd = sock.fileno() if sock is not None else -1
    return proto.socket_fd


cdef int start_file(HttpProtocol proto, int fd, long long offset, bytes head) except -1:
    """Send the rest of the response body (its Content-Length) from a
    file, with sendfile while the transport has nothing queued; then call
    exchange.on_file_sent(). The adapter keeps the file open until then.
    ``head``: the response head when it is not written yet (else the
    head start_response corked, if that is all the cork holds); with
    sendfile it goes into the socket with MSG_MORE, to leave in the
    file's first segment."""
    cdef bint compressing = proto.filter is not None and proto.filter.compressor is not None
    if proto.closed:
        return 0
    proto.file_sendfile = not compressing and connection_fd(proto) >= 0
    if head is None and proto.cork is not None and len(proto.cork) == 1:
        head = proto.cork[0]
        proto.cork = None
        proto.cork_size = 0
    if head is not None:
        if (proto.file_sendfile and proto.cork is None and proto.body_remaining() > 0
                and proto.transport.get_write_buffer_size() == 0):
            head = head_more(proto, head)
        if PyBytes_GET_SIZE(head):
            proto.flush_cork()
            proto.transport.write(head)
    proto.flush_cork()  # sendfile goes around the transport: nothing may wait
    proto.file_fd = fd
    proto.file_offset = offset
    proto.file_left = proto.body_remaining()
    if compressing:
        # Compressed: read and compress; the length is the source file's.
        proto.file_left = (proto.filter.source_length if proto.filter.source_length >= 0
                           else MAX_CONTENT_LENGTH)
    proto.sending_file = True
    return feed_file(proto)


cdef bytes head_more(HttpProtocol proto, bytes head):
    """Send ``head`` straight to the socket with MSG_MORE; returns what the
    socket did not take, for the transport to write."""
    cdef Py_ssize_t sent = fs_send_more(proto.socket_fd, PyBytes_AS_STRING(head),
                                        PyBytes_GET_SIZE(head))
    if sent <= 0:
        return head  # refused or not here: the transport writes it
    return head[sent:]


cdef int feed_file(HttpProtocol proto) except -1:
    """Write the file on while the socket takes it (again from resume_writing)."""
    cdef Py_ssize_t sent
    while proto.file_left > 0:
        if proto.closed:
            proto.sending_file = False
            return 0
        if proto.writing_paused:
            return 0  # resume_writing pumps again
        sent = 0
        if proto.file_sendfile and proto.transport.get_write_buffer_size() == 0:
            # Nothing queued in the transport: the socket is ours to write
            # to directly, and bytes stay in order.
            sent = send_file_chunk(proto)
            if sent < 0:
                proto.sending_file = False
                proto.transport.abort()
                return 0
            if sent > 0 and proto.response_remaining >= 0:
                proto.response_remaining -= sent
            if sent > 0 and proto.filter is not None:
                proto.filter.size += sent
        if sent == 0:
            # Socket full (or bytes queued), or no sendfile: a buffered write.
            data = read_at(proto.file_fd, min(proto.file_left, DRAIN_CHUNK
                                              if proto.file_sendfile else FILE_READ_CHUNK),
                           proto.file_offset)
            if not data:
                break  # the file shrank: end_response will close
            sent = len(data)
            if proto.file_sendfile:
                # Rather than copy the rest of the file through the
                # transport, wait until the socket has drained completely
                # and sendfile again: with write-buffer limits of 0 the
                # transport pauses us as soon as these bytes are queued,
                # and resumes us (resume_writing pumps again) once they
                # are all gone.
                if not proto.file_drain_wait:
                    proto.file_drain_wait = True
                    proto.transport.set_write_buffer_limits(0, 0)
                proto.write_body(data)
                proto.flush_cork()
            else:
                proto.write_body(data)
        proto.file_offset += sent
        proto.file_left -= sent
    proto.sending_file = False
    if proto.file_drain_wait:
        proto.file_drain_wait = False
        if not proto.closed:
            proto.transport.set_write_buffer_limits()  # back to the defaults
    if proto.exchange is not None:
        proto.exchange.on_file_sent()
    return 0


cdef Py_ssize_t send_file_chunk(HttpProtocol proto) except? -2:
    """One sendfile call: bytes sent, 0 when the socket is full, -1 after an
    error (logged; the caller drops the connection)."""
    cdef Py_ssize_t count = min(proto.file_left, SENDFILE_CHUNK)
    cdef Py_ssize_t sent
    with nogil:  # the file's pages may have to be read from disk
        sent = fs_sendfile(proto.socket_fd, proto.file_fd, proto.file_offset, count)
    if sent >= 0:
        return sent
    if sent == -ENOSYS:
        try:
            return os_sendfile(proto.socket_fd, proto.file_fd, proto.file_offset, count)
        except BlockingIOError:
            return 0
        except OSError as exc:
            log.debug("sendfile failed: %s", exc)
            return -1
    log.debug("sendfile failed: %s", os.strerror(-sent))
    return -1
