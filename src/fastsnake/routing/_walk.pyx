# cython: language_level=3
"""A request's walk through the routes, in C: the part of routing every
routed request pays for (which site, each step's matcher and action, the
response filter), so that a cached file or a fixed app answers without a
Python frame on the way. What is rarer -- a Host not seen before, an error
route, a deferred check, an app chosen per request -- is left to the Python
subclasses in routing.router, through the hooks named below.

The steps the compiler makes most (a fixed python target, ``root`` without
placeholders, ``encode``, a ``handle``/``route`` block) are data here, not
callables: run_steps does their work itself instead of calling a closure.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_GetItemWithError, PyDict_SetItem
from cpython.object cimport PyObject
from libc.string cimport memcpy

from fastsnake._exchange cimport Handler, HttpRequest, ResponseFilter

from urllib.parse import quote, unquote

from fastsnake._respond import plain_text
from fastsnake.request.placeholders import PlaceholderError


cdef extern from "<strings.h>":
    int strncasecmp(const char* a, const char* b, size_t n) nogil

# Accept-Encoding values a Negotiator remembers its choice for (the client
# writes the header: the memo must not grow without end).
NEGOTIATED = 128
# Host values a HostSelect remembers the site of, for the same reason.
HOST_MEMO = 256
cdef Py_ssize_t negotiated_memo = NEGOTIATED
cdef Py_ssize_t host_memo = HOST_MEMO


cdef class Walk:
    """What the routes noted for the response while one request passed them."""

    cdef public object header_ops   # [(op, lname, name, value, pattern)], or None
    cdef public object encode       # the Encoder of an ``encode`` that matched, or None
    cdef public bint skip_log


cdef class Step:
    """A compiled route: its matcher (None: every request) and what it does.
    Exactly one of the actions is set: ``run(request, walk)`` returns a
    handler (or a target with ``select``) to answer, or None to go on;
    ``answer`` is such a target, fixed; ``root`` a fixed root to set;
    ``encoder`` an ``encode`` to note; ``steps`` a block's own steps."""

    cdef public object matches
    cdef public object run
    cdef public str group
    cdef public object answer
    cdef public str root
    cdef public object encoder
    cdef public tuple steps
    cdef public str strip   # with ``steps``: handle_path's prefix, stripped first
    cdef bytes strip_ascii  # the same, when ASCII: cut in C (cut_prefix)

    def __init__(self, matches, run, str group="", *, answer=None, str root=None,
                 encoder=None, steps=None, str strip=None):
        self.matches = matches
        self.run = run
        self.group = group
        self.answer = answer
        self.root = root
        self.encoder = encoder
        self.steps = tuple(steps) if steps is not None else None
        self.strip = strip
        self.strip_ascii = strip.encode("ascii") if strip is not None and strip.isascii() else None


cpdef object run_steps(tuple steps, HttpRequest request, Walk walk):
    """The first answer of ``steps`` for ``request`` (None: none answered).
    Steps of one ``handle`` group are exclusive: once one matched, the
    group's others are skipped."""
    cdef set done = None
    cdef Step step
    cdef object result
    for step in steps:
        if step.group:
            if done is not None and step.group in done:
                continue
        if step.matches is not None:
            if type(step.matches) is PathTest:
                if not (<PathTest>step.matches).test(request):
                    continue
            elif not step.matches(request):
                continue
        if step.group:
            if done is None:
                done = set()
            done.add(step.group)
        if step.answer is not None:
            return step.answer
        if step.root is not None:
            if request.vars is None:
                request.vars = {"root": step.root}
            else:
                request.vars["root"] = step.root
            continue
        if step.encoder is not None:
            walk.encode = step.encoder
            continue
        if step.steps is not None:
            if step.strip is not None:
                if step.strip_ascii is None or not cut_prefix(request, step.strip_ascii, True):
                    strip_path_prefix(request, step.strip, True)
            result = run_steps(step.steps, request, walk)
        else:
            result = step.run(request, walk)
        if result is not None:
            return result
    return None


