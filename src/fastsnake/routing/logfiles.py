"""The log files this process has open, so that SIGUSR1 can have every one
reopened by path (logrotate's postrotate).

Apart from accesslog.py, which writes the lines: the supervisor, and a worker
whose sites write no log, answer SIGUSR1 without loading the writers, their
rolling and JSON encoding (server/memory.py says why every module counts).
"""

from __future__ import annotations

import weakref
from typing import Protocol


class Reopenable(Protocol):
    def request_reopen(self) -> None: ...


_OPEN: weakref.WeakSet[Reopenable] = weakref.WeakSet()


def track(writer: Reopenable) -> None:
    _OPEN.add(writer)


def forget(writer: Reopenable) -> None:
    _OPEN.discard(writer)


def reopen_files() -> None:
    """Have every log file of this process reopened by path before its next
    line (SIGUSR1, after logrotate renamed them). Only marks the writers, so
    it is safe in a signal handler."""
    for writer in list(_OPEN):
        writer.request_reopen()
