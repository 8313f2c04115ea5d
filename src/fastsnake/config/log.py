"""The ``log`` directive (access logs) and the global ``log`` option (the server's log).

Both follow Caddy's grammar (``caddyconfig/httpcaddyfile/builtins.go``,
``parseLogHelper``), so a copied Caddyfile means the same thing here::

    log [<name>] {
        hostnames <hostnames...>          # directive only
        output stderr | stdout | discard | file <path> {
            mode <octal>  dir_mode <octal|inherit|from_file>
            roll_disabled  roll_size <size>  roll_keep <n>  roll_keep_for <duration>
            roll_local_time  roll_uncompressed  roll_compression none|gzip|zstd
            roll_interval <duration>  roll_minutes <m...>  roll_at <hh:mm...>
            backup_time_format <layout>
        }
        format json | console
        level DEBUG | INFO | WARN | ERROR | PANIC | FATAL
    }

Names, as Caddy gives them: a site's ``log`` that configures something and
has no name is called ``log0``, ``log1``... in Caddyfile order (the caller
keeps the counter; see :attr:`AccessLogSpec.auto_named`), and its entries go
to the logger ``http.log.access.<name>``. A ``log`` that configures nothing
(``log`` or ``log name`` alone) writes through Caddy's *default* logger, the
one the global ``log`` option configures; :attr:`AccessLogSpec.default_sink`
says so.

Rolling, as Caddy's file writer (timberjack) does it: a file that reaches
``roll_size`` (100 MiB), or is due by ``roll_interval``/``roll_minutes``/
``roll_at``, is renamed to ``<name>-<time>-<size|time><ext>`` and a new one
started; backups are gzip-compressed and pruned to ``roll_keep`` (10) and
``roll_keep_for`` (90 days). fastsnake's worker processes all append to one
file, so the rolling is done by whichever of them sees the need first, under
a lock that makes it happen once (``fastsnake.routing.logroll`` explains
how). Differences from Caddy: ``roll_size`` is used to the byte (Caddy
rounds it up to whole MiB), ``roll_compression zstd`` needs Python 3.14's
``compression.zstd`` (as ``encode zstd`` does), a ``backup_time_format``
that cannot name two backups apart is refused, and an idle server rolls at
its next line rather than on the minute. For logrotate, ``roll_disabled``
and SIGUSR1 (every process reopens its files) or ``copytruncate``.

What Caddy has and fastsnake does not (``sampling``, ``core``, ``output
net``, ``format filter``/``append``/``transform``, encoder options) is refused
with a ``file:line`` error that says so, rather than ignored.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

from fastsnake.caddyfile import Dispenser, Segment, Token
from fastsnake.config.args import expect_no_args, expect_one_arg, parse_duration, parse_size
from fastsnake.config.directives import zstd_available
from fastsnake.config.timelayout import check_round_trip

__all__ = [
    "LEVELS",
    "AccessLogSpec",
    "LogOutput",
    "ServerLogSpec",
    "parse_global_log",
    "parse_log_directive",
]

LEVELS = ("DEBUG", "INFO", "WARN", "ERROR", "PANIC", "FATAL")
"""Caddy's log levels (zap's), lowest first; written in any case."""

_OUTPUTS = ("stderr", "stdout", "discard", "file")
_FORMATS = ("json", "console")
# Caddy modules fastsnake lacks: named so the error says "not supported by
# fastsnake" instead of suggesting a typo.
_CADDY_OUTPUTS = frozenset({"net"})
_CADDY_FORMATS = frozenset({"filter", "append", "journald", "transform", "single_field"})
_ENCODER_OPTIONS = frozenset(
    "message_key level_key time_key name_key caller_key stacktrace_key line_ending "
    "time_format time_local duration_format level_format".split()
)
_COMPRESSIONS = ("none", "gzip", "zstd")
_OCTAL = re.compile(r"[0-7]{1,4}")
_INTEGER = re.compile(r"[+-]?\d+")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")


@dataclass(frozen=True)
class LogOutput:
    """Where log lines go: ``stderr``, ``stdout``, ``discard`` or ``file``.

    For a file, ``path`` is absolute and the rest is Caddy's file writer:
    ``mode`` (0600 when None) applies to the file, ``dir_mode`` to parent
    directories it creates (0700 when None; or ``inherit``/``from_file``).
    The ``roll_*`` values are kept as written (``roll_size`` in bytes,
    ``roll_keep_for`` in whole days as Caddy rounds it, ``roll_interval`` in
    seconds); None or 0 means Caddy's default (see ``routing.logroll``).
    """

    kind: str = "stderr"
    path: str | None = None
    mode: int | None = None
    dir_mode: str | None = None
    roll: bool = True
    roll_size: int | None = None
    roll_keep: int | None = None
    roll_keep_days: int | None = None
    roll_local_time: bool = False
    roll_compression: str | None = None
    roll_interval: float | None = None
    roll_minutes: tuple[int, ...] = ()
    roll_at: tuple[str, ...] = ()
    backup_time_format: str | None = None


@dataclass(frozen=True)
class AccessLogSpec:
    """One ``log`` directive of a site block.

    ``format`` is ``json``, ``console``, or ``""`` for Caddy's default (console
    when writing to a terminal, else JSON). ``level`` is the lowest level
    written: access entries are INFO, or ERROR for a 5xx status.
    ``hostnames`` replaces the site's own hosts when not empty.
    """

    name: str
    output: LogOutput
    format: str = ""
    level: str = "INFO"
    location: str = ""
    hostnames: tuple[str, ...] = ()
    auto_named: bool = False
    """The name is ``log<index>``: the caller's counter moves on (Caddy's logCounter)."""
    default_sink: bool = False
    """Nothing was configured: entries go where the global ``log`` option says."""

    @property
    def logger(self) -> str:
        """The ``logger`` field of each entry, as Caddy names it."""
        return f"http.log.access.{self.name}" if self.name else "http.log.access"


@dataclass(frozen=True)
class ServerLogSpec:
    """The global ``log`` option: fastsnake's own log (the ``fastsnake`` loggers).

    ``level`` is ``""`` when not written, so that the ``debug`` option can
    still lower it to DEBUG, as in Caddy.
    """

    output: LogOutput = LogOutput()
    format: str = ""
    level: str = ""
    location: str = ""


def parse_log_directive(segment: Segment, base_dir: str, index: int) -> AccessLogSpec:
    """Read one site ``log`` segment; relative file paths resolve against ``base_dir``.

    ``index`` is how many unnamed, configured ``log`` directives came before
    this one in the Caddyfile; it names this one ``log<index>`` if it needs a
    name (and then :attr:`AccessLogSpec.auto_named` is set).
    """
    d = Dispenser(segment)
    d.next()
    directive = d.token()
    name = _name(d)
    body = _Body(d, base_dir, global_option=False)
    configured = body.configured
    auto_named = not name and configured
    if auto_named:
        name = f"log{index}"
    return AccessLogSpec(
        name=name,
        output=body.output,
        format=body.format,
        level=body.level or "INFO",
        location=directive.location,
        hostnames=tuple(body.hostnames),
        auto_named=auto_named,
        default_sink=not configured,
    )


def parse_global_log(d: Dispenser, base_dir: str, seen: bool) -> ServerLogSpec:
    """Read the global ``log`` option at ``d`` (its name is the current token).

    ``seen``: a global ``log`` was already read, which makes this a duplicate.
    Only Caddy's default logger (``log`` or ``log default``) exists here:
    fastsnake has one log of its own.
    """
    directive = d.token()
    name = _name(d) or "default"
    if name != "default":
        d.errf(
            "global log '%s' is not supported by fastsnake: only the default logger "
            "('log' or 'log default') can be configured",
            name,
        )
    if seen:
        d.errf("duplicate global log option for: %s", name)
    body = _Body(d, base_dir, global_option=True)
    return ServerLogSpec(body.output, body.format, body.level, directive.location)


def _name(d: Dispenser) -> str:
    if not d.next_arg():
        return ""
    name = d.val()
    if d.next_arg():
        d.arg_err()
    return name


class _Body:
    """The block of a ``log`` directive or option, checked as Caddy checks it."""

    def __init__(self, d: Dispenser, base_dir: str, *, global_option: bool) -> None:
        self.d = d
        self.base_dir = base_dir
        self.output = LogOutput()
        self.format = ""
        self.level = ""
        self.hostnames: list[str] = []
        self.configured = False  # Caddy's "not an empty CustomLog"
        seen: set[str] = set()
        nesting = d.nesting
        while d.next_block(nesting):
            sub = d.val()
            if sub in ("output", "format", "level", "no_hostname", "sampling", "core"):
                if sub in seen:
                    d.errf("'%s' subdirective specified more than once in the same log block",
                           sub)
                seen.add(sub)
            if sub == "hostnames":
                if global_option:
                    d.err("hostnames is not allowed in the log global options")
                args = d.remaining_args()
                if not args:
                    d.arg_err()
                self.hostnames.extend(args)
            elif sub == "output":
                self.output = self._output()
                self.configured = True
            elif sub == "format":
                self.format = self._format()
                self.configured = True
            elif sub == "level":
                self.level = self._level()
                self.configured = True
            elif sub in ("include", "exclude"):
                if not global_option:
                    d.errf("%s is not allowed in the log directive", sub)
                d.errf("log option '%s' is not supported by fastsnake: its one log takes "
                       "every fastsnake logger", sub)
            elif sub == "no_hostname":
                d.err("log subdirective 'no_hostname' is not supported by fastsnake "
                      "(it goes with log_name, which fastsnake does not have)")
            elif sub in ("sampling", "core"):
                d.errf("log subdirective '%s' is not supported by fastsnake", sub)
            else:
                d.errf("unrecognized log subdirective '%s'", sub)

    def _output(self) -> LogOutput:
        d = self.d
        if not d.next_arg():
            d.arg_err()
        kind = d.val()
        if kind == "file":
            return self._file()
        if kind in _OUTPUTS:
            expect_no_args(d)
            return LogOutput(kind)
        if kind in _CADDY_OUTPUTS:
            d.errf("log output '%s' is not supported by fastsnake", kind)
        d.errf("unrecognized log output '%s' (expected %s)", kind, _one_of(_OUTPUTS))

    def _file(self) -> LogOutput:
        d = self.d
        if not d.next_arg():
            d.arg_err()
        path = os.path.normpath(os.path.join(self.base_dir, d.val()))
        if d.next_arg():
            d.arg_err()
        values: dict[str, object] = {"kind": "file", "path": path}
        seen: dict[str, Token] = {}
        nesting = d.nesting
        while d.next_block(nesting):
            option = d.val()
            if option in seen:
                d.errf("duplicate log file option '%s' (already set at line %d)",
                       option, seen[option].line)
            seen[option] = d.token()
            if option in ("roll_disabled", "roll_uncompressed", "roll_local_time"):
                expect_no_args(d)
                if option == "roll_disabled":
                    values["roll"] = False
                elif option == "roll_uncompressed":
                    values["roll_compression"] = "none"
                else:
                    values["roll_local_time"] = True
            elif option in ("roll_minutes", "roll_at"):
                args = d.remaining_args()
                if not args:
                    d.arg_err()
                values[option] = self._list(option, args)
            else:
                value = expect_one_arg(d)
                values.update(self._file_option(option, value))
        return LogOutput(**values)  # type: ignore[arg-type]

    def _file_option(self, option: str, value: str) -> dict[str, object]:
        d = self.d
        if option in ("mode", "dir_mode"):
            if option == "dir_mode" and value.strip().lower() in ("inherit", "from_file"):
                return {option: value.strip().lower()}
            if not _OCTAL.fullmatch(value) or int(value, 8) > 0o777:
                d.errf("parsing %s: '%s' is not an octal file mode such as 0644", option, value)
            return {option: int(value, 8) if option == "mode" else value}
        if option == "roll_size":
            try:
                size = parse_size(value)
            except ValueError as exc:
                d.errf("parsing size: %s", exc)
            return {"roll_size": size}
        if option == "roll_keep":
            if not _INTEGER.fullmatch(value):
                d.errf("parsing roll_keep number: '%s' is not an integer", value)
            return {"roll_keep": int(value)}
        if option in ("roll_keep_for", "roll_interval"):
            try:
                seconds = parse_duration(value)
            except ValueError as exc:
                d.errf("parsing %s duration: %s", option, exc)
            if option == "roll_interval":
                if seconds < 0:
                    d.errf("negative roll_interval duration: %s", value)
                return {"roll_interval": seconds}
            if seconds < 0:
                d.errf("negative roll_keep_for duration: %s", value)
            return {"roll_keep_days": math.ceil(seconds / 86400)}
        if option == "roll_compression":
            compression = value.strip().lower()
            if compression not in _COMPRESSIONS:
                d.err("parsing roll_compression: must be 'none', 'gzip' or 'zstd'")
            if compression == "zstd" and not zstd_available():
                d.err("roll_compression zstd needs Python 3.14's compression.zstd; use gzip")
            return {"roll_compression": compression}
        if option == "backup_time_format":
            problem = check_round_trip(value)
            if problem:
                d.errf("backup_time_format '%s': %s", value, problem)
            return {"backup_time_format": value}
        d.errf("unrecognized log file option '%s'", option)

    def _list(self, option: str, args: list[str]) -> tuple[object, ...]:
        parts = [part.strip() for arg in args for part in arg.split(",")]
        if "" in parts:
            self.d.errf("parsing %s: empty value", option)
        if option == "roll_at":
            for part in parts:
                match = _CLOCK.fullmatch(part)
                if not match or int(match[1]) > 23 or int(match[2]) > 59:
                    self.d.errf("parsing roll_at: '%s' is not a time of day such as 00:00 "
                                "or 13:30", part)
            return tuple(parts)
        for part in parts:
            if not _INTEGER.fullmatch(part):
                self.d.errf("parsing roll_minutes number: '%s' is not an integer", part)
            if not 0 <= int(part) <= 59:
                self.d.errf("parsing roll_minutes: %s is not a minute (0 to 59)", part)
        return tuple(int(part) for part in parts)

    def _format(self) -> str:
        d = self.d
        if not d.next_arg():
            d.arg_err()
        kind = d.val()
        if kind in _CADDY_FORMATS:
            d.errf("log format '%s' is not supported by fastsnake (use json or console)", kind)
        if kind not in _FORMATS:
            d.errf("unrecognized log format '%s' (expected %s)", kind, _one_of(_FORMATS))
        if d.next_arg():
            d.arg_err()
        nesting = d.nesting
        while d.next_block(nesting):
            option = d.val()
            if option in _ENCODER_OPTIONS:
                d.errf("log format option '%s' is not supported by fastsnake", option)
            d.errf("unrecognized log format option '%s'", option)
        return kind

    def _level(self) -> str:
        d = self.d
        value = expect_one_arg(d)
        level = value.upper()
        if level not in LEVELS:
            d.errf("unrecognized log level: %s (expected %s)", value, _one_of(LEVELS))
        return level


def _one_of(values: tuple[str, ...]) -> str:
    return ", ".join(values[:-1]) + " or " + values[-1]
