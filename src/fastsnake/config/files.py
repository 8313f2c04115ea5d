"""The ``root`` and ``file_server`` directives: where static files come from.

Grammar (Caddy's ``caddyconfig/httpcaddyfile`` and
``modules/caddyhttp/fileserver/caddyfile.go``), with the matcher token already
taken off by the caller::

    root <path>
    file_server [browse] {
        root          <path>
        hide          <patterns...>          # repeatable; accumulates
        index         <filenames...>
        browse        { sort <by> [asc|desc]  file_limit <n> }
        precompressed [gzip|br|zstd ...]     # none given: br zstd gzip
        status        <code>
        disable_canonical_uris
        pass_thru
    }

Everything is checked here so that a typo is a ``file:line`` error at startup.
Paths are resolved against the Caddyfile's directory (Caddy resolves them
against its working directory; fastsnake anchors every path in a Caddyfile to
the file, so it means the same wherever the server is started). A path that
holds a request placeholder is kept as written and rendered per request.

As Caddy does, the Caddyfile itself is added to ``hide``, so that a site whose
root is the Caddyfile's directory does not serve its own configuration. Only
the files this directive's tokens came from are known here (the file it is
written in and its ``import`` chain); a caller that knows of more Caddyfiles
may add them with ``dataclasses.replace``.

Refused, because fastsnake has no place for them: ``fs`` (virtual file
systems), browse templates, ``reveal_symlinks`` and ``etag_file_extensions``
(which reads a file per request); ``status`` takes a number, not a placeholder.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from fastsnake.caddyfile import Dispenser, Segment
from fastsnake.config.args import check_placeholders, expect_no_args, expect_one_arg, refuse_block
from fastsnake.request.placeholders import has_placeholders

__all__ = [
    "DEFAULT_INDEX",
    "PRECOMPRESSORS",
    "FileServerSpec",
    "compile_glob",
    "parse_file_server",
    "parse_root",
]

DEFAULT_INDEX = ("index.html", "index.txt")

# Accept-Encoding token -> sidecar suffix (Caddy's http.precompressed.* modules).
PRECOMPRESSORS = {"gzip": ".gz", "br": ".br", "zstd": ".zst"}
DEFAULT_PRECOMPRESSED = ("br", "zstd", "gzip")  # Caddy's order when none is given

BROWSE_SORT_BY = ("name", "namedirfirst", "size", "time")
BROWSE_ORDER = ("asc", "desc")


@dataclass(frozen=True)
class FileServerSpec:
    """What one ``file_server`` serves; plain data that pickles."""

    root: str | None
    index: tuple[str, ...] = DEFAULT_INDEX
    hide: tuple[str, ...] = ()
    browse: bool = False
    precompressed: tuple[str, ...] = ()
    status: int | None = None
    pass_thru: bool = False
    disable_canonical_uris: bool = False
    location: str = ""
    browse_sort: tuple[str, ...] = ()  # (by, order), either may be missing
    browse_file_limit: int = 0  # 0: Caddy's default of 10000 entries


def compile_glob(pattern: str, sep: str = os.sep) -> re.Pattern[str]:
    """Go's ``filepath.Match`` syntax as a regex: ``*`` and ``?`` never cross
    ``sep``; ``[^a-z]`` negates; ``\\`` escapes (not on Windows, as in Go).

    Python's fnmatch differs on all three, so hide patterns use this instead.
    Raises ValueError for a malformed pattern, which Go would never match.
    """
    escapes = sep != "\\"
    out: list[str] = []
    i, n = 0, len(pattern)
    not_sep = "[^" + re.escape(sep) + "]"
    while i < n:
        c = pattern[i]
        i += 1
        if c == "*":
            out.append(not_sep + "*")
        elif c == "?":
            out.append(not_sep)
        elif c == "\\" and escapes:
            if i >= n:
                raise ValueError("trailing backslash")
            out.append(re.escape(pattern[i]))
            i += 1
        elif c == "[":
            negate = i < n and pattern[i] == "^"
            if negate:
                i += 1
            items: list[str] = []
            while True:
                if i >= n:
                    raise ValueError("unclosed '['")
                if pattern[i] == "]" and items:
                    i += 1
                    break
                lo, i = _class_char(pattern, i, escapes)
                if i < n and pattern[i] == "-":
                    hi, i = _class_char(pattern, i + 1, escapes)
                    if hi < lo:
                        raise ValueError(f"bad range '{lo}-{hi}'")
                    items.append(re.escape(lo) + "-" + re.escape(hi))
                else:
                    items.append(re.escape(lo))
            body = "".join(items)
            out.append(f"(?![{body}]){not_sep}" if negate else f"[{body}]")
        else:
            out.append(re.escape(c))
    return re.compile("".join(out), re.DOTALL)


def _class_char(pattern: str, i: int, escapes: bool) -> tuple[str, int]:
    n = len(pattern)
    if i >= n or pattern[i] in "-]":
        raise ValueError("bad character class")
    if pattern[i] == "\\" and escapes:
        i += 1
        if i >= n:
            raise ValueError("trailing backslash")
    return pattern[i], i + 1


def parse_root(segment: Segment, base_dir: str) -> str:
    """The site root of ``root <path>``: absolute, unless it holds placeholders."""
    d = Dispenser(segment)
    d.next()
    args = d.remaining_args()
    if not args:
        d.err("root needs a path, such as 'root * /srv/www'")
    if len(args) > 1:
        d.errf("too many arguments for root: expected one path, got %d (%s)",
               len(args), " ".join(args))
    refuse_block(d, args[0])
    return _path(d, args[0], base_dir)


def parse_file_server(segment: Segment, base_dir: str) -> FileServerSpec:
    """Build the FileServerSpec of one ``file_server`` segment."""
    d = Dispenser(segment)
    d.next()
    directive = d.token()
    browse = False
    for token in d.remaining_args_as_tokens():
        if token.text != "browse" or browse:
            d.errf("unexpected argument '%s': file_server takes only 'browse' "
                   "(and a matcher before it)", token.text)
        browse = True
    root: str | None = None
    index: tuple[str, ...] = DEFAULT_INDEX
    hide: list[str] = []
    precompressed: tuple[str, ...] = ()
    status: int | None = None
    pass_thru = disable_canonical = False
    sort: tuple[str, ...] = ()
    file_limit = 0
    seen: dict[str, int] = {}
    nesting = d.nesting
    while d.next_block(nesting):
        name = d.val()
        if name in seen and name != "hide":
            d.errf("duplicate file_server subdirective '%s' (already set at line %d)",
                   name, seen[name])
        seen[name] = d.line()
        if name == "fs":
            d.err("file_server 'fs' is not supported by fastsnake")
        elif name == "root":
            root = _path(d, expect_one_arg(d), base_dir)
        elif name == "hide":
            hide.extend(_hide(d, value, base_dir) for value in _list(d))
        elif name == "index":
            index = tuple(_index(d, value) for value in _list(d))
        elif name == "browse":
            if browse:
                d.err("browsing is already configured")
            browse = True
            sort, file_limit = _browse(d)
        elif name == "precompressed":
            precompressed = _precompressed(d)
        elif name == "status":
            value = expect_one_arg(d)
            if not (value.isascii() and value.isdigit() and len(value) == 3
                    and 100 <= int(value) <= 599):
                d.errf("file_server status must be an HTTP status code such as 404, "
                       "got '%s'", value)
            status = int(value)
        elif name == "disable_canonical_uris":
            expect_no_args(d)
            disable_canonical = True
        elif name == "pass_thru":
            expect_no_args(d)
            pass_thru = True
        elif name in ("etag_file_extensions",):
            d.errf("file_server '%s' is not supported by fastsnake", name)
        else:
            d.errf("unknown file_server subdirective '%s'", name)
    for caddyfile in _caddyfiles(segment):
        if caddyfile not in hide:
            hide.append(caddyfile)
    return FileServerSpec(
        root=root,
        index=index,
        hide=tuple(hide),
        browse=browse,
        precompressed=precompressed,
        status=status,
        pass_thru=pass_thru,
        disable_canonical_uris=disable_canonical,
        location=directive.location,
        browse_sort=sort,
        browse_file_limit=file_limit,
    )


def _list(d: Dispenser) -> list[str]:
    """One or more arguments on the rest of the line, and no block."""
    name = d.val()
    values = d.remaining_args()
    if not values:
        d.errf("file_server %s needs at least one value", name)
    refuse_block(d, values[-1])
    return values


def _path(d: Dispenser, value: str, base_dir: str) -> str:
    if "\0" in value:
        d.err("a path cannot contain a NUL byte")
    if has_placeholders(value):
        check_placeholders(d, value)
        if value.startswith("{") or os.path.isabs(value):
            return value  # may turn out absolute: the server resolves it per request
        return os.path.join(base_dir, value)
    return os.path.normpath(os.path.join(base_dir, value))


def _hide(d: Dispenser, value: str, base_dir: str) -> str:
    """A pattern with a separator is a path (made absolute); without one, a name."""
    if has_placeholders(value):
        check_placeholders(d, value)
        return value
    if "/" in value or os.sep in value:
        value = os.path.normpath(os.path.join(base_dir, value))
    try:
        compile_glob(value)
    except ValueError as exc:
        d.errf("invalid hide pattern '%s': %s", value, exc)
    return value


def _index(d: Dispenser, value: str) -> str:
    if has_placeholders(value):
        check_placeholders(d, value)
    parts = value.replace("\\", "/").split("/")
    if "\0" in value or ".." in parts or value.startswith("/") or not value:
        d.errf("index file '%s' must be a file name inside the directory", value)
    return value


def _browse(d: Dispenser) -> tuple[tuple[str, ...], int]:
    if d.next_arg():
        d.errf("file_server browse template '%s' is not supported by fastsnake", d.val())
    sort: tuple[str, ...] = ()
    file_limit = 0
    nesting = d.nesting
    while d.next_block(nesting):
        name = d.val()
        if name == "sort":
            values = d.remaining_args()
            if not values or len(values) > 2:
                d.err("browse sort takes a key (name, namedirfirst, size, time) "
                      "and an optional order (asc, desc)")
            if values[0] not in BROWSE_SORT_BY:
                d.errf("unknown sort option '%s': the first must be one of %s",
                       values[0], ", ".join(BROWSE_SORT_BY))
            if len(values) == 2 and values[1] not in BROWSE_ORDER:
                d.errf("unknown sort option '%s': the second must be asc or desc", values[1])
            sort = tuple(values)
        elif name == "file_limit":
            value = expect_one_arg(d)
            if not (value.isascii() and value.isdigit()) or int(value) < 1:
                d.errf("file_limit must be a positive integer, got '%s'", value)
            file_limit = int(value)
        elif name == "reveal_symlinks":
            d.err("file_server browse 'reveal_symlinks' is not supported by fastsnake")
        else:
            d.errf("unknown file_server browse subdirective '%s'", name)
    return sort, file_limit


def _precompressed(d: Dispenser) -> tuple[str, ...]:
    values = d.remaining_args()
    if values:
        refuse_block(d, values[-1])
    else:
        expect_no_args(d)
    for i, value in enumerate(values):
        if value not in PRECOMPRESSORS:
            d.errf("unknown precompressed format '%s': use gzip, br or zstd", value)
        if value in values[:i]:
            d.errf("precompressed format '%s' is listed twice", value)
    return tuple(values) or DEFAULT_PRECOMPRESSED


def _caddyfiles(segment: Segment) -> list[str]:
    """The Caddyfiles this segment's tokens came from, as hide patterns.

    Glob characters in the path are escaped so that the pattern names exactly
    that file (Go's Match has no escape on Windows; such paths are rare there).
    """
    names: list[str] = []
    for token in segment:
        files = [token.file] + [where.rpartition(":")[0] for where in token.imports]
        for file in files:
            if not file:
                continue
            path = os.path.abspath(file)
            if os.sep == "/":
                path = re.sub(r"([*?\[\\])", r"\\\1", path)
            if path not in names:
                names.append(path)
    return names
