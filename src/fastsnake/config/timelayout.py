"""Go time layouts (``2006-01-02T15-04-05.000``): format and parse, as Go does.

Caddy's ``backup_time_format`` is a Go layout: a reference time (Mon Jan 2
15:04:05 MST 2006) written the way the result should look. A layout is cut
into chunks as Go's ``time.nextStdChunk`` cuts it, so the same text means
the same thing here; everything that is not a chunk is copied literally.

:class:`TimeLayout` formats a time into a name and parses a name back (the
roller sorts and ages its backups by the time in their names, as Caddy's
does). :func:`check_round_trip` is the test Caddy's roller (timberjack)
applies before using a layout: a sample time formatted and parsed back must
come out unchanged, so a layout without, say, the minute is refused rather
than giving two backups one name.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

__all__ = ["DEFAULT_BACKUP_LAYOUT", "TimeLayout", "check_round_trip"]

DEFAULT_BACKUP_LAYOUT = "2006-01-02T15-04-05.000"
"""timberjack's (Caddy's) backup time layout."""

_MONTHS = list(calendar.month_name)[1:]
_DAYS = list(calendar.day_name)

# (layout text, chunk kind), longest first where one is a prefix of another,
# in the order Go's nextStdChunk tries them at each character.
_CHUNKS: list[tuple[str, str]] = [
    ("January", "month_long"), ("Jan", "month_short"),
    ("Monday", "weekday_long"), ("Mon", "weekday_short"), ("MST", "tz_name"),
    ("01", "month_zero"), ("02", "day_zero"), ("03", "hour12_zero"), ("04", "minute_zero"),
    ("05", "second_zero"), ("06", "year_short"), ("002", "yearday_zero"),
    ("15", "hour"), ("1", "month"), ("2006", "year"), ("2", "day"),
    ("__2", "yearday_space"), ("_2", "day_space"),
    ("3", "hour12"), ("4", "minute"), ("5", "second"), ("PM", "pm_upper"), ("pm", "pm_lower"),
    ("-070000", "tz_hhmmss"), ("-07:00:00", "tz_hh:mm:ss"), ("-0700", "tz_hhmm"),
    ("-07:00", "tz_hh:mm"), ("-07", "tz_hh"),
    ("Z070000", "tzz_hhmmss"), ("Z07:00:00", "tzz_hh:mm:ss"), ("Z0700", "tzz_hhmm"),
    ("Z07:00", "tzz_hh:mm"), ("Z07", "tzz_hh"),
]

_PATTERNS = {
    "month_long": "(" + "|".join(_MONTHS) + ")", "month_short": "(" + "|".join(
        m[:3] for m in _MONTHS) + ")",
    "weekday_long": "(" + "|".join(_DAYS) + ")", "weekday_short": "(" + "|".join(
        d[:3] for d in _DAYS) + ")",
    "tz_name": r"([A-Za-z]{3,5}|[+-]\d\d(?:\d\d)?)",
    "month_zero": r"(\d\d)", "day_zero": r"(\d\d)", "hour12_zero": r"(\d\d)",
    "minute_zero": r"(\d\d)", "second_zero": r"(\d\d)", "year_short": r"(\d\d)",
    "yearday_zero": r"(\d\d\d)", "yearday_space": r"( {0,2}\d{1,3})",
    "hour": r"(\d\d?)", "month": r"(\d\d?)", "year": r"(\d\d\d\d)", "day": r"(\d\d?)",
    "day_space": r"( ?\d\d?)", "hour12": r"(\d\d?)", "minute": r"(\d\d?)",
    "second": r"(\d\d?)", "pm_upper": "(AM|PM)", "pm_lower": "(am|pm)",
}


@dataclass(frozen=True)
class _Chunk:
    kind: str       # "literal", "fraction", or one of _CHUNKS' kinds
    text: str       # the literal text, or the fraction's layout (".000", ",999")


def _tokenize(layout: str) -> list[_Chunk]:
    chunks: list[_Chunk] = []
    literal = ""
    i = 0
    while i < len(layout):
        found = _chunk_at(layout, i)
        if found is None:
            literal += layout[i]
            i += 1
            continue
        if literal:
            chunks.append(_Chunk("literal", literal))
            literal = ""
        chunks.append(found)
        i += len(found.text)
    if literal:
        chunks.append(_Chunk("literal", literal))
    return chunks


def _chunk_at(layout: str, i: int) -> _Chunk | None:
    rest = layout[i:]
    if rest[:1] in ".," and rest[1:2] in ("0", "9"):
        run = len(rest) - 1 - len(rest[1:].lstrip(rest[1]))
        after = rest[1 + run:2 + run]
        if not after.isdigit():  # "15.04" keeps its dot: a separator, not a fraction
            return _Chunk("fraction", rest[:1 + run])
        return None
    if rest.startswith("_2006"):  # Go: a literal "_" and then the year
        return None
    for text, kind in _CHUNKS:
        if rest.startswith(text):
            if kind in ("month_short", "weekday_short") and _is_lower(rest, len(text)):
                return None  # "Janet" is a word, not a month (Go's startsWithLowerCase)
            return _Chunk(kind, text)
    return None


def _is_lower(text: str, at: int) -> bool:
    return at < len(text) and text[at].islower()


class TimeLayout:
    """One Go layout, compiled."""

    def __init__(self, layout: str) -> None:
        self.layout = layout
        self.chunks = _tokenize(layout)
        parts = []
        for chunk in self.chunks:
            if chunk.kind == "literal":
                parts.append(re.escape(chunk.text))
            elif chunk.kind == "fraction":
                digits = len(chunk.text) - 1
                dot = re.escape(chunk.text[0])
                parts.append(f"({dot}\\d{{{digits}}})" if chunk.text[1] == "0"
                             else f"((?:{dot}\\d{{1,9}})?)")
            elif chunk.kind.startswith(("tz_h", "tzz_")):
                z = "Z|" if chunk.kind.startswith("tzz_") else ""
                parts.append(f"({z}[+-]\\d\\d(?::?\\d\\d){{0,2}})")
            else:
                parts.append(_PATTERNS[chunk.kind])
        self._regex = re.compile("".join(parts))

    @property
    def resolution(self) -> timedelta:
        """The smallest step two formatted times can differ by."""
        for chunk in self.chunks:
            if chunk.kind == "fraction" and chunk.text[1] == "0":
                return timedelta(microseconds=max(1, 10 ** (6 - min(len(chunk.text) - 1, 6))))
        return timedelta(seconds=1)

    def format(self, when: datetime) -> str:
        """``when`` (aware) as the layout writes it."""
        out = []
        for chunk in self.chunks:
            out.append(chunk.text if chunk.kind == "literal" else _format_chunk(chunk, when))
        return "".join(out)

    def parse(self, text: str, local: bool = False) -> datetime | None:
        """The time ``text`` names (aware: UTC, or local time when ``local``,
        unless the text has an offset), or None when it does not match."""
        match = self._regex.fullmatch(text)
        if match is None:
            return None
        values = {"year": 1, "month": 1, "day": 1, "hour": 0, "minute": 0, "second": 0,
                  "micro": 0}
        pm: bool | None = None
        yearday = 0
        offset: timezone | None = None
        for chunk, value in zip((c for c in self.chunks if c.kind != "literal"),
                                match.groups(), strict=True):
            kind = chunk.kind
            if kind == "year":
                values["year"] = int(value)
            elif kind == "year_short":
                year = int(value)
                values["year"] = year + (1900 if year >= 69 else 2000)  # Go's pivot
            elif kind in ("month", "month_zero"):
                values["month"] = int(value)
            elif kind == "month_long":
                values["month"] = _MONTHS.index(value) + 1
            elif kind == "month_short":
                values["month"] = [m[:3] for m in _MONTHS].index(value) + 1
            elif kind in ("day", "day_zero", "day_space"):
                values["day"] = int(value)
            elif kind in ("yearday_zero", "yearday_space"):
                yearday = int(value)
            elif kind == "hour":
                values["hour"] = int(value)
            elif kind in ("hour12", "hour12_zero"):
                values["hour"] = int(value) % 12
            elif kind in ("minute", "minute_zero"):
                values["minute"] = int(value)
            elif kind in ("second", "second_zero"):
                values["second"] = int(value)
            elif kind == "fraction":
                digits = value[1:]
                values["micro"] = int((digits + "000000")[:6]) if digits else 0
            elif kind in ("pm_upper", "pm_lower"):
                pm = value.lower() == "pm"
            elif kind.startswith(("tz_h", "tzz_")):
                offset = _offset(value)
        if pm:
            values["hour"] += 12
        try:
            when = datetime(values["year"], values["month"], values["day"], values["hour"],
                            values["minute"], values["second"], values["micro"])
        except ValueError:
            return None
        if yearday:
            when = when.replace(month=1, day=1) + timedelta(days=yearday - 1)
        if offset is not None:
            return when.replace(tzinfo=offset)
        # astimezone() reads a naive time as local time
        return when.astimezone() if local else when.replace(tzinfo=timezone.utc)


def _offset(text: str) -> timezone:
    if text == "Z":
        return timezone.utc
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes, seconds = int(digits[:2]), int(digits[2:4] or 0), int(digits[4:6] or 0)
    return timezone(sign * timedelta(hours=hours, minutes=minutes, seconds=seconds))


def _format_chunk(chunk: _Chunk, when: datetime) -> str:
    kind = chunk.kind
    simple = {
        "year": f"{when.year:04d}", "year_short": f"{when.year % 100:02d}",
        "month": str(when.month), "month_zero": f"{when.month:02d}",
        "month_long": _MONTHS[when.month - 1], "month_short": _MONTHS[when.month - 1][:3],
        "weekday_long": _DAYS[when.weekday()], "weekday_short": _DAYS[when.weekday()][:3],
        "day": str(when.day), "day_zero": f"{when.day:02d}", "day_space": f"{when.day:>2}",
        "yearday_zero": f"{when.timetuple().tm_yday:03d}",
        "yearday_space": f"{when.timetuple().tm_yday:>3}",
        "hour": f"{when.hour:02d}", "hour12": str(when.hour % 12 or 12),
        "hour12_zero": f"{when.hour % 12 or 12:02d}",
        "minute": str(when.minute), "minute_zero": f"{when.minute:02d}",
        "second": str(when.second), "second_zero": f"{when.second:02d}",
        "pm_upper": "PM" if when.hour >= 12 else "AM",
        "pm_lower": "pm" if when.hour >= 12 else "am",
    }
    if kind in simple:
        return simple[kind]
    if kind == "fraction":
        digits = len(chunk.text) - 1
        nanos = f"{when.microsecond:06d}000"[:digits]
        if chunk.text[1] == "9":  # trailing zeros (and then the dot) dropped
            nanos = nanos.rstrip("0")
            return chunk.text[0] + nanos if nanos else ""
        return chunk.text[0] + nanos
    if kind == "tz_name":
        return when.tzname() or "UTC"
    offset = when.utcoffset() or timedelta(0)
    if kind.startswith("tzz_") and not offset:
        return "Z"
    total = int(offset.total_seconds())
    sign = "-" if total < 0 else "+"
    hours, rest = divmod(abs(total), 3600)
    minutes, seconds = divmod(rest, 60)
    shape = kind.partition("_")[2]
    text = {"hhmmss": f"{hours:02d}{minutes:02d}{seconds:02d}",
            "hh:mm:ss": f"{hours:02d}:{minutes:02d}:{seconds:02d}",
            "hhmm": f"{hours:02d}{minutes:02d}", "hh:mm": f"{hours:02d}:{minutes:02d}",
            "hh": f"{hours:02d}"}[shape]
    return sign + text


def check_round_trip(layout: str) -> str | None:
    """Why ``layout`` cannot name backups (None when it can): the sample time
    timberjack uses, cut to the layout's precision, must parse back whole."""
    compiled = TimeLayout(layout)
    sample = datetime(2025, 5, 22, 23, 41, 59, 987654, tzinfo=timezone.utc)
    step = compiled.resolution
    micro = sample.microsecond - sample.microsecond % max(1, step // timedelta(microseconds=1))
    sample = sample.replace(microsecond=micro if step < timedelta(seconds=1) else 0)
    back = compiled.parse(compiled.format(sample))
    if back is None or back != sample:
        return ("a time written with it does not read back the same (it must name the "
                "year, month, day, hour, minute and second)")
    return None
