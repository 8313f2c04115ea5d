"""The HTTP date (RFC 9110 §5.6.7's IMF-fixdate): ``Sun, 06 Nov 1994 08:49:37 GMT``.

What ``email.utils.formatdate(t, usegmt=True)`` writes, without loading the
email package (some twenty modules, about 1.5 MB in every worker) for one
line: the Date header and the ``{time.now.http}`` placeholder need only
this. English day and month names always, whatever the locale.
"""

from __future__ import annotations

import time

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(timestamp: float | None = None) -> str:
    """The IMF-fixdate of a Unix time (now when None)."""
    t = time.gmtime(timestamp)
    return (f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT")
