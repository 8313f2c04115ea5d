"""RFC 9110 validators for file_server: conditional requests (§13) and byte
ranges (§14), in Go's ``net/http`` order and with its choices (see the
theory of operation in :mod:`fastsnake.files.server`)."""

from __future__ import annotations

import calendar
from email.utils import parsedate_tz

__all__ = ["GET_HEAD", "http_date", "if_range", "parse_range", "preconditions"]

GET_HEAD = (b"GET", b"HEAD")


def _etags(value: str) -> list[str] | None:
    """An If-Match / If-None-Match list; None for ``*``. Stops at a bad tag (Go)."""
    tags: list[str] = []
    rest = value
    while rest := rest.lstrip(" \t,"):
        if rest[0] == "*":
            return None
        start = 2 if rest.startswith("W/") else 0
        end = rest.find('"', start + 1)
        if rest[start:start + 1] != '"' or end < 0 or any(
                c < "\x21" or c == "\x7f" for c in rest[start + 1:end]):
            break
        tags.append(rest[:end + 1])
        rest = rest[end + 1:]
    return tags


def http_date(value: str | None) -> int | None:
    """An HTTP-date (IMF-fixdate, RFC 850 or asctime, §5.6.7) as unix seconds."""
    try:
        parsed = parsedate_tz(value) if value else None
        return None if parsed is None else calendar.timegm(parsed[:9]) - (parsed[9] or 0)
    except (ValueError, IndexError, TypeError, OverflowError):
        return None


def preconditions(method: bytes, req: dict[bytes, str], etag: bytes | None,
                   modtime: int | None) -> int:
    """RFC 9110 §13.2.2 steps 1-4: 412, 304, or 0 to go on."""
    current = etag.decode() if etag is not None else ""
    if b"if-match" in req:  # strong comparison (§13.1.1)
        tags = _etags(req[b"if-match"])
        if tags is not None and not any(t == current and t[0] == '"' for t in tags):
            return 412
    elif modtime is not None:
        since = http_date(req.get(b"if-unmodified-since"))
        if since is not None and modtime > since:
            return 412
    if b"if-none-match" in req:  # weak comparison (§13.1.2)
        tags = _etags(req[b"if-none-match"])
        if tags is None or (current and current in (t.removeprefix("W/") for t in tags)):
            return 304 if method in GET_HEAD else 412
    elif modtime is not None and method in GET_HEAD:
        since = http_date(req.get(b"if-modified-since"))
        if since is not None and modtime <= since:
            return 304
    return 0


def if_range(value: str | None, etag: bytes | None, modtime: int | None) -> bool:
    """§13.1.5: a strong ETag match, or exactly the Last-Modified date (as Go)."""
    if value is None:
        return True
    if value.startswith(('"', "W/")):
        return etag is not None and value == etag.decode()
    return modtime is not None and http_date(value) == modtime


_INT64_MAX = 2**63 - 1


def parse_range(value: str, size: int) -> tuple[int, int] | str | None:
    """§14.1.2 byte ranges: (offset, length), "unsatisfiable", or None to ignore."""
    unit, eq, spec = value.partition("=")
    if not eq or unit.lower() != "bytes":  # no OWS around "=" (§14.1.1)
        return None  # §14.2: a unit we do not know is ignored
    ranges: list[tuple[int, int]] = []
    specs = 0
    for item in spec.split(","):
        first, dash, last = (t.strip(" \t") for t in item.partition("-"))
        if not (first or dash or last):
            continue  # empty list elements are allowed (§5.6.1)
        specs += 1
        if not dash or not (first or last) or not all(
                not t or (t.isascii() and t.isdigit() and len(t) <= 19 and int(t) <= _INT64_MAX)
                for t in (first, last)):
            return "unsatisfiable"  # invalid (or past int64, as Go's ParseInt): 416
        if not first:
            if int(last) > 0:
                ranges.append((max(size - int(last), 0), size))
        elif last and int(last) < int(first):
            return "unsatisfiable"
        elif int(first) < size:
            ranges.append((int(first), min(int(last) + 1 if last else size, size)))
    if not specs:
        return None  # "bytes=" names no range: ignored, as Go does
    if not ranges:
        return "unsatisfiable"
    ranges.sort()
    merged = [ranges[0]]
    for start, end in ranges[1:]:
        if start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    if len(merged) > 1:
        return None  # several parts: serve the whole representation
    return merged[0][0], merged[0][1] - merged[0][0]
