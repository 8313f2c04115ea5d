"""Static files: what Caddy's ``file_server`` answers, decided without socket I/O.

:meth:`FileServer.respond` turns a request into a :class:`FileResponse`:
status, complete headers, and either a small generated body (listings,
errors) or a slice of a file that the caller sends with sendfile. Files are
stat'ed, never read, so a request costs a few system calls.

Theory of operation, in Caddy's order (``modules/caddyhttp/fileserver``):

1. Percent-decode the path (bad escape or NUL: 400) and clean it as Go's
   ``path.Clean`` does: ``..`` never climbs above ``/``; ``%2f`` is a
   separator before cleaning; ``%252e`` stays the literal name ``%2e``.
2. ``hide`` (which holds the Caddyfile) makes paths not exist.
3. Walk below the root with one ``lstat`` per component. Caddy follows
   symlinks anywhere ("a site root is not a sandbox"); fastsnake follows only
   those resolving inside the root and treats the rest as missing, so nothing
   outside the root is served. The resolved path must not be hidden either.
4. A directory serves its first index file, else a listing (``browse``,
   :mod:`fastsnake.files.browse`), else 404. Canonical URIs: 308 (Caddy's
   ``redirect()``; keeps the method) to add a directory's slash or drop a
   file's, query kept, to the path the client sent; none when a rewrite
   changed the last element (Caddy #4205).
5. Only GET and HEAD (else 405 with Allow, Caddy #5166).
6. Precompressed sidecars (``.br``, ``.zst``, ``.gz``) by Accept-Encoding
   q-value, then configured order; sent with the original's content type and
   Last-Modified, and the sidecar's own ETag and length (Caddy does so).
7. RFC 9110 §13.2.2 in Go's ``checkPreconditions`` order: If-Match, else
   If-Unmodified-Since -> 412; If-None-Match (weak), else If-Modified-Since
   -> 304; then Range, gated by If-Range.

Choices, with their grounds:
- ETag is Caddy's ``calculateEtag``, ``"<mtime unix ns, base 36>-<size,
  base 36>"``; mtimes 0 and 1 give neither ETag nor Last-Modified (Caddy
  #5548). A 304 drops Last-Modified when it has an ETag (Go's
  ``writeNotModified``; §15.4.5).
- Range: one ``bytes`` range -> 206; ranges that overlap or touch are
  coalesced (§14.2); still several -> the Range is ignored and the whole
  file sent with 200 (a server MAY ignore Range; one sendfile slice cannot
  carry multipart/byteranges). Malformed or unsatisfiable -> 416 with
  ``bytes */size``. Unknown units are ignored (§14.2 MUST; Go answers 416).
  Range is ignored for HEAD (§14.2: defined for GET only) and empty files.
- ``status`` replaces a served file's 200; a non-2xx one also drops
  preconditions and Range (§13.2.1: they apply to 2xx responses only).
- Content-Type by extension only: Go's builtin web types, then mime.types,
  ``text/*`` with ``; charset=utf-8`` as Go adds; unknown -> none (Caddy
  sends none rather than let clients sniff).
- Error bodies are empty, like Caddy's default: ENOENT/ENOTDIR -> 404,
  EACCES/EPERM -> 403, ELOOP/ENAMETOOLONG -> 400; a FIFO or device is missing.

The file may change between this stat and the caller's open: a short read
must end the connection, never pad the body.

Caching (:meth:`FileServer.cached`): a plain GET or HEAD (no conditional,
no Range) that was answered with a file is remembered with every lstat its
decision rested on (``trail``, see ``FileChecks`` in ``_respond.pyx``); the
next such request redoes only those lstat calls, in C, and gets the same
handler when all answer as before, its head checked and serialised once
(``PreparedHead``). Files under ``SENDFILE_MIN`` are kept in memory and go
out in the same write as their head; up to ``SMALL_FILE_MAX`` they are kept
open (a bounded number, ``FileCache.max_files``; past it, in memory) and
sent with sendfile; larger ones are opened and sent with sendfile per
request. An entry that no longer holds is dropped; a file it kept open is
closed once no send uses it.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

from fastsnake._exchange import PreparedHead, reason_phrase
from fastsnake._respond import (
    NOT_CACHED,
    CachedFileHandler,
    FileCache,
    FileChecks,
    FileHandler,
    OpenFile,
    RespondHandler,
    original_tail,
)
from fastsnake.config.files import PRECOMPRESSORS, FileServerSpec
from fastsnake.files.browse import DIR_ENTRY_LIMIT, list_entries, render_listing
from fastsnake.files.conditional import GET_HEAD, http_date, if_range, parse_range, preconditions
from fastsnake.files.metadata import content_type, etag_for, useful_mod_time
from fastsnake.files.paths import SAFE_URL, Hide, hidden, relative
from fastsnake.files.paths import SEP as SEP  # re-exported: it was defined here
from fastsnake.files.resolve import (
    NO_CACHE,
    WINDOWS,
    BadPath,
    OutsideRoot,
    Trail,
    clean_path,
    decode_path,
    walk,
)
from fastsnake.request.placeholders import PlaceholderError, Template, has_placeholders

__all__ = ["FileResponse", "FileServer", "clean_path", "content_type", "etag_for",
           "root_value_safe"]

ALLOW = (b"allow", b"GET, HEAD")
VARY_FILE = (b"vary", b"Accept-Encoding")
VARY_LISTING = (b"vary", b"Accept, Accept-Encoding")

_NO_REQUEST = SimpleNamespace(host=b"", target=b"", path=b"", query=b"", method=b"",
                              headers=[])
Headers = list[tuple[bytes, bytes]]
# From this size a cached file is kept open and sent with sendfile rather than
# held in memory: on loopback, writing 64 KiB from memory cost the sender more
# kernel time than sendfile's page references (16-48 KiB: no difference,
# and the small ones go out in one write with their head).
SENDFILE_MIN = 64 * 1024
# Up to this size a cached file is kept open (or, when the cache may keep no
# more open, its body in memory); a larger one is opened per request, so
# that a deleted big file never stays allocated on disk because the cache
# holds it (kept-open files hold at most max_files x SMALL_FILE_MAX).
SMALL_FILE_MAX = 1024 * 1024


@dataclass
class FileResponse:
    """Send ``headers``, then ``body`` or ``length`` bytes of ``path`` from
    ``offset``. Headers are complete: content-length is there whenever the
    response has content, also for HEAD (body empty, path None); not on 304."""

    status: int
    headers: Headers = field(default_factory=list)
    body: bytes = b""
    path: str | None = None
    offset: int = 0
    length: int = 0


# -- the path ---------------------------------------------------------------------


def _base(path: str) -> str:
    """Go's path.Base, but "" for the empty path."""
    stripped = path.rstrip("/")
    return stripped.rpartition("/")[2] if stripped else ("/" if path else "")


