"""Path helpers shared by :mod:`fastsnake.files` and :mod:`fastsnake.files.browse`.

Serving a file and listing a directory apply the same two checks: whether a
path lies inside the root, and whether ``hide`` hides it. They live here so
that both modules import them and neither imports the other's internals
(files.py imports files.browse; files.browse imports only this module).
"""

from __future__ import annotations

import os
import stat

from fastsnake.config.files import compile_glob

__all__ = ["SAFE_URL", "SEP", "Hide", "hidden", "inside", "is_link", "relative"]

SEP = os.sep
SAFE_URL = "/!$&'()*+,;=:@~"  # pchar and "/" left as they are (RFC 3986 §3.3)


def inside(path: str, base: str) -> bool:
    """Whether ``path`` is ``base`` or below it (both absolute)."""
    path, base = os.path.normcase(path), os.path.normcase(base)
    return path == base or path.startswith(base.rstrip(SEP) + SEP)


def is_link(st: os.stat_result) -> bool:
    """A symlink, or on Windows any reparse point (junctions too)."""
    return stat.S_ISLNK(st.st_mode) or bool(getattr(st, "st_reparse_tag", 0))


def relative(path: str, root_dir: str) -> list[str]:
    """The components of resolved ``path`` below the resolved root, for ``hide``."""
    base = os.path.realpath(root_dir)
    rel = os.path.relpath(path, base) if inside(path, base) else path
    return [p for p in rel.split(SEP) if p not in ("", ".")]


class Hide:
    """Caddy's fileHidden. Without a separator, a pattern matches any component
    below the root (Caddy also tries the root's own components, so ``hide .*``
    under ``~/.local`` would hide a whole site); with one, it is an absolute
    path hiding itself and everything below, or a glob over the whole path."""

    def __init__(self, pattern: str) -> None:
        self.has_sep = SEP in pattern or "/" in pattern
        self.text = os.path.abspath(pattern) if self.has_sep else pattern  # Caddy's FastAbs
        self.regex = compile_glob(self.text)

    def hides(self, filename: str, parts: list[str]) -> bool:
        if not self.has_sep:
            return any(self.regex.fullmatch(part) for part in parts)
        if filename.startswith(self.text) and filename[len(self.text):][:1] == SEP:
            return True
        return self.regex.fullmatch(filename) is not None


def hidden(hide: list[Hide], filename: str, parts: list[str]) -> bool:
    return any(h.hides(filename, parts) for h in hide)

