"""Access log lines in Caddy's shape, and the global ``log`` option applied.

One request, one line, shaped as Caddy writes it (``modules/caddyhttp/
server.go`` ``logRequest`` and ``marshalers.go`` ``LoggableHTTPRequest``), so
that tools that read Caddy's access logs read these::

    {"level":"info","ts":1700000000.123,"logger":"http.log.access.log0",
     "msg":"handled request","request":{"remote_ip":"127.0.0.1",
     "remote_port":"41342","client_ip":"127.0.0.1","proto":"HTTP/1.1",
     "method":"GET","host":"example.com","uri":"/a?b=1",
     "headers":{"User-Agent":["curl/8.5.0"]}},"bytes_read":0,"user_id":"",
     "duration":0.000412,"size":5,"status":200,"resp_headers":{...}}

As in Caddy: header names are Go's canonical form (``User-Agent``) mapping to
a list of values; ``Host`` is not among the request headers (Go moves it to
``host``), nor is ``Transfer-Encoding`` (Go moves it to
``transfer_encoding``); the values of Cookie, Set-Cookie, Authorization and
Proxy-Authorization become the single value ``REDACTED`` unless
``log_credentials`` is set (``internal/logmarshalers.go``); entries are INFO,
or ERROR when the status is 5xx; ``uri`` is the request target as received,
before any rewrite. fastsnake has no authentication, so ``user_id`` is
always empty; the ``tls`` object of HTTPS requests is not logged.

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
import json
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from fastsnake.config.log import LEVELS, AccessLogSpec, LogOutput, ServerLogSpec
from fastsnake.errors import ConfigError
from fastsnake.routing.logfiles import forget, reopen_files, track
from fastsnake.routing.logroll import Roller, RollPolicy, hold_shared

__all__ = [
    "AccessLogger",
    "LineWriter",
    "canonical_header",
    "configure_server_log",
    "open_writer",
    "reopen_files",
]

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
                                      warn or _to_stderr)
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


def _warn(message: str) -> None:
    log.warning("%s", message)


def _to_stderr(message: str) -> None:
    try:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):
        pass


class _Reporter:
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


# -- formats ----------------------------------------------------------------

_LEVEL_RANK = {name: rank for rank, name in enumerate(LEVELS)}
# One encoder for every line (json.dumps with options builds one per call); the
# entries are plain dicts built here, so the cycle check is wasted work.
_dumps = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode
_wall_cache = (-1, "")  # (second, its text): one assignment, so threads see a pair


def _wall(ts: float) -> str:
    """``2006/01/02 15:04:05.000`` in UTC: Caddy's console time (wall_milli)."""
    global _wall_cache
    second = int(ts)
    cached_second, text = _wall_cache
    if second != cached_second:
        text = time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(second))
        _wall_cache = (second, text)
    return f"{text}.{int((ts - second) * 1000):03d}"


def _resolve_format(format: str, writer: LineWriter) -> str:
    """Caddy's default encoder: console on a terminal, JSON anywhere else."""
    if format:
        return format
    return "console" if writer.is_terminal() else "json"


def _json_line(level: str, ts: float, logger: str, msg: str, fields: dict[str, Any]) -> bytes:
    entry = {"level": level, "ts": ts, "logger": logger, "msg": msg}
    entry.update(fields)
    return (_dumps(entry) + "\n").encode()


def _console_line(level: str, ts: float, logger: str, msg: str, fields: dict[str, Any]) -> bytes:
    # zap's console encoder: time, LEVEL, logger, message, then the fields as JSON.
    tail = "\t" + _dumps(fields) if fields else ""
    return f"{_wall(ts)}\t{level.upper()}\t{logger}\t{msg}{tail}\n".encode()


_ENCODERS: dict[str, Callable[[str, float, str, str, dict[str, Any]], bytes]] = {
    "json": _json_line,
    "console": _console_line,
}

# -- headers ----------------------------------------------------------------