def _no_handler(request: Any) -> None:
    return None


def hidden_inodes(patterns: tuple[str, ...] | list[str]) -> frozenset[tuple[int, int]]:
    """(device, inode) of each hide pattern that names one existing file."""
    found = set()
    for pattern in patterns:
        if has_placeholders(pattern) or not os.path.isabs(pattern):
            continue
        if re.search(r"(?<!\\)[*?\[]", pattern):
            continue  # a glob: matched by name only
        try:
            st = os.stat(re.sub(r"\\(.)", r"\1", pattern))
        except (OSError, ValueError):
            continue
        if stat.S_ISREG(st.st_mode):
            found.add((st.st_dev, st.st_ino))
    return frozenset(found)


def root_value_safe(value: str) -> str:
    """A value placed into a root may add levels but never climb, and may not be
    empty (``/srv/{host}`` without a Host must not serve all of ``/srv``)."""
    if value in ("", ".") or "\0" in value or ".." in value.replace("\\", "/").split("/"):
        raise PlaceholderError(f"unsafe value {value!r} for a root placeholder")
    return value


def _memory_handler(response: FileResponse, headers: Headers) -> RespondHandler | None:
    """A cached answer with the file's bytes in memory; None if it changed."""
    assert response.path is not None
    try:
        fd = os.open(response.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except OSError:
        return None
    try:
        body = os.read(fd, response.length + 1)
        after = os.fstat(fd)
    finally:
        os.close(fd)
    if len(body) != response.length or after.st_size != response.length:
        return None  # changed while read
    return RespondHandler(response.status, body, headers)


def _open_file_handler(response: FileResponse, headers: Headers) -> CachedFileHandler | None:
    """A cached answer that keeps the file open; None if it changed."""
    assert response.path is not None
    try:
        prepared = PreparedHead(b"%d %s" % (response.status, reason_phrase(response.status)),
                                headers)
        fd = os.open(response.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except (OSError, ValueError):
        return None
    file = OpenFile(fd)  # closes it when the last holder lets go
    try:
        if os.fstat(fd).st_size != response.length:
            return None  # changed since the walk
    except OSError:
        return None
    return CachedFileHandler(prepared, file, response.length)


# -- the server -------------------------------------------------------------------


class FileServer:
    """Serves one FileServerSpec; one per ``file_server`` handler, shared by requests."""

    def __init__(self, spec: FileServerSpec, cache: bool = True) -> None:
        self.spec = spec
        self.root_template = (Template(spec.root)
                              if spec.root is not None and has_placeholders(spec.root) else None)
        self.static_hide = [Hide(p) for p in spec.hide if not has_placeholders(p)]
        # The files ``hide`` names exactly (the Caddyfile among them), by
        # inode: hidden however a request reaches them (a root that is a
        # symlink to their folder, a hard link), at one set lookup a request.
        self.hidden_files = hidden_inodes(spec.hide)
        self.dynamic_hide = [Template(p) for p in spec.hide if has_placeholders(p)]
        self.index: list[Template | list[str]] = [
            Template(name) if has_placeholders(name) else clean_path(name, windows=False)
            for name in spec.index]
        # Placeholders make the answer depend on more than the cache's key.
        self.cache: FileCache | None = FileCache(by_encoding=bool(spec.precompressed)) if (
            cache and not WINDOWS and self.root_template is None and not self.dynamic_hide
            and all(isinstance(entry, list) for entry in self.index)) else None
        # cached(request): the handler of a cached answer to an HttpRequest
        # that the disk still bears out, or None (then call respond). The
        # cache's own C method when there is one: a request that hits runs no
        # Python code here.
        self.cached: Callable[[Any], Any] = (
            self.cache.lookup if self.cache is not None else _no_handler)

    def _cache_key(self, method: bytes, path: bytes, headers: Headers, root: str | None,
                   original_path: bytes | None) -> tuple[Any, ...] | None:
        """The key :meth:`cached` would look ``respond``'s answer up by, or None."""
        if self.cache is None or method != b"GET":
            return None
        tail = None
        if original_path is not None and original_path.partition(b"?")[0] != path:
            tail = original_tail(original_path)  # rewritten (see original_tail)
            if tail is None:
                return None
        encoding = None
        for name, value in headers:
            name = name.lower()
            if name in NOT_CACHED or (name == b"accept-encoding" and encoding is not None):
                return None
            if name == b"accept-encoding":
                encoding = value
        return (root, path, encoding if self.spec.precompressed else None, tail)

    def _remember(self, key: tuple[Any, ...], trail: Trail, response: FileResponse) -> None:
        """Cache a served file's answer: the body in memory when it is small,
        the file kept open when it is middling, else the path to open."""
        if NO_CACHE in trail or response.path is None or response.offset:
            return
        cache: FileCache = self.cache  # type: ignore[assignment]
        checks = FileChecks(trail)
        size = response.length
        # Without its Content-Length (the body's own length, which the
        # connection writes), the head is checked and serialised once.
        headers = [(name, value) for name, value in response.headers
                   if name != b"content-length"]
        open_file = SENDFILE_MIN <= size <= SMALL_FILE_MAX and cache.has_file_room()
        handler: Any
        if open_file:
            handler = _open_file_handler(response, headers)
        elif size <= SMALL_FILE_MAX:
            handler = _memory_handler(response, headers)
        else:
            handler = FileHandler(response.status, response.headers, response.path, 0, size)
        if handler is None:
            return
        if checks.holds():  # nothing changed since the walk (or the read)
            cache.put(key, checks, handler, size if isinstance(handler, RespondHandler) else 0,
                      open_file)

    def respond(self, method: bytes, path: bytes, headers: Headers, root: str | None, *,
                query: bytes = b"", original_path: bytes | None = None,
                request: Any = None) -> FileResponse | None:
        """Answer one request; None only when ``pass_thru`` is set and the file is missing.

        ``path`` is the raw path after rewrites (a ``?query`` on it is split
        off); ``original_path`` the raw path the client sent, where canonical
        redirects point (default ``path``); ``query`` is kept on redirects.
        ``request`` renders placeholders in the spec's root, hide and index
        (the object :meth:`Template.render` takes; None renders them empty).
        """
        if b"?" in path:
            path, _, query = path.partition(b"?")
        key = self._cache_key(method, path, headers, root, original_path)
        trail: Trail | None = [] if key is not None else None
        response = self._respond(method, path, headers, root, query, original_path, request,
                                 trail)
        if key is not None and trail is not None and response is not None:
            self._remember(key, trail, response)
        return response

    def _respond(self, method: bytes, path: bytes, headers: Headers, root: str | None,
                 query: bytes, original_path: bytes | None, request: Any,
                 trail: Trail | None) -> FileResponse | None:
        try:
            decoded = decode_path(path)
            parts = clean_path(decoded)
            original = (decoded if original_path is None
                        else decode_path(original_path.partition(b"?")[0]))
            request = _NO_REQUEST if request is None else request
            root_dir = self._root(root, request)
        except (BadPath, PlaceholderError):
            return _empty(400)
        hide = self._hide(request)
        filename = os.path.join(root_dir, *parts)
        if hidden(hide, filename, parts):
            return self._not_found()
        try:
            real, st, linked = walk(root_dir, root_dir, parts, trail)
        except OutsideRoot:
            return self._not_found()
        except OSError as exc:
            return self._os_error(exc)
        if linked and hidden(hide, real, relative(real, root_dir)):
            return self._not_found()
        if (st.st_dev, st.st_ino) in self.hidden_files:
            return self._not_found()
        same_base = decoded == "" or _base(decoded) == _base(original)
        is_dir = stat.S_ISDIR(st.st_mode)
        if is_dir:
            found = self._index_file(request, hide, root_dir, real, filename, parts, trail)
            if found is None:
                if not self.spec.browse:
                    return self._not_found()
                if same_base and not original.endswith("/"):
                    return _redirect(original, True, query)  # relative links need it
                if method not in GET_HEAD:
                    return _empty(405, [ALLOW])
                return self._listing(method, real, st, filename, parts, root_dir, original,
                                     _headers(headers), hide)
            real, st, filename = found
        elif not stat.S_ISREG(st.st_mode):
            return self._not_found()
        if not self.spec.disable_canonical_uris and same_base:
            if is_dir and not original.endswith("/"):
                return _redirect(original, True, query)
            if not is_dir and original.endswith("/") and _base(original) != "/":
                return _redirect(original, False, query)
        if method not in GET_HEAD:
            return _empty(405, [ALLOW])
        return self._serve(method, real, st, filename, root_dir, _headers(headers), trail)

    def _root(self, root: str | None, request: Any) -> str:
        if self.root_template is not None:
            text = self.root_template.render(request, root_value_safe)
        else:
            text = self.spec.root or root or "."
        if "\0" in text:
            raise BadPath("NUL in root")
        return os.path.abspath(text)

    def _hide(self, request: Any) -> list[Hide]:
        hide = self.static_hide
        for template in self.dynamic_hide:
            try:
                hide = [*hide, Hide(template.render(request))]
            except ValueError:
                pass  # a malformed glob matches nothing, as in Go
        return hide

    def _not_found(self) -> FileResponse | None:
        return None if self.spec.pass_thru else _empty(404)

    def _os_error(self, exc: OSError) -> FileResponse | None:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return self._not_found()
        if exc.errno in (errno.EACCES, errno.EPERM):
            return _empty(403)
        return _empty(400 if exc.errno in (errno.ELOOP, errno.ENAMETOOLONG, errno.EINVAL)
                      else 500)

    def _index_file(self, request: Any, hide: list[Hide], root_dir: str, real: str,
                    filename: str, parts: list[str], trail: Trail | None = None
                    ) -> tuple[str, os.stat_result, str] | None:
        """The first index file that exists, is regular, and is not hidden:
        (path to open, its stat, the name it was asked by)."""
        for entry in self.index:
            names = entry if isinstance(entry, list) else clean_path(
                entry.render(request), windows=False)
            lexical = os.path.join(filename, *names)
            if not names or hidden(hide, lexical, parts + names):
                continue
            try:
                path, st, linked = walk(root_dir, real, names, trail)
            except (OSError, OutsideRoot):
                continue
            if stat.S_ISREG(st.st_mode) and not (
                    linked and hidden(hide, path, relative(path, root_dir))):
                return path, st, lexical
        return None

    def _serve(self, method: bytes, real: str, st: os.stat_result, filename: str,
               root_dir: str, req: dict[bytes, str], trail: Trail | None = None
               ) -> FileResponse:
        """Send ``real``; ``filename``, the name asked for, gives the content
        type (a symlink's target may have another extension)."""
        send_path, send_st, encoding = real, st, None
        if self.spec.precompressed and real != root_dir and b"accept-encoding" in req:
            for name in _accepted_encodings(req[b"accept-encoding"], self.spec.precompressed,
                                            b"sec-websocket-key" in req):
                if name not in self.spec.precompressed:
                    continue
                sidecar = os.path.basename(real) + PRECOMPRESSORS[name]
                try:
                    path, cst, _ = walk(root_dir, os.path.dirname(real), [sidecar], trail)
                except (OSError, OutsideRoot):
                    continue
                if stat.S_ISREG(cst.st_mode):
                    send_path, send_st, encoding = path, cst, name
                    break
        etag = etag_for(send_st)
        modtime = st.st_mtime_ns // 1_000_000_000 if useful_mod_time(st) else None
        head: Headers = []
        if modtime is not None:
            head.append((b"last-modified", formatdate(modtime, usegmt=True).encode()))
        if etag is not None:
            head.append((b"etag", etag))
        head.append(VARY_FILE)
        size = send_st.st_size
        status = self.spec.status or 200
        offset, length = 0, size
        if 200 <= status < 300:
            outcome = preconditions(method, req, etag, modtime)
            if outcome == 412:
                return _empty(412, head)
            if outcome == 304:
                return FileResponse(304, head[1:] if etag and modtime is not None else head)
            if method == b"GET" and b"range" in req and size and if_range(
                    req.get(b"if-range"), etag, modtime):
                chosen = parse_range(req[b"range"], size)
                if chosen == "unsatisfiable":
                    return _empty(416, [(b"content-range", b"bytes */%d" % size)])
                if isinstance(chosen, tuple):
                    status, (offset, length) = 206, chosen
        ctype = content_type(filename)
        if ctype is not None:
            head.insert(0, (b"content-type", ctype))
        if encoding is not None:
            head.append((b"content-encoding", encoding.encode()))
        head.append((b"accept-ranges", b"bytes"))
        if status == 206:
            head.append((b"content-range", b"bytes %d-%d/%d" % (offset, offset + length - 1,
                                                                size)))
        head.append((b"content-length", b"%d" % length))
        if method == b"HEAD":
            return FileResponse(status, head)
        return FileResponse(status, head, path=send_path, offset=offset, length=length)

    def _listing(self, method: bytes, real: str, st: os.stat_result, filename: str,
                 parts: list[str], root_dir: str, original: str, req: dict[bytes, str],
                 hide: list[Hide]) -> FileResponse | None:
        """Caddy's browse (rendered by :mod:`fastsnake.files.browse`): HTML, or
        JSON items for ``Accept: application/json``."""
        try:
            items, latest = list_entries(real, st, filename, parts, root_dir, hide,
                                         self.hidden_files,
                                         self.spec.browse_file_limit or DIR_ENTRY_LIMIT)
        except OSError as exc:
            return self._os_error(exc)
        since = http_date(req.get(b"if-modified-since"))
        if since is not None and latest <= since:
            return FileResponse(304, [VARY_LISTING])
        ctype, body = render_listing(items, self.spec.browse_sort, req.get(b"accept", ""),
                                     clean_path(original, windows=False), bool(parts))
        head = [(b"content-type", ctype),
                (b"last-modified", formatdate(latest, usegmt=True).encode()), VARY_LISTING,
                (b"content-length", b"%d" % len(body))]
        return FileResponse(200, head, body=b"" if method == b"HEAD" else body)



# -- HTTP ---------------------------------------------------------------------------


def _empty(status: int, headers: Headers | None = None) -> FileResponse:
    return FileResponse(status, [*(headers or ()), (b"content-length", b"0")])


def _redirect(original: str, slash: bool, query: bytes) -> FileResponse:
    """308 to the client's own path with the slash added or removed. The target
    is rebuilt from the cleaned path and re-encoded, so it never starts with
    ``//`` nor holds a backslash (no open redirect) or a raw control byte."""
    path = "/" + "/".join(clean_path(original, windows=False))
    if slash:
        path = path.rstrip("/") + "/"
    target = quote(os.fsencode(path), safe=SAFE_URL).encode("ascii")
    if query:
        target += b"?" + re.sub(rb"[^\x21-\x7e]", lambda m: b"%%%02X" % m[0][0], query)
    return FileResponse(308, [(b"location", target), (b"content-length", b"0")])


def _headers(headers: Headers) -> dict[bytes, str]:
    """Request headers by lower-case name; repeated list headers joined (§5.3)."""
    out: dict[bytes, str] = {}
    for name, value in headers:
        key, text = name.lower(), value.decode("latin-1").strip()
        if key not in out:
            out[key] = text
        elif key not in (b"range", b"if-range", b"if-modified-since", b"if-unmodified-since"):
            out[key] += ", " + text  # singletons keep the first, as Go's Header.Get
    return out


def _accepted_encodings(value: str, order: tuple[str, ...], websocket: bool) -> list[str]:
    """Caddy's AcceptedEncodings: by q-value, then the server's order; q=0 refused."""
    prefs: list[tuple[float, int, int, str]] = []
    for i, item in enumerate(value.split(",")):
        name, _, params = item.partition(";")
        name, param, q = name.strip().lower(), params.partition(";")[0].strip(), 1.0
        if param[:2].lower() == "q=":
            try:
                q = float(param[2:]) if 0 <= float(param[2:]) <= 1 else 1.0
            except ValueError:
                pass
        if q >= 0.00001 and not (websocket and name != "identity"):
            prefer = len(order) - order.index(name) if name in order else -1
            prefs.append((-round(q, 5), -prefer, i, name))
    return [name for *_, name in sorted(prefs)]
