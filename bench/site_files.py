"""The static site every file server of the bench serves: same bytes, same names.

Three HTML files (4 KiB, 64 KiB, 1 MiB) of text that compresses about as a
real page does, each with a ``.gz`` sidecar for the precompressed scenarios.
Generated (deterministically) into the system's temp folder the first time a
scenario needs them, so nothing large is committed and any user can read them
(nginx's worker may run as another user).
"""

from __future__ import annotations

import gzip
import pathlib
import random
import tempfile

ROOT = pathlib.Path(tempfile.gettempdir()) / "fastsnake-bench-site"
SIZES = {"4k.html": 4 * 1024, "64k.html": 64 * 1024, "1m.html": 1024 * 1024}
_WORDS = ("static file server request response header body cache page site hello "
          "world python caddy nginx bytes range etag modified since accept encoding "
          "gzip sendfile socket kernel worker loop").split()


def _text(size: int, seed: int) -> bytes:
    """``size`` bytes of words and tags, the same for every call with ``seed``."""
    rng = random.Random(seed)
    out = bytearray(b"<!doctype html>\n<html><body>\n")
    while len(out) < size:
        line = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(6, 14)))
        out += b"<p>" + line.encode() + b"</p>\n"
    return bytes(out[:size])


def ensure() -> str:
    """The site's folder, made (or remade, if a file is off) when needed."""
    ROOT.mkdir(mode=0o755, exist_ok=True)
    for seed, (name, size) in enumerate(SIZES.items()):
        path = ROOT / name
        if path.exists() and path.stat().st_size == size and (
                ROOT / (name + ".gz")).exists():
            continue
        body = _text(size, seed)
        path.write_bytes(body)
        # mtime=0 in the gzip header: the sidecar's bytes depend only on the body.
        (ROOT / (name + ".gz")).write_bytes(gzip.compress(body, 6, mtime=0))
    return str(ROOT)