_SENSITIVE = frozenset({"Cookie", "Set-Cookie", "Authorization", "Proxy-Authorization"})
_REDACTED = ("REDACTED",)  # a tuple: shared by every entry, so it must not change
_CANONICAL: dict[bytes, str] = {}
_CANONICAL_MAX = 1024  # client-chosen names must not grow the cache without bound
_TOKEN_CHARS = frozenset(b"!#$%&'*+-.^_`|~0123456789"
                         b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def canonical_header(name: bytes) -> str:
    """Go's ``CanonicalMIMEHeaderKey``: ``content-type`` -> ``Content-Type``.

    A name with a byte that is not a token character is left as it is, as Go
    leaves it.
    """
    text = _CANONICAL.get(name)
    if text is not None:
        return text
    if all(byte in _TOKEN_CHARS for byte in name):
        text = "-".join(part[:1].upper() + part[1:].lower()
                        for part in name.decode("ascii").split("-"))
    else:
        text = name.decode("latin-1")
    if len(_CANONICAL) < _CANONICAL_MAX:
        _CANONICAL[name] = text
    return text


def _header_map(headers: list[tuple[bytes, bytes]], redact: bool,
                skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in headers:
        key = _CANONICAL.get(name) or canonical_header(name)
        if key in skip:
            continue
        if redact and key in _SENSITIVE:
            out[key] = _REDACTED
            continue
        values = out.get(key)
        if values is None:
            out[key] = [value.decode("latin-1")]
        else:
            values.append(value.decode("latin-1"))
    return out


_NOT_REQUEST_HEADERS = frozenset({"Host"})
_NOT_CHUNKED_HEADERS = frozenset({"Host", "Transfer-Encoding"})
_CHUNKED = ("chunked",)
_PROTOS = {0: "HTTP/1.0", 1: "HTTP/1.1"}

# -- access logs ------------------------------------------------------------


class AccessLogger:
    """Writes the access log of one ``log`` directive.

    ``log`` is the per-request call (the protocol's ResponseFilter calls it
    when a response is complete); it never raises. ``server_log`` is the
    global ``log`` option: a ``log`` directive that configures nothing writes
    where the server log does, as Caddy's default logger would.
    ``log_credentials`` is Caddy's ``servers { log_credentials }``.
    """

    def __init__(self, spec: AccessLogSpec, *, server_log: ServerLogSpec | None = None,
                 log_credentials: bool = False) -> None:
        output, format, level = spec.output, spec.format, spec.level
        if spec.default_sink and server_log is not None:
            output, format = server_log.output, server_log.format
            level = server_log.level or "INFO"
        self.spec = spec
        self._writer = open_writer(output, spec.location, _warn)
        self._encode = _ENCODERS[_resolve_format(format, self._writer)]
        rank = _LEVEL_RANK[level]
        self._info = not self._writer.discards and rank <= _LEVEL_RANK["INFO"]
        self._error = not self._writer.discards and rank <= _LEVEL_RANK["ERROR"]
        self._logger = spec.logger
        self._redact = not log_credentials
        self._reporter = _Reporter(f"access log {spec.logger} ({spec.location})")

    @property
    def enabled(self) -> bool:
        """False when nothing would ever be written (``output discard``, level above ERROR)."""
        return self._info or self._error

    def log(self, request: Any, status: int, size: int, duration: float,
            response_headers: list[tuple[bytes, bytes]], bytes_read: int) -> None:
        """Write the entry for one finished request (``request`` is an HttpRequest)."""
        if status >= 500:
            if not self._error:
                return
            level = "error"
        elif self._info:
            level = "info"
        else:
            return
        try:
            line = self._encode(level, time.time(), self._logger, "handled request",
                                self._fields(request, status, size, duration,
                                             response_headers, bytes_read))
            self._writer.write(line)
        except Exception as exc:  # never into the server: OSError, or a bad value
            self._reporter.failed(exc)
        else:
            if self._reporter.failing:
                self._reporter.recovered()

    def _fields(self, request: Any, status: int, size: int, duration: float,
                response_headers: list[tuple[bytes, bytes]], bytes_read: int
                ) -> dict[str, Any]:
        peer = request.peer
        if isinstance(peer, tuple) and len(peer) >= 2:
            ip, port = str(peer[0]), str(peer[1])
        else:  # a Unix socket: Go logs the address whole and no port
            ip, port = str(peer or ""), ""
        chunked = request.chunked
        req: dict[str, Any] = {
            "remote_ip": ip,
            "remote_port": port,
            "client_ip": (request.vars or {}).get("client_ip") or ip,
            "proto": _PROTOS.get(request.http_minor) or f"HTTP/1.{request.http_minor}",
            "method": request.method.decode("latin-1"),
            "host": request.host.decode("latin-1"),
            "uri": request.target.decode("latin-1"),
            "headers": _header_map(request.headers, self._redact,
                                   _NOT_CHUNKED_HEADERS if chunked else _NOT_REQUEST_HEADERS),
        }
        if chunked:
            req["transfer_encoding"] = _CHUNKED
        return {
            "request": req,
            "bytes_read": bytes_read,
            "user_id": "",
            "duration": duration,
            "size": size,
            "status": status,
            "resp_headers": _header_map(response_headers, self._redact),
        }

    def close(self) -> None:
        self._writer.close(tidy=True)  # a worker stopping
        self._info = self._error = False


# -- the server's own log (global ``log`` option) ---------------------------

_PY_LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARN": logging.WARNING,
              "ERROR": logging.ERROR, "PANIC": logging.CRITICAL, "FATAL": logging.CRITICAL}
_ZAP_LEVELS = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warn",
               logging.ERROR: "error", logging.CRITICAL: "fatal"}


