"""What file_server says about a file from its name and its stat: the
Content-Type (as Go's mime package gives it, so that the web's types do not
depend on the host's mime.types) and the ETag (as Caddy calculates it)."""

from __future__ import annotations

import mimetypes
import os

# Go's mime.builtinTypesLower: the web's types must not depend on the host.
_BUILTIN_TYPES = {
    ".avif": "image/avif", ".css": "text/css", ".gif": "image/gif", ".htm": "text/html",
    ".html": "text/html", ".jpeg": "image/jpeg", ".jpg": "image/jpeg",
    ".js": "text/javascript", ".json": "application/json", ".mjs": "text/javascript",
    ".pdf": "application/pdf", ".png": "image/png", ".svg": "image/svg+xml",
    ".wasm": "application/wasm", ".webp": "image/webp", ".xml": "text/xml",
}
_types: dict[str, bytes | None] = {}


def content_type(filename: str) -> bytes | None:
    """The Content-Type for ``filename``'s extension, as Go's mime package gives it."""
    ext = os.path.splitext(filename)[1].lower()
    if ext not in _types:
        if not mimetypes.inited:
            mimetypes.init()
        value = _BUILTIN_TYPES.get(ext) or mimetypes.types_map.get(ext)
        if value and value.startswith("text/") and "charset=" not in value:
            value += "; charset=utf-8"
        _types[ext] = value.encode("latin-1") if value else None
    return _types[ext]


def useful_mod_time(st: os.stat_result) -> bool:
    """Caddy's usefulModTime: mtimes of 0 and 1 (build tools, Nix) mean nothing."""
    return st.st_mtime_ns // 1_000_000_000 not in (0, 1)


def _base36(n: int) -> str:
    digits, out, sign = "0123456789abcdefghijklmnopqrstuvwxyz", "", "-" if n < 0 else ""
    n = abs(n)
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if not n:
            return sign + out


def etag_for(st: os.stat_result) -> bytes | None:
    """Caddy's calculateEtag: a strong validator from mtime (ns) and size."""
    if not useful_mod_time(st):
        return None
    return f'"{_base36(st.st_mtime_ns)}-{_base36(st.st_size)}"'.encode()
