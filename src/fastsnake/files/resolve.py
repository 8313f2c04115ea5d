"""From a request's path to a file under the root: the path cleaned as Go's
path.Clean (with Windows' own dangers refused), percent-decoded, then walked
one component at a time, refusing symlinks that lead out of the root; each
stat noted in a trail, which file_server's cache keys its answer on."""

from __future__ import annotations

import errno
import os
import re
import sys
from urllib.parse import unquote_to_bytes

from fastsnake.files.paths import inside, is_link

WINDOWS = sys.platform == "win32"

_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_WINDOWS_DEVICES = frozenset(["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"] + [
    f"{p}{i}" for p in ("COM", "LPT") for i in "123456789\u00b9\u00b2\u00b3"])

# A trail entry: (path, followed symlinks, its stat or None when it was
# missing). ``NO_CACHE`` marks a walk whose answer must not be cached (a
# symlink was followed, an error other than "missing").
Trail = list[tuple[str, bool, os.stat_result | None] | None]
NO_CACHE = None
_MISSING = (errno.ENOENT, errno.ENOTDIR)


class OutsideRoot(Exception):
    """A symlink resolved outside the root."""


class BadPath(Exception):
    """The request path cannot name a file: 400."""


def clean_path(decoded: str, windows: bool = WINDOWS) -> list[str]:
    """The components of Go's ``path.Clean("/" + decoded)``: never above the top.

    With ``windows``, a component Windows reads otherwise than it is written
    is refused, as each could bypass ``hide``: separators and drive colons
    (and alternate data streams), trailing dots or spaces, device names, and
    8.3 short names (Caddy refuses the last two kinds too).
    """
    parts: list[str] = []
    for seg in decoded.split("/"):
        if seg == "..":
            if parts:
                parts.pop()
        elif seg not in ("", "."):
            if windows and ("\\" in seg or ":" in seg or seg[-1] in ". " or (
                    "~" in seg and len(seg) <= 12)
                    or seg.split(".")[0].rstrip(" ").upper() in _WINDOWS_DEVICES):
                raise BadPath(seg)
            parts.append(seg)
    return parts


def decode_path(raw: bytes) -> str:
    if _BAD_ESCAPE.search(raw):
        raise BadPath("malformed percent-encoding")
    try:
        text = os.fsdecode(unquote_to_bytes(raw))
    except UnicodeDecodeError:
        raise BadPath("undecodable path") from None
    if "\0" in text:
        raise BadPath("NUL in path")
    return text


def walk(root: str, start: str, parts: list[str], trail: Trail | None = None
          ) -> tuple[str, os.stat_result, bool]:
    """Stat ``start/parts...`` (``start`` is inside ``root``), refusing symlinks
    that lead out of the root: one lstat per component, and one realpath
    when a link is met. Returns the path to open (resolved if a link was
    met), its stat, and whether a link was met. ``trail`` collects each call
    and its answer for the cache."""
    if not parts:  # the root itself: trusted, links and all
        return start, stat_noted(start, True, trail), False
    path = start
    for i, part in enumerate(parts):
        path = os.path.join(path, part)
        st = stat_noted(path, False, trail)
        if is_link(st):
            if trail is not None:
                trail.append(NO_CACHE)
            real = os.path.realpath(os.path.join(path, *parts[i + 1:]))
            if not inside(real, os.path.realpath(root)):
                raise OutsideRoot(real)
            return real, os.stat(real), True
    return path, st, False


def stat_noted(path: str, follow: bool, trail: Trail | None) -> os.stat_result:
    """os.stat or os.lstat, the answer noted in ``trail``."""
    try:
        st = os.stat(path) if follow else os.lstat(path)
    except OSError as exc:
        if trail is not None:
            trail.append((path, follow, None) if exc.errno in _MISSING else NO_CACHE)
        raise
    if trail is not None:
        trail.append((path, follow, st))
    return st
