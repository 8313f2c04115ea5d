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

A JSON line is made in C (``fastsnake.routing._accessline``, byte for byte
what ``_json_line`` below makes of the entry, which stays the reference and
writes what the C line leaves to it); the lines are written by
``fastsnake.routing.logwriter``.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Callable
from typing import Any

from fastsnake.config.log import LEVELS, AccessLogSpec, ServerLogSpec
from fastsnake.routing._accessline import LineLog
from fastsnake.routing.logfiles import reopen_files
from fastsnake.routing.logwriter import LineWriter, Reporter, open_writer, to_stderr, warn

__all__ = [
    "AccessLogger",
    "LineWriter",
    "canonical_header",
    "configure_server_log",
    "open_writer",
    "reopen_files",
]

log = logging.getLogger("fastsnake.accesslog")

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


class AccessLogger(LineLog):
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
        self.writer = open_writer(output, spec.location, warn)
        self._encode = _ENCODERS[_resolve_format(format, self.writer)]
        rank = _LEVEL_RANK[level]
        self.info_enabled = not self.writer.discards and rank <= _LEVEL_RANK["INFO"]
        self.error_enabled = not self.writer.discards and rank <= _LEVEL_RANK["ERROR"]
        self._logger = spec.logger
        self.redact = not log_credentials
        # ``log`` (LineLog's, in C) writes a JSON line itself around these
        # fixed pieces: up to the ts value per level, then to remote_ip's.
        self.fast = self._encode is _json_line
        self.head_info, self.head_error = (('{"level":' + _dumps(name) + ',"ts":').encode()
                                           for name in ("info", "error"))
        self.middle = (',"logger":' + _dumps(spec.logger)
                       + ',"msg":"handled request","request":{"remote_ip":').encode()
        self.skip, self.chunked_skip = _NOT_REQUEST_HEADERS, _NOT_CHUNKED_HEADERS
        self.sensitive, self.canonical = _SENSITIVE, _CANONICAL
        self.canonical_header = canonical_header
        self.reporter = Reporter(f"access log {spec.logger} ({spec.location})")

    @property
    def enabled(self) -> bool:
        """False when nothing would ever be written (``output discard``, level above ERROR)."""
        return self.info_enabled or self.error_enabled

    def python_line(self, level: str, ts: float, request: Any, status: int, size: int,
                    duration: float, response_headers: list[tuple[bytes, bytes]],
                    bytes_read: int) -> bytes:
        """The line ``log`` leaves to the Python encoder (a console format, a
        repeated header name, a request of another kind); ts and duration
        already to the microsecond."""
        return self._encode(level, ts, self._logger, "handled request",
                            self._fields(request, status, size, duration, response_headers,
                                         bytes_read))

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
            "headers": _header_map(request.headers, self.redact,
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
            "resp_headers": _header_map(response_headers, self.redact),
        }

    def close(self) -> None:
        self.writer.close(tidy=True)  # a worker stopping
        self.info_enabled = self.error_enabled = False


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
        self.reporter = Reporter(f"fastsnake: server log ({spec.location})", to_stderr)

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
