"""Helpers shared by the file_server tests (test_files.py, test_config_files.py).

Files with a known mtime, so ETag and Last-Modified are exact; the site tree
the serving tests walk (:func:`make_site`); and requests into a
:class:`FileServer`, FileResponses out.
"""

from __future__ import annotations

import gzip
import os
import sys
from email.utils import formatdate
from pathlib import Path
from typing import Any

from fastsnake.config.files import FileServerSpec
from fastsnake.files.server import FileResponse, FileServer

MTIME_NS = 1_700_000_000_123_456_789  # 2023-11-14T22:13:20.123456789Z
MTIME = MTIME_NS // 1_000_000_000
LAST_MODIFIED = formatdate(MTIME, usegmt=True).encode()
HELLO = b"hello, world\n"  # 13 bytes


def base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out or "0"


ETAG = f'"{base36(MTIME_NS)}-{base36(len(HELLO))}"'  # Caddy's calculateEtag


def write(path: Path, data: bytes = b"x", mtime_ns: int = MTIME_NS) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def make_site(tmp_path: Path) -> Path:
    """root/ with files, an indexed dir, an unindexed dir, hidden things and
    symlinks in and out; outside/ beside it holds what must never be served."""
    root = tmp_path / "root"
    write(tmp_path / "outside" / "passwd", b"root:x:0:0\n")
    write(tmp_path / "outside" / "index.html", b"outside index")
    write(tmp_path / "root-evil" / "x.txt", b"sibling with a common prefix")
    write(root / "hello.txt", HELLO)
    write(root / "style.css", b"body{}")
    write(root / "blob.unknownext", b"??")
    write(root / "empty.txt", b"")
    write(root / "a b.txt", b"space")
    write(root / "dir" / "index.html", b"<p>dir</p>")
    write(root / "dir" / "sub" / "a.txt", b"a")
    write(root / "list" / "b.txt", b"bb", MTIME_NS + 10**9)
    write(root / "list" / "A.txt", b"a")
    write(root / "list" / "<script>.txt", b"xss")
    write(root / "list" / "zdir" / "f", b"f")
    write(root / "list" / ".secret", b"s")
    write(root / ".git" / "config", b"[core]")
    write(root / "secret.key", b"key")
    write(root / "page.html", b"<html>" * 100)
    write(root / "page.html.gz", gzip.compress(b"<html>" * 100))
    write(root / "page.html.br", b"brotli-bytes")
    write(root / "zst.txt", b"plain")
    write(root / "zst.txt.zst", b"zstd-bytes")
    if sys.platform != "win32":
        os.symlink(tmp_path / "outside" / "passwd", root / "link_out")
        os.symlink(tmp_path / "outside", root / "dirlink_out")
        os.symlink("../root-evil", root / "prefix_out")
        os.symlink("hello.txt", root / "link_in")
        os.symlink("dir", root / "dirlink_in")
        os.symlink("loop", root / "loop")
        os.symlink(tmp_path / "outside" / "passwd", root / "list" / "zlink_out")
        os.utime(root / "list" / "zlink_out", ns=(MTIME_NS, MTIME_NS), follow_symlinks=False)
    for directory in (root / "list" / "zdir", root / "list"):
        os.utime(directory, ns=(MTIME_NS, MTIME_NS))
    return root


def server(site: Path, **fields: Any) -> FileServer:
    return FileServer(FileServerSpec(root=str(site), **fields))


def get(fs: FileServer, path: str | bytes, headers: dict[str, str] | None = None,
        method: str = "GET", **kw: Any) -> FileResponse:
    raw = path.encode("latin-1") if isinstance(path, str) else path
    hdrs = [(k.encode(), v.encode("latin-1")) for k, v in (headers or {}).items()]
    response = fs.respond(method.encode(), raw, hdrs, None, **kw)
    assert response is not None
    return response


def hdr(response: FileResponse, name: str) -> str | None:
    values = [v.decode("latin-1") for k, v in response.headers if k == name.encode()]
    assert len(values) <= 1, f"duplicate {name}"
    return values[0] if values else None


def assert_inside(response: FileResponse | None, root: Path) -> None:
    if response is not None and response.path is not None:
        real = os.path.realpath(response.path)
        assert real.startswith(os.path.realpath(root) + os.sep), real
