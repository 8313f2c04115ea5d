"""Directory listings for ``file_server browse``: a directory in, HTML or JSON out.

Split from :mod:`fastsnake.files.server` (docs/architecture.md: small modules with one job):
that module answers a request and, for a directory without an index, calls
:func:`list_entries` and :func:`render_listing`, then adds the caching
headers, 304 and HEAD itself. The dependency goes one way: files.py imports
this module, this module imports nothing from files.py; the path checks both
need (``hide``, staying inside the root) are in :mod:`fastsnake.files.paths`.

As Caddy's browse (``modules/caddyhttp/fileserver/browse*.go``):
- at most ``file_limit`` entries (default 10000), read in directory order
  before sorting, so a huge directory costs a bounded amount of work;
- sorts ``name``, ``namedirfirst`` (the default), ``size``, ``time``; names
  compare case-insensitively;
- JSON items carry Caddy's fields: ``name`` (directories end in ``/``),
  ``size``, ``url``, ``mod_time`` (RFC 3339, UTC), ``mode`` (Go's
  ``fs.FileMode`` bits), ``is_dir``, ``is_symlink``;
- the HTML is a small fixed page (Caddy's templates are not supported);
  names are escaped and undecodable bytes shown as U+FFFD; links start with
  ``./`` so a name such as ``a:b`` is never read as a URL scheme.
"""

from __future__ import annotations

import html
import json
import os
import stat
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from fastsnake.files.paths import SAFE_URL, Hide, hidden, inside, is_link, relative

__all__ = ["DIR_ENTRY_LIMIT", "list_entries", "render_listing"]

DIR_ENTRY_LIMIT = 10000  # Caddy's defaultDirEntryLimit


