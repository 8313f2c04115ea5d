"""Caddy's ``path`` matcher: what a request path is compared as, and how.

It is its own module because the path matcher has semantics of its own,
separate from parsing a Caddyfile's matcher sets (``fastsnake.request.matchers``, which
imports this one; nothing here imports that). Path matching guards routes
(``@admin path /admin/*``), so it sees what an app will act on:

- *decoding*: the path is percent-decoded, so ``/%61dmin`` matches ``/admin``.
  A malformed escape stays as written, as the WSGI/ASGI adapters leave it (Go
  would answer 400). Patterns holding ``%`` (Caddy compares those in escaped
  space) are refused.
- *cleaning*: like Go's ``path.Clean`` (Caddy's ``CleanPath``): ``.``/``..``
  resolved, repeated slashes merged unless the pattern has ``//``, a trailing
  slash kept, so ``/x/../admin`` matches ``/admin``. On Windows ``\\`` is a
  ``/`` and trailing dots and spaces of a name are dropped first.
- *case-insensitive globs*: path and pattern are lowercased; a pattern is an
  exact path, ``prefix*``, ``*suffix``, ``*middle*`` or else a Go ``path.Match``
  glob (``*``, ``?``, ``[a-z]``, ``\\`` escapes) that must match the whole path.

Caddy is the spec (``modules/caddyhttp/matchers.go``, ``MatchPath``).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING
from urllib.parse import unquote_to_bytes

from fastsnake.request.placeholders import has_placeholders

if TYPE_CHECKING:  # only annotations (see matchers.py)
    from fastsnake._exchange import HttpRequest

__all__ = ["PathMatcher", "clean_path", "path_matcher", "path_pattern_error"]

_WINDOWS = sys.platform == "win32"


def clean_path(path: str, merge_slashes: bool = True) -> str:
    """Go's ``path.Clean`` keeping a trailing slash: Caddy's ``CleanPath`` (without
    ``merge_slashes``, the empty names between repeated slashes count as names)."""
    rooted = path.startswith("/")
    names = path.split("/")[1 if rooted else 0:]
    if names and names[-1] == "":
        names.pop()  # a trailing slash, put back below
    out: list[str] = []
    for name in names:
        if name == "." or (name == "" and merge_slashes):
            continue
        if name != "..":
            out.append(name)
        elif out and out[-1] != "..":
            out.pop()
        elif not rooted:
            out.append("..")
    cleaned = ("/" if rooted else "") + "/".join(out) or "."
    return cleaned + "/" if path.endswith("/") and (out or not rooted) else cleaned


def _windows_path(path: str) -> str:
    # Windows reads "\" as "/" and ignores trailing dots and spaces of a name,
    # so Caddy folds them before matching there (caddy #5613).
    names = path.replace("\\", "/").split("/")
    return "/".join(n if n in (".", "..") else n.rstrip(". ") for n in names)


def _path_view(raw: bytes, merge: bool, windows: bool) -> str:
    """The request path as the path matcher compares it."""
    if raw.isascii():  # (str tests: "in" on bytes is several times slower)
        text = raw.decode("ascii")
        if ("%" not in text and "/." not in text and (not merge or "//" not in text)
                and text[:1] == "/" and not windows):
            return text.lower()  # the common case: already decoded and clean
    text = unquote_to_bytes(raw).decode("utf-8", "surrogateescape")
    return clean_path((_windows_path(text) if windows else text).lower(), merge)


# Go's path.Match syntax, a token at a time: * ? \\c [^lo-hi...] or a character.
_CLASS_CHAR = r"(?:\\.|[^-\]\\])"
_GLOB_TOKEN = re.compile(
    rf"\*|\?|\\(.)|\[(\^?)((?:{_CLASS_CHAR}(?:-{_CLASS_CHAR})?)+)\]|([^[\\])", re.DOTALL)
_CLASS_RANGE = re.compile(rf"({_CLASS_CHAR})(?:-({_CLASS_CHAR}))?", re.DOTALL)


def _glob(pattern: str) -> re.Pattern[str]:
    """A ``path.Match`` pattern as a regexp (ValueError when malformed): ``*`` any
    run of non-``/``, ``?`` one non-``/``, ``[a-z]``/``[^a-z]`` a class, ``\\`` escapes."""
    out: list[str] = []
    pos = 0
    while pos < len(pattern):
        token = _GLOB_TOKEN.match(pattern, pos)
        if token is None:
            raise ValueError(pattern)
        pos = token.end()
        escaped, negated, members, char = token.groups()
        if members is None:
            literal = escaped or char
            out.append(re.escape(literal) if literal else "[^/]*" if token[0] == "*" else "[^/]")
            continue
        body = "".join(f"{re.escape(lo[-1])}-{re.escape((hi or lo)[-1])}"
                       for lo, hi in _CLASS_RANGE.findall(members) if lo[-1] <= (hi or lo)[-1])
        out.append(f"[{negated}{body}]" if body else "[\\s\\S]" if negated else "(?!)")
    return re.compile("".join(out), re.DOTALL)


def _compile_path_pattern(pattern: str) -> tuple[bool, Callable[[str], bool]]:
    """(merge_slashes, test) for one lowercased pattern, in Caddy's order."""
    if "%" in pattern:
        raise ValueError("escaped-space patterns are not supported")  # never matches
    merge = "//" not in pattern
    stars = pattern.count("*")
    if stars == 2 and len(pattern) > 1 and pattern[0] == pattern[-1] == "*":
        middle = pattern[1:-1]
        return merge, lambda path: middle in path
    if stars == 1 and pattern[0] == "*":
        suffix = pattern[1:]
        return merge, lambda path: path.endswith(suffix)
    if stars == 1 and pattern[-1] == "*":
        prefix = pattern[:-1]
        return merge, lambda path: path.startswith(prefix)
    if not any(c in pattern for c in "*?[\\"):
        return merge, lambda path: path == pattern
    glob = _glob(pattern)
    return merge, lambda path: glob.fullmatch(path) is not None