cdef class PathTest:
    """The ``path`` matcher (request.path_matcher.PathMatcher) for patterns
    that are an exact path, ``prefix*``, ``*suffix`` or ``*middle*``, in C,
    for a path that needs no decoding or cleaning (ASCII, no ``%``, no
    ``/.``, no ``//``): the usual request. Any other path goes to the Python
    matcher, ``fallback``, which gives the same answer the long way.
    Built only for lowercase ASCII patterns without ``//`` (see the
    compiler); the path is compared case-insensitively, as Caddy does."""

    cdef tuple exact, prefixes, suffixes, middles
    cdef object fallback

    def __init__(self, exact, prefixes, suffixes, middles, fallback):
        self.exact = tuple(exact)
        self.prefixes = tuple(prefixes)
        self.suffixes = tuple(suffixes)
        self.middles = tuple(middles)
        self.fallback = fallback

    def __call__(self, request):
        return self.test(request)

    cdef bint test(self, HttpRequest request) except -1:
        cdef bytes raw = request.path
        cdef const char* p = PyBytes_AS_STRING(raw)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(raw)
        cdef Py_ssize_t i, k
        cdef bytes pattern
        cdef const char* q
        if n == 0 or p[0] != b"/":
            return self.fallback(request)
        for i in range(n):
            if (<unsigned char>p[i] >= 128 or p[i] == b"%"
                    or (p[i] == b"/" and i + 1 < n and (p[i + 1] == b"." or p[i + 1] == b"/"))):
                return self.fallback(request)
        for pattern in self.exact:
            k = PyBytes_GET_SIZE(pattern)
            if k == n and strncasecmp(p, PyBytes_AS_STRING(pattern), k) == 0:
                return True
        for pattern in self.prefixes:
            k = PyBytes_GET_SIZE(pattern)
            if k <= n and strncasecmp(p, PyBytes_AS_STRING(pattern), k) == 0:
                return True
        for pattern in self.suffixes:
            k = PyBytes_GET_SIZE(pattern)
            if k <= n and strncasecmp(p + n - k, PyBytes_AS_STRING(pattern), k) == 0:
                return True
        for pattern in self.middles:
            k = PyBytes_GET_SIZE(pattern)
            q = PyBytes_AS_STRING(pattern)
            for i in range(n - k + 1):
                if strncasecmp(p + i, q, k) == 0:
                    return True
        return False


cdef bint cut_prefix(HttpRequest request, bytes prefix, bint mount) except -1:
    """strip_path_prefix's usual case, all in C: the path starts with the
    (ASCII) prefix as sent, in any case. False when it does not."""
    cdef bytes raw = request.path
    cdef const char* p = PyBytes_AS_STRING(raw)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(raw)
    cdef Py_ssize_t k = PyBytes_GET_SIZE(prefix)
    cdef Py_ssize_t kept
    cdef bytes rest, mount_path
    cdef char* out
    if k > n or strncasecmp(p, PyBytes_AS_STRING(prefix), k) != 0:
        return False
    if k < n and p[k] == b"/":
        rest = PyBytes_FromStringAndSize(p + k, n - k)
    else:  # the rest always starts with a slash
        rest = PyBytes_FromStringAndSize(NULL, n - k + 1)
        out = PyBytes_AS_STRING(rest)
        out[0] = b"/"
        memcpy(out + 1, p + k, n - k)
    if mount:
        kept = k
        while kept > 0 and p[kept - 1] == b"/":
            kept -= 1  # the mount point has no trailing slash
        if kept:
            mount_path = PyBytes_FromStringAndSize(
                NULL, PyBytes_GET_SIZE(request.script_name) + kept)
            out = PyBytes_AS_STRING(mount_path)
            memcpy(out, PyBytes_AS_STRING(request.script_name),
                   PyBytes_GET_SIZE(request.script_name))
            memcpy(out + PyBytes_GET_SIZE(request.script_name), p, kept)
            request.script_name = mount_path
    request.path = rest
    return True


cpdef strip_path_prefix(HttpRequest request, str prefix, bint mount):
    """Remove ``prefix`` from the path (case-insensitively, as Caddy); with
    ``mount`` it moves to script_name (SCRIPT_NAME / root_path). A path
    that starts with the prefix as sent is cut in C; one that matches only
    once decoded is re-encoded after the cut."""
    if prefix.isascii() and cut_prefix(request, prefix.encode("ascii"), mount):
        return
    cdef Py_ssize_t k = len(prefix)
    cdef bytes rest, stripped
    text = request.path.decode("latin-1")
    if text.lower().startswith(prefix.lower()):
        rest = text[k:].encode("latin-1")
        stripped = text[:k].encode("latin-1")
    else:
        decoded = unquote(text, "latin-1")
        if not decoded.lower().startswith(prefix.lower()):
            return
        stripped = prefix.encode("latin-1")
        rest = quote(decoded[k:], safe="/:@!$&'()*+,;=~", encoding="latin-1").encode("latin-1")
    if not rest.startswith(b"/"):
        rest = b"/" + rest
    request.path = rest
    if mount:
        request.script_name += stripped.rstrip(b"/")


