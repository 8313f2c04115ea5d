"""Writing log lines: one ``os.write`` per line on an ``O_APPEND`` descriptor.

Several worker processes append to one file, so each line is exactly one
``os.write`` on an ``O_APPEND`` descriptor: the kernel places every write at
the current end, whole, and lines never interleave. Files are rolled as Caddy
rolls them, by whichever process finds them due (``fastsnake.routing.logroll``);
with ``roll_disabled``, logrotate's ``copytruncate`` works as is, a file renamed
away is noticed (one ``stat`` a second at most) and reopened, and SIGUSR1 has
every process reopen its files at once (:func:`reopen_files`).

Logging must never break serving: a failed write is reported once through
``logging`` and the request goes on.
"""

from __future__ import annotations

import errno
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from fastsnake.config.log import LogOutput
from fastsnake.errors import ConfigError
from fastsnake.routing.logfiles import forget, track
from fastsnake.routing.logroll import Roller, RollPolicy, hold_shared

__all__ = ["LineWriter", "Reporter", "open_writer", "to_stderr", "warn"]

log = logging.getLogger("fastsnake.accesslog")

# -- writing lines ----------------------------------------------------------

_REOPEN_CHECK = 1.0  # seconds between checks that a log file was renamed away
_ROLL_CHECK = 0.1    # the same when fastsnake rolls it: also how stale a size may be
_OPEN_FLAGS = (os.O_WRONLY | os.O_APPEND | os.O_CREAT
               | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
_NO_BUDGET = sys.maxsize


class LineWriter:
    """Appends whole lines to one output, one ``os.write`` per line.

    Standard streams are written through their descriptors (not owned, never
    closed); a file is opened ``O_APPEND`` as Caddy opens it (mode 0600 and
    parent directories 0700 unless configured), and rolled unless
    ``roll_disabled`` (see ``fastsnake.routing.logroll``). ``write`` raises
    OSError; rolling problems go to ``warn`` instead, once, and the lines
    keep going to the file as it is.

    The descriptor number never changes while the writer is open: a reopen
    ``dup2``s the new file onto it, so a thread writing meanwhile appends to
    the old file or the new one, never to a closed or reused descriptor.
    """

    def __init__(self, output: LogOutput, warn: Callable[[str], None] | None = None) -> None:
        self.output = output
        self.fd = -1
        self.owned = False
        self._check_at = 0.0
        # Bytes this writer may append before it looks at the file again
        # (and what that count started from): a count, not a syscall, per line.
        self._budget = self._budget_start = _NO_BUDGET
        self._ident: tuple[int, int] | None = None
        self._reopen = False
        self._checking = threading.Lock()
        self._roller: Roller | None = None
        # A line was cut short and could not be removed: end it before the next.
        self._torn = False
        if output.kind == "stdout":
            self.fd = _std_fd(sys.stdout, 1)
        elif output.kind == "stderr":
            self.fd = _std_fd(sys.stderr, 2)
        elif output.kind == "file":
            assert output.path is not None
            if output.roll:
                self._roller = Roller(output.path, RollPolicy.of(output), self._file_mode(),
                                      warn or to_stderr)
            self._open()
            track(self)

    @property
    def discards(self) -> bool:
        return self.output.kind == "discard"

    @property
    def roller(self) -> Roller | None:
        return self._roller

    def is_terminal(self) -> bool:
        try:
            return self.fd >= 0 and not self.owned and os.isatty(self.fd)
        except OSError:
            return False

    def request_reopen(self) -> None:
        self._reopen = True
        self._check_at = 0.0

    def _file_mode(self) -> int:
        return self.output.mode if self.output.mode is not None else 0o600

    def _open(self) -> None:
        output = self.output
        assert output.path is not None
        path = output.path
        directory = os.path.dirname(path)
        if directory and not os.path.isdir(directory):
            os.makedirs(directory, _dir_mode(output, directory))
        for _ in range(100):
            fd = os.open(path, _OPEN_FLAGS, self._file_mode())
            try:
                info = os.fstat(fd)
                if self._roller is not None and not self._holds(fd, info):
                    os.close(fd)  # rolled away meanwhile: open the new one
                    continue
                if output.mode is not None and info.st_mode & 0o777 != output.mode:
                    os.chmod(path, output.mode)  # an existing file keeps its mode otherwise
            except OSError:
                os.close(fd)
                raise
            break
        else:
            raise OSError(errno.EAGAIN, "the file kept being rolled away while opening it")
        if self.fd >= 0 and self.owned:
            os.dup2(fd, self.fd, inheritable=False)
            os.close(fd)
        else:
            self.fd, self.owned = fd, True
        self._ident = (info.st_dev, info.st_ino)
        now = time.monotonic()
        if self._roller is not None:
            self._check_at = now + _ROLL_CHECK
            self._roller.started(info.st_size, time.time())
            self._set_budget(self._roller.plan(info.st_size, 0))
        else:
            self._check_at = now + _REOPEN_CHECK

    def _holds(self, fd: int, info: os.stat_result) -> bool:
        """Take the appender's shared lock, then make sure the path still
        names this file: once both hold, it cannot be compressed under us."""
        if not hold_shared(fd):
            return False
        assert self.output.path is not None
        try:
            now = os.stat(self.output.path)
        except FileNotFoundError:
            return False
        return (now.st_dev, now.st_ino) == (info.st_dev, info.st_ino)

    def _set_budget(self, budget: int) -> None:
        self._budget = self._budget_start = budget

    def write(self, line: bytes) -> None:
        self._budget -= len(line)
        if self.owned and (self._budget < 0 or time.monotonic() >= self._check_at):
            self._check()
        if self.fd < 0:
            return
        if self._torn:
            line = b"\n" + line
        written = os.write(self.fd, line)
        while written < len(line):
            # Only a full disk or a pipe can cut a write short; finish the
            # line, or take back its start so no entry is glued onto it.
            try:
                more = os.write(self.fd, line[written:])
            except OSError:
                self._take_back(written)
                raise
            written += more
        self._torn = False

    def _take_back(self, length: int) -> None:
        """Remove the last ``length`` bytes we wrote, if they still end the
        file (a file, nobody appended since); else remember to end that line."""
        try:
            end = os.lseek(self.fd, 0, os.SEEK_CUR)
            if os.fstat(self.fd).st_size == end and end >= length:
                os.ftruncate(self.fd, end - length)
                return
        except OSError:
            pass  # a pipe or a terminal: nothing to take back
        self._torn = True

    def _check(self) -> None:
        """Look at the file: follow a rename (a roll elsewhere, logrotate,
        SIGUSR1), and roll it when due. One thread at a time; the others write on."""
        if not self._checking.acquire(blocking=False):
            return
        try:
            roller = self._roller
            self._check_at = time.monotonic() + (_REOPEN_CHECK if roller is None
                                                 else _ROLL_CHECK)
            if self._reopen:
                self._reopen = False
                self._open()
                return
            assert self.output.path is not None
            try:
                info: os.stat_result | None = os.stat(self.output.path)
            except FileNotFoundError:
                info = None
            if info is None or (info.st_dev, info.st_ino) != self._ident:
                self._open()  # renamed away: start the file now at the path
                return
            if roller is None:
                self._set_budget(_NO_BUDGET)
                return
            reason = roller.due(info.st_size, time.time())
            if reason is None:
                self._set_budget(roller.plan(info.st_size, self._budget_start - self._budget))
                return
            roller.roll(reason, self._ident, self._open)
        finally:
            self._checking.release()

    def close(self, tidy: bool = False) -> None:
        """Close the file; ``tidy``: then compress and prune its backups once
        (a stopping worker: the last one to let go finds none held, so the
        backups are left as roll_keep says, even if a mill was cut short)."""
        forget(self)
        if self.owned and self.fd >= 0:
            os.close(self.fd)
        self.fd = -1
        self.owned = False
        if tidy and self._roller is not None:
            self._roller.tidy()


def _std_fd(stream: Any, default: int) -> int:
    try:
        return int(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return default


def _dir_mode(output: LogOutput, directory: str) -> int:
    value = output.dir_mode
    if value is None:
        return 0o700
    if value == "from_file":
        mode = output.mode if output.mode is not None else 0o600
        return _with_search(mode) | 0o200
    if value == "inherit":
        parent = directory
        while not os.path.isdir(parent) and os.path.dirname(parent) != parent:
            parent = os.path.dirname(parent)
        return _with_search(os.stat(parent).st_mode & 0o777)
    return int(value, 8)


def _with_search(mode: int) -> int:
    """r implies x on directories (0644 -> 0755), as Caddy's dir_mode does."""
    return mode | ((mode & 0o444) >> 2)


def open_writer(output: LogOutput, location: str,
                warn: Callable[[str], None] | None = None) -> LineWriter:
    """A LineWriter, or a ConfigError saying where and why the file cannot be opened."""
    try:
        return LineWriter(output, warn)
    except OSError as exc:
        raise ConfigError(f"{location}: cannot open log file '{output.path}': "
                          f"{exc.strerror or exc}") from None


def warn(message: str) -> None:
    log.warning("%s", message)


def to_stderr(message: str) -> None:
    try:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):
        pass


class Reporter:
    """Says that writing a log failed, once, and again when it works once more."""

    def __init__(self, what: str, say: Callable[[str], None] | None = None) -> None:
        self.what = what
        self.failing = False
        self.say = say

    def failed(self, exc: BaseException) -> None:
        if not self.failing:
            self.failing = True
            message = (f"{self.what} failed (further failures are not reported until it "
                       f"works again): {exc!r}")
            if self.say is not None:
                self.say(message)
            else:
                log.error("%s", message)

    def recovered(self) -> None:
        self.failing = False
        if self.say is not None:
            self.say(f"{self.what} works again")
        else:
            log.warning("%s works again", self.what)
