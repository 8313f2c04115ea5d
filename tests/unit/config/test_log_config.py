"""The ``log`` directive and the global ``log`` option: Caddyfile in, spec or
error out (file:line). What the specs make of requests is
tests/unit/routing/test_accesslog.py's."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import pytest

from fastsnake.caddyfile import parse
from fastsnake.config.global_options import parse_global_options
from fastsnake.config.log import AccessLogSpec, LogOutput, ServerLogSpec, parse_log_directive
from fastsnake.errors import CaddyfileError


def directive(body: str, tmp: Path, index: int = 0) -> AccessLogSpec:
    """The spec of the first directive of ``:8080 { <body> }``."""
    caddyfile = parse(f":8080 {{\n{body}\n}}\n", str(tmp / "Caddyfile"))
    return parse_log_directive(caddyfile.server_blocks[0].segments[0], str(tmp), index)


def directive_error(body: str, tmp: Path) -> str:
    with pytest.raises(CaddyfileError) as info:
        directive(body, tmp)
    return str(info.value).replace(str(tmp), "<dir>")


def global_log(options: str, tmp: Path) -> ServerLogSpec | None:
    caddyfile = parse(f"{{\n{options}\n}}\n:8080\n", str(tmp / "Caddyfile"))
    return parse_global_options(caddyfile.global_options).log


def global_error(options: str, tmp: Path) -> str:
    with pytest.raises(CaddyfileError) as info:
        global_log(options, tmp)
    return str(info.value).replace(str(tmp), "<dir>")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # Nothing configured: Caddy's default logger, no generated name.
        ("log", dict(name="", default_sink=True, auto_named=False, format="", level="INFO")),
        ("log {\n}", dict(name="", default_sink=True)),
        ("log access", dict(name="access", default_sink=True, auto_named=False)),
        ("log {\nhostnames a.example b.example\n}",
         dict(name="", default_sink=True, hostnames=("a.example", "b.example"))),
        # Configured and unnamed: log<index>.
        ("log {\noutput stdout\n}",
         dict(name="log3", auto_named=True, default_sink=False, output=LogOutput("stdout"))),
        ("log {\nformat console\n}", dict(name="log3", format="console")),
        ("log {\nlevel warn\n}", dict(name="log3", level="WARN")),
        ("log {\noutput discard\n}", dict(output=LogOutput("discard"))),
        ("log {\noutput stderr\nformat json\nlevel ERROR\n}",
         dict(output=LogOutput("stderr"), format="json", level="ERROR")),
        ("log mine {\noutput stdout\n}", dict(name="mine", auto_named=False)),
        ("log {\noutput file access.log\n}",
         dict(output=LogOutput("file", "<dir>/access.log"), location="<dir>/Caddyfile:2")),
        ("log {\noutput file /var/log/a.log {\nroll_disabled\n}\n}",
         dict(output=LogOutput("file", "/var/log/a.log", roll=False))),
        ("log {\noutput file logs/../a.log {\nmode 644\ndir_mode 0750\n}\n}",
         dict(output=LogOutput("file", "<dir>/a.log", mode=0o644, dir_mode="0750"))),
        ("log {\noutput file a.log {\ndir_mode inherit\n}\n}",
         dict(output=LogOutput("file", "<dir>/a.log", dir_mode="inherit"))),
        ("log {\noutput file a.log {\nroll_size 10MiB\nroll_keep 5\nroll_keep_for 36h\n"
         "roll_local_time\nroll_uncompressed\n}\n}",
         dict(output=LogOutput("file", "<dir>/a.log", roll_size=10 << 20, roll_keep=5,
                               roll_keep_days=2, roll_local_time=True,
                               roll_compression="none"))),
        # roll_size to the byte: Caddy's whole MiB is its library's limit, not a meaning
        ("log {\noutput file a.log {\nroll_size 1.5mb\nroll_compression GZIP\n"
         "roll_interval 1h\nroll_minutes 0,30 45\nroll_at 00:00 12:00\n"
         "backup_time_format 20060102-150405\n}\n}",
         dict(output=LogOutput("file", "<dir>/a.log", roll_size=1_500_000,
                               roll_compression="gzip", roll_interval=3600.0,
                               roll_minutes=(0, 30, 45), roll_at=("00:00", "12:00"),
                               backup_time_format="20060102-150405"))),
        ("log {\noutput file a.log {\nroll_size 1KiB\n}\n}",
         dict(output=LogOutput("file", "<dir>/a.log", roll_size=1024))),
    ],
)
def test_log_directive(tmp_path: Path, body: str, expected: dict[str, Any]) -> None:
    spec = directive(body, tmp_path, index=3)
    for field, value in expected.items():
        actual = getattr(spec, field)
        if isinstance(actual, LogOutput) and actual.path:
            actual = LogOutput(**{**actual.__dict__, "path": actual.path.replace(
                str(tmp_path), "<dir>")})
        if isinstance(actual, str):
            actual = actual.replace(str(tmp_path), "<dir>")
        assert actual == value, field


def test_logger_names(tmp_path: Path) -> None:
    assert [directive(body, tmp_path).logger for body in ("log", "log {\nlevel INFO\n}", "log x")
            ] == ["http.log.access", "http.log.access.log0", "http.log.access.x"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("log a b", "<dir>/Caddyfile:2: wrong argument count or unexpected line ending "
                    "after 'b'"),
        ("log {\nsampling {\nfirst 10\n}\n}",
         "<dir>/Caddyfile:3: log subdirective 'sampling' is not supported by fastsnake"),
        ("log {\ncore mock\n}",
         "<dir>/Caddyfile:3: log subdirective 'core' is not supported by fastsnake"),
        ("log {\nno_hostname\n}",
         "<dir>/Caddyfile:3: log subdirective 'no_hostname' is not supported by fastsnake "
         "(it goes with log_name, which fastsnake does not have)"),
        ("log {\nbogus 1\n}", "<dir>/Caddyfile:3: unrecognized log subdirective 'bogus'"),
        ("log {\ninclude http.log\n}",
         "<dir>/Caddyfile:3: include is not allowed in the log directive"),
        ("log {\nhostnames\n}",
         "<dir>/Caddyfile:3: wrong argument count or unexpected line ending after 'hostnames'"),
        ("log {\noutput stdout\noutput stderr\n}",
         "<dir>/Caddyfile:4: 'output' subdirective specified more than once in the same "
         "log block"),
        ("log {\noutput\n}",
         "<dir>/Caddyfile:3: wrong argument count or unexpected line ending after 'output'"),
        ("log {\noutput net localhost:9999\n}",
         "<dir>/Caddyfile:3: log output 'net' is not supported by fastsnake"),
        ("log {\noutput syslog\n}",
         "<dir>/Caddyfile:3: unrecognized log output 'syslog' (expected stderr, stdout, "
         "discard or file)"),
        ("log {\noutput stdout extra\n}",
         "<dir>/Caddyfile:3: wrong argument count or unexpected line ending after 'extra'"),
        ("log {\noutput stderr {\nx\n}\n}",
         "<dir>/Caddyfile:3: unexpected block after 'stderr'"),
        ("log {\noutput file\n}",
         "<dir>/Caddyfile:3: wrong argument count or unexpected line ending after 'file'"),
        ("log {\noutput file a.log b.log\n}",
         "<dir>/Caddyfile:3: wrong argument count or unexpected line ending after 'b.log'"),
        ("log {\noutput file a.log {\nroll_size lots\n}\n}",
         "<dir>/Caddyfile:4: parsing size: invalid size 'lots'"),
        ("log {\noutput file a.log {\nroll_keep many\n}\n}",
         "<dir>/Caddyfile:4: parsing roll_keep number: 'many' is not an integer"),
        ("log {\noutput file a.log {\nroll_keep_for -1d\n}\n}",
         "<dir>/Caddyfile:4: negative roll_keep_for duration: -1d"),
        ("log {\noutput file a.log {\nroll_keep_for 10\n}\n}",
         "<dir>/Caddyfile:4: parsing roll_keep_for duration: missing unit (e.g. '10s', "
         "'1m30s', '500ms', '1d')"),
        ("log {\noutput file a.log {\nroll_compression lz4\n}\n}",
         "<dir>/Caddyfile:4: parsing roll_compression: must be 'none', 'gzip' or 'zstd'"),
        ("log {\noutput file a.log {\nroll_minutes 0,,30\n}\n}",
         "<dir>/Caddyfile:4: parsing roll_minutes: empty value"),
        ("log {\noutput file a.log {\nroll_minutes 15 60\n}\n}",
         "<dir>/Caddyfile:4: parsing roll_minutes: 60 is not a minute (0 to 59)"),
        ("log {\noutput file a.log {\nroll_at 24:00\n}\n}",
         "<dir>/Caddyfile:4: parsing roll_at: '24:00' is not a time of day such as 00:00 "
         "or 13:30"),
        ("log {\noutput file a.log {\nroll_at noon\n}\n}",
         "<dir>/Caddyfile:4: parsing roll_at: 'noon' is not a time of day such as 00:00 "
         "or 13:30"),
        ("log {\noutput file a.log {\nroll_interval -1h\n}\n}",
         "<dir>/Caddyfile:4: negative roll_interval duration: -1h"),
        # two rolls on one day would get one name: refused (timberjack falls back)
        ("log {\noutput file a.log {\nbackup_time_format 2006-01-02\n}\n}",
         "<dir>/Caddyfile:4: backup_time_format '2006-01-02': a time written with it does "
         "not read back the same (it must name the year, month, day, hour, minute and "
         "second)"),
        ("log {\noutput file a.log {\nroll_disabled now\n}\n}",
         "<dir>/Caddyfile:4: wrong argument count or unexpected line ending after 'now'"),
        ("log {\noutput file a.log {\nmode 0999\n}\n}",
         "<dir>/Caddyfile:4: parsing mode: '0999' is not an octal file mode such as 0644"),
        ("log {\noutput file a.log {\nmode 644\nmode 600\n}\n}",
         "<dir>/Caddyfile:5: duplicate log file option 'mode' (already set at line 4)"),
        ("log {\noutput file a.log {\nrotate daily\n}\n}",
         "<dir>/Caddyfile:4: unrecognized log file option 'rotate'"),
        ("log {\nformat filter {\nwrap json\n}\n}",
         "<dir>/Caddyfile:3: log format 'filter' is not supported by fastsnake "
         "(use json or console)"),
        ("log {\nformat transform \"{common_log}\"\n}",
         "<dir>/Caddyfile:3: log format 'transform' is not supported by fastsnake "
         "(use json or console)"),
        ("log {\nformat logfmt\n}",
         "<dir>/Caddyfile:3: unrecognized log format 'logfmt' (expected json or console)"),
        ("log {\nformat json {\ntime_format iso8601\n}\n}",
         "<dir>/Caddyfile:4: log format option 'time_format' is not supported by fastsnake"),
        ("log {\nformat console {\ncolour on\n}\n}",
         "<dir>/Caddyfile:4: unrecognized log format option 'colour'"),
        ("log {\nlevel LOUD\n}",
         "<dir>/Caddyfile:3: unrecognized log level: LOUD (expected DEBUG, INFO, WARN, "
         "ERROR, PANIC or FATAL)"),
        ("log {\nlevel INFO\nlevel DEBUG\n}",
         "<dir>/Caddyfile:4: 'level' subdirective specified more than once in the same "
         "log block"),
    ],
)
def test_log_directive_errors(tmp_path: Path, body: str, message: str) -> None:
    assert directive_error(body, tmp_path) == message


def test_rolling_is_not_noted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="fastsnake.config")
    directive("log {\noutput file a.log {\nroll_size 1MiB\n}\n}", tmp_path)
    assert caplog.records == []  # fastsnake rolls files now: nothing to warn about


@pytest.mark.skipif(sys.version_info >= (3, 14), reason="compression.zstd exists here")
def test_roll_compression_zstd_needs_python_3_14(tmp_path: Path) -> None:
    # as 'encode zstd' alone: refused where the standard library has no zstd
    assert directive_error("log {\noutput file a.log {\nroll_compression zstd\n}\n}",
                           tmp_path) == ("<dir>/Caddyfile:4: roll_compression zstd needs "
                                         "Python 3.14's compression.zstd; use gzip")


def test_global_log_option(tmp_path: Path) -> None:
    assert global_log("debug", tmp_path) is None
    spec = global_log("log {\noutput file logs/server.log\nformat json\nlevel warn\n}",
                      tmp_path)
    assert spec == ServerLogSpec(
        LogOutput("file", str(tmp_path / "logs" / "server.log")), "json", "WARN",
        f"{tmp_path}/Caddyfile:2")
    assert global_log("log default {\noutput stdout\n}", tmp_path) == ServerLogSpec(
        LogOutput("stdout"), "", "", f"{tmp_path}/Caddyfile:2")
    assert global_log("log", tmp_path) == ServerLogSpec(location=f"{tmp_path}/Caddyfile:2")
    # from an imported file, a relative path is still the main Caddyfile's
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "logging").write_text("log {\n output file server.log\n}\n")
    spec = global_log("import conf/logging", tmp_path)
    assert spec is not None and spec.output.path == str(tmp_path / "server.log")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("log access {\noutput stdout\n}",
         "<dir>/Caddyfile:2: global log 'access' is not supported by fastsnake: only the "
         "default logger ('log' or 'log default') can be configured"),
        ("log {\nlevel INFO\n}\nlog default {\nlevel DEBUG\n}",
         "<dir>/Caddyfile:5: duplicate global log option for: default"),
        ("log {\nhostnames a.example\n}",
         "<dir>/Caddyfile:3: hostnames is not allowed in the log global options"),
        ("log {\nexclude http.log.access\n}",
         "<dir>/Caddyfile:3: log option 'exclude' is not supported by fastsnake: its one log "
         "takes every fastsnake logger"),
        ("log {\nformat filter\n}",
         "<dir>/Caddyfile:3: log format 'filter' is not supported by fastsnake "
         "(use json or console)"),
        ("log {\nlevel verbose\n}",
         "<dir>/Caddyfile:3: unrecognized log level: verbose (expected DEBUG, INFO, WARN, "
         "ERROR, PANIC or FATAL)"),
    ],
)
def test_global_log_errors(tmp_path: Path, options: str, message: str) -> None:
    assert global_error(options, tmp_path) == message
