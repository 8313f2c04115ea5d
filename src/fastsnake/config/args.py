"""Argument helpers every directive and option parser shares, and Caddy's
value syntax (durations, byte sizes).

They sit on a Dispenser, as Caddy's own helpers do, so that any parser can
use them without importing another parser's module.
"""

from __future__ import annotations

import re

from fastsnake.caddyfile import Dispenser
from fastsnake.request.placeholders import PlaceholderError, Template


def expect_no_args(d: Dispenser) -> None:
    """The current line must end here, with no block either."""
    name = d.val()
    if d.next_arg():
        d.arg_err()
    refuse_block(d, name)


def expect_one_arg(d: Dispenser) -> str:
    """The single argument of the current line; anything else is an ArgErr."""
    if not d.next_arg():
        d.arg_err()
    value = d.val()
    if d.next_arg():
        d.arg_err()
    refuse_block(d, value)
    return value


def check_placeholders(d: Dispenser, value: str) -> str:
    """Unknown placeholders are an error at load, not a surprise per request."""
    try:
        Template(value)
    except PlaceholderError as exc:
        d.errf("%s", exc)
    return value


def refuse_block(d: Dispenser, after: str) -> None:
    if d.next_block(d.nesting):
        d.prev()  # point at the "{"
        d.errf("unexpected block after '%s'", after)


# -- Caddy's value syntax ----------------------------------------------------

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "\u00b5s": 1e-6,  # micro sign
    "\u03bcs": 1e-6,  # Greek mu
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,  # Caddy's addition to Go's units
}


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([^\d.]*)")


def parse_duration(text: str) -> float:
    """A Caddy duration (Go's ``time.ParseDuration`` plus ``d``) in seconds.

    ``1h30m``, ``500ms``, ``1.5d``, ``-2s``. A unit is required except for a
    bare ``0``, as in Go, since a unitless number means nanoseconds there and
    nobody means that.
    """
    body = text[1:] if text[:1] in ("+", "-") else text
    sign = -1.0 if text.startswith("-") else 1.0
    if body == "0":
        return 0.0
    if not body:
        raise ValueError("empty duration")
    total = 0.0
    pos = 0
    while pos < len(body):
        match = _DURATION_PART.match(body, pos)
        if match is None:
            raise ValueError("expected a number followed by a unit such as 's' or 'ms'")
        number, unit = match.groups()
        if not unit:
            raise ValueError("missing unit (e.g. '10s', '1m30s', '500ms', '1d')")
        if unit not in _UNITS:
            raise ValueError(f"unknown unit '{unit}' (use ns, us, ms, s, m, h or d)")
        total += float(number) * _UNITS[unit]
        pos = match.end()
    return sign * total


_SIZE_UNITS = {"": 1, "b": 1}


for _i, _prefix in enumerate("kmgtpe", start=1):
    _SIZE_UNITS[_prefix] = _SIZE_UNITS[_prefix + "b"] = 1000**_i
    _SIZE_UNITS[_prefix + "i"] = _SIZE_UNITS[_prefix + "ib"] = 1024**_i


_SIZE = re.compile(r"([\d.,]*)\s*(.*)")


def parse_size(text: str) -> int:
    """A byte size as Caddy reads it (go-humanize): ``16KB``, ``1MiB``, ``1mb``, ``512``.

    Units are case-insensitive; ``KB`` is 1000 bytes and ``KiB`` 1024.
    """
    match = _SIZE.fullmatch(text.strip())
    assert match is not None  # the pattern matches any string
    number, unit = match[1].replace(",", ""), match[2].strip().lower()
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"invalid size '{text}'") from None
    if unit not in _SIZE_UNITS:
        raise ValueError(f"unhandled size name: {unit}")
    return int(value * _SIZE_UNITS[unit])
