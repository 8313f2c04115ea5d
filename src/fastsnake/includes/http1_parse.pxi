# Request-head parsing, included by _http.pyx: the Host and target checks
# and the llhttp C callbacks that fill an HttpProtocol's per-request fields.
# (Kept apart from the protocol class so each file has one job; they share
# one compilation unit, as uvloop's .pxi files do.)

# ------------------------------------------------------- host and target form
# RFC 9112 3.2: a Host that is not uri-host [":" port] is a 400; RFC 3986 3.2.2:
# reg-name = *( unreserved / pct-encoded / sub-delims ), so no "@" (userinfo),
# "/", space or control byte can reach SERVER_NAME or the site router.

cdef bytes REG_NAME_BYTES = (b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                             b"-._~!$&'()*+,;=")
cdef bytes HEX_BYTES = b"0123456789abcdefABCDEF"
cdef unsigned char g_reg_name[256]
cdef unsigned char g_hex[256]


cdef _init_host_tables():
    cdef int i
    for i in range(256):
        g_reg_name[i] = 0
        g_hex[i] = 0
    for i in REG_NAME_BYTES:
        g_reg_name[i] = 1
    for i in HEX_BYTES:
        g_hex[i] = 1


_init_host_tables()


cdef bint valid_host(bytes value):
    """Whether value is uri-host [":" port] (RFC 9110 4.2, RFC 3986 3.2.2);
    the empty value is valid (RFC 9112 3.2: no authority)."""
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(value)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(value)
    cdef Py_ssize_t i = 0
    cdef unsigned char c
    if n and p[0] == 91:  # "[": IP-literal, up to "]"
        i = 1
        while i < n and p[i] != 93:
            c = p[i]
            if not (g_reg_name[c] or c == 58):
                return False
            i += 1
        if i >= n or i == 1:
            return False
        i += 1
    else:
        while i < n and p[i] != 58:
            c = p[i]
            if c == 37:  # pct-encoded
                if i + 2 >= n or not g_hex[p[i + 1]] or not g_hex[p[i + 2]]:
                    return False
                i += 3
                continue
            if not g_reg_name[c]:
                return False
            i += 1
    if i < n:
        if p[i] != 58:
            return False
        i += 1
        while i < n:  # port = *DIGIT
            if not (48 <= p[i] <= 57):
                return False
            i += 1
    return True


cdef tuple split_absolute_form(bytes url):
    """(authority, origin-form target) of an absolute-form request-target
    (RFC 9112 3.2.2), or None when it is not an http(s) URI with a host."""
    cdef Py_ssize_t sep = url.find(b"://")
    cdef Py_ssize_t end
    cdef Py_ssize_t i
    if sep <= 0 or url[:sep].lower() not in (b"http", b"https"):
        return None
    end = PyBytes_GET_SIZE(url)
    for mark in (b"/", b"?", b"#"):
        i = url.find(mark, sep + 3)
        if 0 <= i < end:
            end = i
    authority = url[sep + 3:end]
    # RFC 9110 4.2.1: an empty host is invalid; 4.2.4: userinfo is an error
    # (valid_host refuses the "@").
    if not authority or not valid_host(authority):
        return None
    target = url[end:]
    if not target.startswith(b"/"):
        target = b"/" + target  # RFC 9110 4.2.3: an empty path is "/"
    return authority, target


# ------------------------------------------------------------ llhttp callbacks
# Each is noexcept: Python errors are stashed on the protocol and reported to
# llhttp as HPE_USER; feed() turns them into a response.

cdef inline HttpProtocol proto_of(llhttp.llhttp_t* parser):
    return <HttpProtocol>parser.data


cdef int fail(HttpProtocol proto, int status, str reason) noexcept:
    proto.error_status = status
    proto.stashed_error = reason
    return llhttp.HPE_USER


# The request header names clients send most, each kept as one bytes object:
# a field with one of these names gets that object (no new one per request,
# and its hash, which the WSGI environ and routing look it up by, is kept).
cdef tuple COMMON_NAMES = (
    b"host", b"user-agent", b"accept", b"accept-encoding", b"accept-language",
    b"connection", b"content-length", b"content-type", b"cookie", b"referer", b"origin",
    b"cache-control", b"upgrade-insecure-requests", b"sec-fetch-site", b"sec-fetch-mode",
    b"sec-fetch-dest", b"sec-fetch-user", b"sec-ch-ua", b"sec-ch-ua-mobile",
    b"sec-ch-ua-platform", b"if-none-match", b"if-modified-since", b"authorization",
    b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"x-real-ip", b"pragma",
    b"dnt", b"transfer-encoding", b"expect", b"upgrade", b"te", b"range", b"forwarded",
    b"x-requested-with", b"priority", b"sec-websocket-key", b"sec-websocket-version",
    b"sec-websocket-extensions", b"sec-websocket-protocol", b"via", b"traceparent")