def path_pattern_error(pattern: str) -> str | None:
    """Why a path pattern cannot work here, or None. (``path_matcher`` itself
    lets a malformed glob never match, as Caddy does.)"""
    if has_placeholders(pattern):
        return f"placeholders in path patterns are not supported by fastsnake: '{pattern}'"
    if "%" in pattern:
        return (f"path patterns with '%' (matching in escaped space) are not supported by "
                f"fastsnake: '{pattern}'; write the decoded path, or use path_regexp")
    try:
        _compile_path_pattern(pattern.lower())
    except ValueError:
        return f"malformed path pattern '{pattern}' (Go path.Match syntax)"
    return None


class PathMatcher:
    """``path``: any of the patterns (OR), case-insensitive; see the module doc.
    ``windows``: fold the path as Windows reads it (the default: on Windows)."""

    __slots__ = ("patterns", "_all", "_tests", "_windows")

    def __init__(self, patterns: Sequence[str], windows: bool = _WINDOWS) -> None:
        self.patterns = tuple(patterns)
        self._windows = windows
        self._all = "*" in self.patterns
        tests = []
        for pattern in self.patterns:
            try:
                tests.append(_compile_path_pattern(pattern.lower()))
            except ValueError:
                pass  # a malformed glob never matches
        self._tests = tuple(tests)

    def matches(self, request: HttpRequest) -> bool:
        if self._all:
            return True
        raw = request.path
        views: list[str | None] = [None, None]  # [unmerged, merged], made when needed
        for merge, test in self._tests:
            view = views[merge]
            if view is None:
                view = views[merge] = _path_view(raw, merge, self._windows)
            if test(view):
                return True
        return False


def path_matcher(patterns: Sequence[str]) -> PathMatcher:
    """The inline form, ``python /api/* ...`` (``*`` matches everything)."""
    return PathMatcher(patterns)
