# The WSGI environ (PEP 3333), included by _wsgi.pyx: what every request to
# an app starts from (base_environ), what one connection's requests share
# (EnvironTemplate, in the channel's memo), and the per-name work on header
# names, cached. WsgiExchange.build_environ copies the connection's template
# and sets what is the request's own.


cdef dict base_environ(int server_port, bint multithread, bint multiprocess, str url_scheme,
                       str server_software):
    """What every environ of one app starts from (PEP 3333's keys that do not
    change per request)."""
    return {
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": url_scheme,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": multithread,
        "wsgi.multiprocess": multiprocess,
        "wsgi.run_once": False,
        "wsgi.file_wrapper": FileWrapper,
        # No "wsgi.input_terminated": the body is whole before the app
        # runs and CONTENT_LENGTH always says its length (chunked ones
        # too), so frameworks read it by length; with the flag Werkzeug
        # calls read() without a size, which wsgiref's validator (and
        # so any validator-wrapped app, as caddy-snake's Flask example)
        # refuses.
        "SCRIPT_NAME": "",
        "SERVER_PORT": str(server_port),
        "SERVER_SOFTWARE": server_software,
        # Set for every request (build_environ): present here so that the
        # copy each request starts from already has their slots, and
        # filling them in replaces values instead of growing the dict.
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "",
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_NAME": "",
        "REMOTE_ADDR": "",
        "REMOTE_PORT": "",
        "wsgi.input": None,
    }


cdef dict g_header_keys = {}
cdef dict g_methods = {}


cdef object environ_key(bytes name):
    """The environ key for a header name, or None when it must be dropped."""
    cdef PyObject* cached = PyDict_GetItemWithError(g_header_keys, name)
    if cached != NULL:
        return <object>cached
    text = name.decode("latin-1")
    if "_" in text:
        # Underscores would alias dashes (Foo_Bar vs Foo-Bar): drop them,
        # as nginx and Caddy do, so a client cannot spoof a proxy header.
        key = None
    else:
        key = text.upper().replace("-", "_")
        if key != "CONTENT_TYPE" and key != "CONTENT_LENGTH":
            key = "HTTP_" + key
    if len(g_header_keys) < CACHE_LIMIT:
        g_header_keys[name] = key
    return key


cdef str method_str(bytes method):
    cdef PyObject* cached = PyDict_GetItemWithError(g_methods, method)
    if cached != NULL:
        return <str>cached
    text = method.decode("latin-1")
    if len(g_methods) < CACHE_LIMIT:
        g_methods[method] = text
    return text


cdef forwarded(dict environ, dict variables):
    client = variables.get("client_ip")
    if client and client != environ["REMOTE_ADDR"]:
        environ["REMOTE_ADDR"] = client
        environ["REMOTE_PORT"] = "0"  # the client's port is not known behind a proxy
    scheme = variables.get("forwarded_proto")
    if scheme:
        environ["wsgi.url_scheme"] = scheme


cdef class EnvironTemplate:
    # What the environs of one connection's requests to one app share: the
    # handler's base environ with the peer, server name, protocol and Host
    # filled in. Kept in the channel's memo; each request copies it (one
    # dict copy) and sets only what is its own.
    cdef WsgiHandler handler
    cdef bytes host                  # the request's host it was made for
    cdef int http_minor
    cdef bint secure
    cdef bytes host_header           # the Host field's value in HTTP_HOST, or None
    cdef dict environ
    # The last request's exchange, for the next to reuse (see reused_exchange).
    cdef object spare


cdef EnvironTemplate connection_environ(WsgiHandler handler, Channel channel, HttpRequest req):
    """The channel's environ template for this app, made anew when the
    last one was for another app, Host or protocol version."""
    cdef EnvironTemplate template
    memo = channel.memo
    if type(memo) is EnvironTemplate:
        template = <EnvironTemplate>memo
        if (template.handler is handler and template.http_minor == req.http_minor
                and template.secure == req.secure
                and (template.host is req.host or template.host == req.host)):
            return template
    template = EnvironTemplate.__new__(EnvironTemplate)
    template.handler = handler
    template.host = req.host
    template.http_minor = req.http_minor
    template.secure = req.secure
    environ = dict(handler.base_environ)
    environ["wsgi.input"] = EMPTY_INPUT
    if req.secure:
        environ["wsgi.url_scheme"] = "https"
    environ["SERVER_PROTOCOL"] = "HTTP/1.1" if req.http_minor == 1 else "HTTP/1.0"
    peer = channel.peer
    if peer:
        environ["REMOTE_ADDR"] = peer[0]
        environ["REMOTE_PORT"] = channel.peer_port_text()
    else:
        del environ["REMOTE_PORT"]  # (REMOTE_ADDR stays "")
    host = req.host
    if host:
        environ["SERVER_NAME"] = channel.host_name(host)
    else:
        sockname = channel.sockname
        # (a Unix socket's name is its path, no host)
        environ["SERVER_NAME"] = sockname[0] if type(sockname) is tuple else ""
    for field, value in req.headers:
        if field == b"host":
            template.host_header = value
            environ["HTTP_HOST"] = value.decode("latin-1")
            break
    template.environ = environ
    channel.memo = template
    return template