class _ServerLogHandler(logging.Handler):
    """A ``logging`` handler writing Caddy-shaped lines through a LineWriter."""

    def __init__(self, spec: ServerLogSpec) -> None:
        super().__init__()
        self.writer = open_writer(spec.output, spec.location)
        self.format_name = _resolve_format(spec.format, self.writer)
        # its failures cannot go through logging: this handler is where they would go
        self.reporter = _Reporter(f"fastsnake: server log ({spec.location})", _to_stderr)

    def emit(self, record: logging.LogRecord) -> None:
        if self.writer.discards:
            return
        try:
            level = _ZAP_LEVELS.get(record.levelno) or record.levelname.lower()
            message = record.getMessage()
            trace = ""
            if record.exc_info:
                trace = "".join(traceback.format_exception(*record.exc_info)).rstrip()
            elif record.stack_info:
                trace = record.stack_info
            if self.format_name == "json":
                fields = {"stacktrace": trace} if trace else {}
                line = _json_line(level, record.created, record.name, message, fields)
            else:
                line = _console_line(level, record.created, record.name, message, {})
                if trace:  # still one write: the traceback's lines stay together
                    line += trace.encode() + b"\n"
            self.writer.write(line)
        except Exception as exc:
            self.reporter.failed(exc)
        else:
            if self.reporter.failing:
                self.reporter.recovered()

    def close(self) -> None:
        self.writer.close()
        super().close()


_SERVER_LOGGER = "fastsnake"


def configure_server_log(spec: ServerLogSpec | None, *, debug: bool = False) -> None:
    """Apply the global ``log`` option to the ``fastsnake`` loggers.

    Installs one handler on the ``fastsnake`` logger (replacing the one a
    previous call installed, so calling again, e.g. on reload, is safe) and
    sets its level: the option's ``level``, else DEBUG when ``debug`` is set
    (Caddy's ``debug`` option), else INFO. Records stop propagating to the
    root logger, so they are not written twice. ``None`` undoes all that.
    """
    logger = logging.getLogger(_SERVER_LOGGER)
    new = _ServerLogHandler(spec) if spec is not None else None  # may raise: before any change
    for handler in list(logger.handlers):
        if isinstance(handler, _ServerLogHandler):
            logger.removeHandler(handler)
            handler.close()
    if spec is None or new is None:
        logger.setLevel(logging.NOTSET)
        logger.propagate = True
        return
    level = spec.level or ("DEBUG" if debug else "INFO")
    logger.addHandler(new)
    logger.setLevel(_PY_LEVELS[level])
    logger.propagate = False