def list_entries(real: str, st: os.stat_result, filename: str, parts: list[str],
                 root_dir: str, hide: list[Hide], hidden_files: frozenset[tuple[int, int]],
                 limit: int) -> tuple[list[dict[str, Any]], int]:
    """The entries of directory ``filename`` (opened as ``real``, whose stat is
    ``st``; ``parts`` are its components below ``root_dir``) to list, at most
    ``limit``, and the newest mtime in unix seconds. Hidden entries are left
    out; a symlink out of the root is shown as itself, never its target."""
    latest = st.st_mtime_ns // 1_000_000_000
    items: list[dict[str, Any]] = []
    real_root = os.path.realpath(root_dir)
    with os.scandir(real) as entries:
        for entry in entries:
            if len(items) >= limit:
                break
            name = entry.name
            if hidden(hide, os.path.join(filename, name), parts + [name]) or (
                    real != filename
                    and hidden(hide, entry.path, relative(entry.path, root_dir))):
                continue
            try:
                lst = target = entry.stat(follow_symlinks=False)
                if is_link(lst):
                    resolved = os.path.realpath(entry.path)
                    if inside(resolved, real_root) and not hidden(
                            hide, resolved, relative(resolved, root_dir)):
                        target = os.stat(resolved)
            except OSError:
                continue
            if (target.st_dev, target.st_ino) in hidden_files:
                continue
            is_dir = stat.S_ISDIR(target.st_mode)
            latest = max(latest, lst.st_mtime_ns // 1_000_000_000)
            items.append({"name": name + "/" if is_dir else name, "size": target.st_size,
                          "mtime_ns": lst.st_mtime_ns, "mode": _go_mode(lst.st_mode),
                          "is_dir": is_dir, "is_symlink": is_link(lst)})
    return items, latest


def render_listing(items: list[dict[str, Any]], sort: tuple[str, ...], accept: str,
                   where: list[str], can_go_up: bool) -> tuple[bytes, bytes]:
    """Sort ``items`` in place by ``sort`` (Caddy's ``sort <by> [<order>]``) and
    render them: (content type, body). JSON when ``accept`` names
    ``application/json``, else HTML titled by ``where``, the clean components
    of the directory's path as the client sent it."""
    by, order = (sort + ("namedirfirst", "asc")[len(sort):])[:2]
    _sort_items(items, by, order)
    if "application/json" in accept.lower():
        ctype = b"application/json; charset=utf-8"
        text = json.dumps([_json_item(i) for i in items], ensure_ascii=False) + "\n"
    else:
        ctype = b"text/html; charset=utf-8"
        text = _html_listing(items, where, can_go_up)
    return ctype, text.encode("utf-8", "replace")


def _go_mode(mode: int) -> int:
    """A unix st_mode as Go's fs.FileMode bits, as Caddy's JSON listing has them."""
    kinds = {stat.S_IFDIR: 1 << 31, stat.S_IFLNK: 1 << 27, stat.S_IFIFO: 1 << 25,
             stat.S_IFSOCK: 1 << 24, stat.S_IFBLK: 1 << 26, stat.S_IFCHR: 0x4200000}
    bits = ((stat.S_ISUID, 1 << 23), (stat.S_ISGID, 1 << 22), (stat.S_ISVTX, 1 << 20))
    return (mode & 0o777) | kinds.get(stat.S_IFMT(mode), 0) | sum(
        go for unix, go in bits if mode & unix)


def _sort_items(items: list[dict[str, Any]], by: str, order: str) -> None:
    """Caddy's sort options; names compare case-insensitively."""
    keys = {"name": lambda i: (i["name"].lower(), i["name"]),
            "time": lambda i: (i["mtime_ns"], i["name"]),
            "size": lambda i: (not i["is_dir"], 0 if i["is_dir"] else i["size"],
                               i["name"].lower()),
            "namedirfirst": lambda i: (not i["is_dir"], i["name"].lower(), i["name"])}
    items.sort(key=keys[by], reverse=order == "desc")


def _display(name: str) -> str:
    """A file name as text: undecodable bytes become U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _url(name: str) -> str:
    return "./" + quote(os.fsencode(name), safe=SAFE_URL)  # "./" keeps "a:b" a path


def _rfc3339(mtime_ns: int) -> str:
    seconds, nanos = divmod(mtime_ns, 1_000_000_000)
    frac = f"{nanos:09d}".rstrip("0")
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + (
        "." + frac if frac else "") + "Z"


def _json_item(item: dict[str, Any]) -> dict[str, Any]:
    return {"name": _display(item["name"]), "size": item["size"], "url": _url(item["name"]),
            "mod_time": _rfc3339(item["mtime_ns"]), "mode": item["mode"],
            "is_dir": item["is_dir"], "is_symlink": item["is_symlink"]}


def _human(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    value, units = size / 1024, ["KiB", "MiB", "GiB", "TiB"]
    while value >= 1024 and len(units) > 1:
        value, units = value / 1024, units[1:]
    return f"{value:.1f} {units[0]}"


def _html_listing(items: list[dict[str, Any]], where_parts: list[str], can_go_up: bool) -> str:
    where = html.escape(_display("/" + "".join(f"{p}/" for p in where_parts)))
    rows = ['<tr><td><a href="../">../</a></td><td></td><td></td></tr>'] if can_go_up else []
    for i in items:
        when = _rfc3339(i["mtime_ns"])
        rows.append(
            f'<tr><td><a href="{html.escape(_url(i["name"]))}">'
            f'{html.escape(_display(i["name"]))}</a></td><td title="{i["size"]}">'
            f'{"&mdash;" if i["is_dir"] else _human(i["size"])}</td>'
            f'<td><time datetime="{when}">{when[:19].replace("T", " ")}</time></td></tr>')
    dirs = sum(1 for i in items if i["is_dir"])
    return (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n<meta name="viewport" '
        f'content="width=device-width, initial-scale=1">\n<title>{where}</title>\n<style>'
        "body{font-family:system-ui,sans-serif;margin:2em}th,td{padding:.2em 1em;"
        "text-align:left}td+td{text-align:right}td+td+td{text-align:left}</style>\n"
        f"</head>\n<body>\n<h1>{where}</h1>\n<table>\n<thead><tr><th>Name</th><th>Size</th>"
        "<th>Modified (UTC)</th></tr></thead>\n<tbody>\n" + "\n".join(rows)
        + f"\n</tbody>\n</table>\n<p>{dirs} directories, {len(items) - dirs} files</p>\n"
        "</body>\n</html>\n")