cdef class Negotiator:
    """``encode``'s choice of format per Accept-Encoding value, remembered
    (clients send a handful of distinct values). The subclass
    (routing.compiler.Encoder) parses a value it has not seen: ``choose``."""

    cdef public tuple formats
    cdef public dict chosen

    def __cinit__(self, *args, **kwargs):
        self.formats = ()
        self.chosen = {}

    cpdef object negotiate(self, HttpRequest request):
        """The best format the client accepts (its q-values first, then ours)."""
        cdef object value = None
        cdef int count = 0
        cdef bytes name
        cdef PyObject *known
        for name, header_value in request.headers:  # names lowercased by the parser
            if PyBytes_GET_SIZE(name) == 15 and name == b"accept-encoding":
                value = header_value
                count += 1
        if count == 0:
            return None  # no Accept-Encoding: the response goes as it is
        if count != 1:
            return self.choose(
                [v for n, v in request.headers if n == b"accept-encoding"])
        known = PyDict_GetItemWithError(self.chosen, value)
        if known is not NULL:
            return <object>known
        best = self.choose([value])
        if len(self.chosen) < negotiated_memo:
            PyDict_SetItem(self.chosen, value, best)
        return best

    def choose(self, values):
        raise NotImplementedError


cdef class SiteSelect:
    """One site's walk: its steps in C. The subclass (routing.router.SiteRoutes)
    answers ``settle(request, walk, target, restore)`` for a target that is
    not a handler (an error, a deferred check, an app chosen per request)
    and ``snapshot(request)`` where a route may defer."""

    cdef public tuple steps
    cdef public bint defers
    cdef public object log   # the access log's callable, or None

    def __cinit__(self, *args, **kwargs):
        self.steps = ()

    cpdef object select(self, HttpRequest request):
        cdef Walk walk = Walk.__new__(Walk)
        cdef object restore = self.snapshot(request) if self.defers else None
        cdef object target
        try:
            target = run_steps(self.steps, request, walk)
        except PlaceholderError as exc:
            # A request value that may not go where a placeholder puts it.
            return plain_text(400, str(exc))
        if target is not None and not isinstance(target, Handler):
            return self.settle(request, walk, target, restore)
        self.set_filter(request, walk)
        return target

    cpdef set_filter(self, HttpRequest request, Walk walk):
        """The response work the walk noted, as the request's ResponseFilter
        (none at all when there is none: nothing allocated)."""
        cdef object logger = None if walk.skip_log else self.log
        cdef object encoder = walk.encode
        cdef object encoding = None
        if encoder is not None:
            encoding = (<Negotiator>encoder).negotiate(request)
        if logger is None and not walk.header_ops and encoding is None:
            return
        if encoding is None:
            request.response_filter = ResponseFilter(walk.header_ops, None, None, 0, logger, 0)
        else:
            request.response_filter = ResponseFilter(
                walk.header_ops, encoding, encoder.compressible, encoder.minimum_length,
                logger, encoder.level)

    def snapshot(self, request):
        raise NotImplementedError

    def settle(self, request, walk, target, restore):
        raise NotImplementedError


cdef class HostSelect:
    """A listener's choice of site by Host, then the site's walk. The usual
    request finds its site in ``by_host`` (by the Host header's raw bytes,
    as sent, so it skips decoding and lowercasing it) or, on a listener with
    one site that names no host, in ``only_site``; the subclass
    (routing.router.Router) answers ``site_for_host(host)`` for a Host not
    seen before and ``name_client(request)`` behind trusted proxies."""

    cdef public object client_ip   # a ClientIPResolver, or None
    cdef public object only_site
    cdef public dict by_host

    def __cinit__(self, *args, **kwargs):
        self.by_host = {}

    cpdef object select(self, HttpRequest request):
        cdef object site
        cdef PyObject *known
        if self.client_ip is not None:
            self.name_client(request)
        site = self.only_site
        if site is None:
            known = PyDict_GetItemWithError(self.by_host, request.host)
            if known is not NULL:
                site = <object>known
            else:
                site = self.site_for_host(request.host)
                # Clients choose the Host: past HOST_MEMO names the memo
                # stops growing and the rest are looked up the long way.
                if len(self.by_host) < host_memo:
                    self.by_host[request.host] = site
        if site is None:
            return None
        return (<SiteSelect?>site).select(request)

    def name_client(self, request):
        raise NotImplementedError

    def site_for_host(self, host):
        raise NotImplementedError