cdef enum:
    NAME_SLOTS = 128
# A small open table over COMMON_NAMES (borrowed: the tuple keeps them). A
# name whose slot another took is simply not shared (sec-fetch-mode).
cdef PyObject* g_name_slots[NAME_SLOTS]


cdef inline size_t name_slot(const char* p, size_t n) noexcept:
    return (n * 39 + <unsigned char>p[0] + (<size_t><unsigned char>p[n - 1] << 3)
            + (<size_t><unsigned char>p[n // 2] << 4)) & (NAME_SLOTS - 1)


cdef _init_name_slots():
    cdef size_t slot
    for name in COMMON_NAMES:
        slot = name_slot(PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name))
        if g_name_slots[slot] == NULL:
            g_name_slots[slot] = <PyObject*>name


_init_name_slots()


cdef bytes lowered_bytes(const char* at, size_t length):
    """A header name as bytes, lowercased: names are case-insensitive (RFC
    9110 5.1), ASGI wants them lowercase, and every later lookup can then
    compare bytes as they are."""
    cdef char buf[64]
    cdef char* p
    cdef size_t i
    cdef bytes out
    cdef PyObject* common
    if length <= 64:
        for i in range(length):
            buf[i] = at[i] + 32 if 65 <= at[i] <= 90 else at[i]
        if length:
            common = g_name_slots[name_slot(buf, length)]
            if (common != NULL and <size_t>PyBytes_GET_SIZE(<bytes>common) == length
                    and memcmp(PyBytes_AS_STRING(<bytes>common), buf, length) == 0):
                return <bytes>common
        return PyBytes_FromStringAndSize(buf, length)
    # Longer than 64 bytes, so a new object (CPython shares only the empty
    # and one-byte ones), not yet hashed: lowering it in place is safe.
    out = PyBytes_FromStringAndSize(at, length)
    p = PyBytes_AS_STRING(out)
    for i in range(length):
        if 65 <= p[i] <= 90:
            p[i] += 32
    return out


cdef int cb_message_begin(llhttp.llhttp_t* parser) noexcept:
    cdef HttpProtocol proto = proto_of(parser)
    proto.reset_request()
    proto.parse_state = S_HEADERS
    if proto.limits.read_header_timeout > 0:
        proto.set_deadline(D_HEADER, proto.limits.read_header_timeout)
    elif proto.deadline_kind == D_IDLE:
        proto.set_deadline(D_NONE, 0)  # a request has started: no longer idle
    return 0


cdef inline char byte_before_url(HttpProtocol proto, const char* at):
    # The second byte before the target: the method's last letter when the
    # line has one space there, a space when it has more. Reads only bytes of
    # this bytes object, else the two remembered from the previous one.
    if at - 2 >= proto.exec_begin:
        return at[-2]
    if at - 1 >= proto.exec_begin:
        return proto.tail1
    return proto.tail2


cdef int cb_url(llhttp.llhttp_t* parser, const char* at, size_t length) noexcept:
    cdef HttpProtocol proto = proto_of(parser)
    if proto.url is None and byte_before_url(proto, at) == 32:
        # RFC 9112 3: method SP request-target, one space. llhttp skips any
        # number; a server that reads the line differently from a proxy in
        # front of it is how requests get smuggled, so refuse.
        return fail(proto, 400, "more than one space before the request-target")
    if at + length < proto.exec_end and (at[length] == 13 or at[length] == 10):
        # The target ended the line: an HTTP/0.9 request ("GET /"). llhttp
        # would wait for header lines the client never sends; refuse now.
        return fail(proto, 505, "HTTP/0.9 request")
    try:
        chunk = PyBytes_FromStringAndSize(at, length)
        proto.url = chunk if proto.url is None else proto.url + chunk
        if PyBytes_GET_SIZE(proto.url) > proto.limits.max_request_line:
            return fail(proto, 414, "request-target too long")
    except BaseException as exc:
        proto.stashed_error = exc
        return llhttp.HPE_USER
    return 0


cdef int cb_header_field(llhttp.llhttp_t* parser, const char* at, size_t length) noexcept:
    cdef HttpProtocol proto = proto_of(parser)
    try:
        proto.header_bytes += length
        if proto.header_bytes > proto.limits.max_header_size:
            return fail(proto, 431, "header section too large")
        if proto.parse_state == S_BODY:
            return 0  # a trailer field: counted, then dropped (see below)
        chunk = lowered_bytes(at, length)
        proto.header_name = chunk if proto.header_name is None else proto.header_name + chunk
    except BaseException as exc:
        proto.stashed_error = exc
        return llhttp.HPE_USER
    return 0


cdef int cb_header_value(llhttp.llhttp_t* parser, const char* at, size_t length) noexcept:
    cdef HttpProtocol proto = proto_of(parser)
    try:
        proto.header_bytes += length
        if proto.header_bytes > proto.limits.max_header_size:
            return fail(proto, 431, "header section too large")
        if proto.parse_state == S_BODY:
            return 0
        chunk = PyBytes_FromStringAndSize(at, length)
        proto.header_value = chunk if proto.header_value is None else proto.header_value + chunk
    except BaseException as exc:
        proto.stashed_error = exc
        return llhttp.HPE_USER
    return 0


cdef int cb_header_value_complete(llhttp.llhttp_t* parser) noexcept:
    cdef HttpProtocol proto = proto_of(parser)
    cdef bytes name
    cdef bytes value
    try:
        if proto.parse_state == S_BODY:
            # A trailer field (after a chunked body). RFC 9110 6.5.1: never
            # merge it into the header section, which the app may not have
            # read yet (WSGI builds its environ at the end of the body); we
            # keep no trailers, so it is dropped.
            proto.trailer_count += 1
            if proto.trailer_count > proto.limits.max_header_count:
                return fail(proto, 431, "too many trailer fields")
            return 0
        name = proto.header_name
        value = proto.header_value if proto.header_value is not None else b""
        proto.header_name = None
        proto.header_value = None
        if len(proto.headers) >= proto.limits.max_header_count:
            return fail(proto, 431, "too many header fields")
        proto.headers.append((name, value))
        # A few fields change how the message is framed or answered.
        # (Names are lowercase: see lowered_bytes.)
        if name == b"host":
            proto.host_count += 1
            proto.host = value
        elif name == b"transfer-encoding":
            # RFC 9112 6.1: we know only "chunked", and it must be the final
            # (here: the only) coding; anything else is 501 (RFC 9110 15.6.2).
            # Field values lose their OWS (SP, HTAB; RFC 9110 5.5), so
            # "chunked " and "\tchunked" are "chunked"; names are
            # case-insensitive (RFC 9112 7). A second field, a list
            # ("chunked, chunked", "identity, chunked") or an empty value is
            # not taken: llhttp refuses chunked before another coding (400,
            # RFC 9112 6.3), we answer 501 for the rest.
            value = value.strip(b" \t")
            if not value:
                return fail(proto, 400, "empty Transfer-Encoding")
            if proto.saw_transfer_encoding:
                proto.transfer_encoding_ok = False
            proto.saw_transfer_encoding = True
            proto.transfer_encoding_ok = value.lower() == b"chunked" and (
                proto.transfer_encoding_ok)
        elif name == b"expect":
            if value.strip().lower() != b"100-continue":
                return fail(proto, 417, "unsupported expectation")
            proto.expect_continue = True
        elif name == b"upgrade":
            proto.upgrade = value
    except BaseException as exc:
        proto.stashed_error = exc
        return llhttp.HPE_USER
    return 0


cdef int cb_headers_complete(llhttp.llhttp_t* parser) noexcept:
    cdef HttpProtocol proto = proto_of(parser)
    cdef HttpRequest req
    cdef bytes url
    cdef bytes target
    cdef bytes host
    cdef tuple absolute
    cdef Py_ssize_t q
    cdef Py_ssize_t i
    cdef const char* mark
    try:
        if parser.http_major != 1:
            return fail(proto, 505, "HTTP version not supported")
        if parser.method == llhttp.HTTP_CONNECT:
            # RFC 9110 9.3.6: CONNECT asks for a tunnel; we are no proxy.
            return fail(proto, 405, "CONNECT is not supported")
        if proto.saw_transfer_encoding:
            if parser.http_minor == 0:
                return fail(proto, 400, "Transfer-Encoding in an HTTP/1.0 request")
            if not proto.transfer_encoding_ok:
                return fail(proto, 501, "unsupported transfer coding")
            if not parser.flags & llhttp.F_CHUNKED:
                # We took the field for "chunked": llhttp must frame it so.
                return fail(proto, 400, "Transfer-Encoding not framed as chunked")
        if parser.http_minor == 1 and proto.host_count != 1:
            return fail(proto, 400, "HTTP/1.1 request without exactly one Host")
        if proto.host_count > 1:
            return fail(proto, 400, "more than one Host")
        host = proto.host if proto.host is not None else b""
        if proto.checked_host is None or host != proto.checked_host:
            if not valid_host(host):
                return fail(proto, 400, "invalid Host")
            proto.checked_host = host  # (a client sends the same Host each time)
        url = proto.url if proto.url is not None else b""
        target = url
        if PyBytes_GET_SIZE(url) == 0 or PyBytes_AS_STRING(url)[0] != 47:  # not "/..."
            if url == b"*":
                # RFC 9112 3.2.4: the asterisk-form is for OPTIONS only.
                if parser.method != HTTP_OPTIONS:
                    return fail(proto, 400, "asterisk-form target without OPTIONS")
            else:
                # RFC 9112 3.2.2: a server MUST accept the absolute-form, and
                # MUST ignore Host for the target's authority (3.2), so the
                # app, its environ/scope and the router all see that one.
                absolute = split_absolute_form(url)
                if absolute is None:
                    return fail(proto, 400, "invalid request-target")
                host, target = absolute
                for i in range(len(proto.headers)):
                    if proto.headers[i][0] == b"host":
                        proto.headers[i] = (proto.headers[i][0], host)
        req = HttpRequest.__new__(HttpRequest)
        req.method = method_name(parser.method)
        req.target = url
        mark = <const char*>memchr(PyBytes_AS_STRING(target), 63, PyBytes_GET_SIZE(target))
        if mark == NULL:  # no "?"
            req.path = target
            req.query = b""
        else:
            q = mark - PyBytes_AS_STRING(target)
            req.path = PyBytes_FromStringAndSize(PyBytes_AS_STRING(target), q)
            req.query = PyBytes_FromStringAndSize(mark + 1, PyBytes_GET_SIZE(target) - q - 1)
        req.headers = proto.headers
        req.host = host
        req.http_minor = parser.http_minor
        req.upgrade = proto.upgrade
        req.peer = proto.peer
        req.secure = proto.secure
        req.script_name = b""
        req.body_limit = -1
        # RFC 9112 9.6: a client that sends "close" (or speaks HTTP/1.0
        # without keep-alive) sends no further request on the connection.
        proto.client_closes = not llhttp.llhttp_should_keep_alive(parser)
        req.keep_alive = not proto.client_closes and not parser.upgrade and not proto.closing
        req.chunked = (parser.flags & llhttp.F_CHUNKED) != 0
        if parser.flags & llhttp.F_CONTENT_LENGTH:
            # Past 2**63 - 1 the value would turn negative in a long long
            # and read as "no length", bypassing the limit below.
            if parser.content_length > MAX_CONTENT_LENGTH:
                return fail(proto, 413, "request body too large")
            req.content_length = parser.content_length
            if 0 <= proto.limits.max_body_size < req.content_length:
                return fail(proto, 413, "request body too large")
        else:
            req.content_length = -1
        req.expect_continue = proto.expect_continue and parser.http_minor == 1
        proto.request = req
        if req.chunked or req.content_length > 0:
            if proto.limits.read_body_timeout > 0:
                proto.set_deadline(D_BODY, proto.limits.read_body_timeout)
            else:
                proto.set_deadline(D_NONE, 0)
            # Pause so the feed loop starts the exchange before body bytes flow.
            proto.parse_state = S_BODY
            return llhttp.HPE_PAUSED
        proto.set_deadline(D_NONE, 0)
        return 0
    except BaseException as exc:
        proto.stashed_error = exc
        return llhttp.HPE_USER


cdef int cb_body(llhttp.llhttp_t* parser, const char* at, size_t length) noexcept:
    cdef HttpProtocol proto = proto_of(parser)
    try:
        proto.body_received += length
        if 0 <= proto.body_limit < proto.body_received:
            return fail(proto, 413, "request body too large")
        if proto.exchange is not None:
            data = proto.pending_data
            if (data is not None and at == PyBytes_AS_STRING(data)
                    and <Py_ssize_t>length == PyBytes_GET_SIZE(data)):
                # The whole read is body: hand over that very object, no copy.
                proto.exchange.on_body(data)
            else:
                proto.exchange.on_body(PyBytes_FromStringAndSize(at, length))
    except BaseException as exc:
        proto.stashed_error = exc
        return llhttp.HPE_USER
    return 0


cdef int cb_message_complete(llhttp.llhttp_t* parser) noexcept:
    cdef HttpProtocol proto = proto_of(parser)
    proto.parse_state = S_DONE
    if proto.deadline_kind == D_BODY:
        proto.set_deadline(D_NONE, 0)  # the body is in: the app's time is not the client's
    return llhttp.HPE_PAUSED


llhttp.llhttp_settings_init(&g_settings)
g_settings.on_message_begin = cb_message_begin
g_settings.on_url = cb_url
g_settings.on_header_field = cb_header_field
g_settings.on_header_value = cb_header_value
g_settings.on_header_value_complete = cb_header_value_complete
g_settings.on_headers_complete = cb_headers_complete
g_settings.on_body = cb_body
g_settings.on_message_complete = cb_message_complete

