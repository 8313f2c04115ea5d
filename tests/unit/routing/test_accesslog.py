"""Access logs and the global ``log`` option: Caddyfile in, spec or error out;
real requests in, Caddy-shaped lines out."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import re
import stat
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from fastsnake.caddyfile import parse
from fastsnake.config.global_options import parse_global_options
from fastsnake.config.log import AccessLogSpec, LogOutput, ServerLogSpec, parse_log_directive
from fastsnake.errors import CaddyfileError, ConfigError
from fastsnake.routing.accesslog import AccessLogger, canonical_header, configure_server_log
from tests.protocol_harness import capture_requests

# -- parsing ----------------------------------------------------------------


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


# -- real requests ----------------------------------------------------------


def real_requests(raw: bytes, tcp: bool = True) -> list[Any]:
    """HttpRequest objects for ``raw``, parsed by the real protocol on a real socket."""
    return list(capture_requests(raw, tcp))


def real_request(raw: bytes, tcp: bool = True) -> Any:
    (request,) = real_requests(raw, tcp)
    return request


GET = (b"GET /caf%C3%A9/x?q=1&r=%20 HTTP/1.1\r\nHost: example.com:8080\r\n"
       b"user-agent: curl/8.5.0\r\naccept: */*\r\nx-dup: 1\r\nX-DUP: 2\r\n\r\n")
RESP = [(b"server", b"fastsnake"), (b"content-type", b"text/plain")]


def spec_for(tmp: Path, **kw: Any) -> AccessLogSpec:
    fields: dict[str, Any] = dict(name="log0", output=LogOutput("file", str(tmp / "a.log")),
                                  format="json", level="INFO", location="Caddyfile:2")
    fields.update(kw)
    return AccessLogSpec(**fields)


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_json_entry_has_caddys_fields(tmp_path: Path) -> None:
    request = real_request(GET)
    logger = AccessLogger(spec_for(tmp_path))
    logger.log(request, 200, 5, 0.0123, RESP, 0)
    logger.close()
    (entry,) = lines(tmp_path / "a.log")
    ts = entry.pop("ts")
    assert isinstance(ts, float) and abs(ts - time.time()) < 60
    port = entry["request"].pop("remote_port")
    assert port.isdigit()
    assert entry == {
        "level": "info",
        "logger": "http.log.access.log0",
        "msg": "handled request",
        "request": {
            "remote_ip": "127.0.0.1",
            "client_ip": "127.0.0.1",
            "proto": "HTTP/1.1",
            "method": "GET",
            "host": "example.com:8080",
            "uri": "/caf%C3%A9/x?q=1&r=%20",
            "headers": {"User-Agent": ["curl/8.5.0"], "Accept": ["*/*"], "X-Dup": ["1", "2"]},
        },
        "bytes_read": 0,
        "user_id": "",
        "duration": 0.0123,
        "size": 5,
        "status": 200,
        "resp_headers": {"Server": ["fastsnake"], "Content-Type": ["text/plain"]},
    }
    # Caddy's key order, so lines diff cleanly against Caddy's
    raw = (tmp_path / "a.log").read_text()
    keys = re.findall(r'"(level|ts|logger|msg|request|bytes_read|user_id|duration|size|'
                      r'status|resp_headers)":', raw)
    assert keys == ["level", "ts", "logger", "msg", "request", "bytes_read", "user_id",
                    "duration", "size", "status", "resp_headers"]


def test_uri_is_the_target_as_received(tmp_path: Path) -> None:
    request = real_request(b"GET /a/../b/./c%2Fd HTTP/1.1\r\nHost: x\r\n\r\n")
    logger = AccessLogger(spec_for(tmp_path))
    logger.log(request, 404, 0, 0.0, [], 0)
    logger.close()
    assert lines(tmp_path / "a.log")[0]["request"]["uri"] == "/a/../b/./c%2Fd"


def test_credentials_are_redacted_as_caddy_does(tmp_path: Path) -> None:
    request = real_request(
        b"GET / HTTP/1.1\r\nHost: x\r\nCookie: a=1\r\ncookie: b=2\r\n"
        b"Authorization: Bearer secret\r\nproxy-authorization: Basic Zm9vOmJhcg==\r\n"
        b"X-Api-Key: visible\r\n\r\n")
    response = [(b"Set-Cookie", b"s=1"), (b"set-cookie", b"t=2"), (b"X-Ok", b"yes")]
    logger = AccessLogger(spec_for(tmp_path))
    logger.log(request, 200, 0, 0.0, response, 0)
    logger.log(request, 200, 0, 0.0, response, 0)  # the shared REDACTED value stays whole
    logger.close()
    for entry in lines(tmp_path / "a.log"):
        assert entry["request"]["headers"] == {
            "Cookie": ["REDACTED"], "Authorization": ["REDACTED"],
            "Proxy-Authorization": ["REDACTED"], "X-Api-Key": ["visible"]}
        assert entry["resp_headers"] == {"Set-Cookie": ["REDACTED"], "X-Ok": ["yes"]}
    assert "secret" not in (tmp_path / "a.log").read_text()


def test_log_credentials_keeps_them(tmp_path: Path) -> None:
    request = real_request(b"GET / HTTP/1.1\r\nHost: x\r\nCookie: a=1\r\n\r\n")
    logger = AccessLogger(spec_for(tmp_path), log_credentials=True)
    logger.log(request, 200, 0, 0.0, [(b"Set-Cookie", b"s=1")], 0)
    logger.close()
    (entry,) = lines(tmp_path / "a.log")
    assert entry["request"]["headers"] == {"Cookie": ["a=1"]}
    assert entry["resp_headers"] == {"Set-Cookie": ["s=1"]}


def test_chunked_request_and_http10(tmp_path: Path) -> None:
    chunked = real_request(b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                           b"\r\n3\r\nabc\r\n0\r\n\r\n")
    old = real_request(b"GET /old HTTP/1.0\r\nUser-Agent: \xe9t\xe9\r\n\r\n", tcp=False)
    logger = AccessLogger(spec_for(tmp_path))
    logger.log(chunked, 201, 0, 0.0, [], 3)
    logger.log(old, 200, 0, 0.0, [], 0)
    logger.close()
    first, second = lines(tmp_path / "a.log")
    assert first["request"]["transfer_encoding"] == ["chunked"]
    assert first["request"]["headers"] == {}  # Go moves Host and Transfer-Encoding out
    assert (first["request"]["method"], first["bytes_read"]) == ("POST", 3)
    assert second["request"]["proto"] == "HTTP/1.0"
    assert second["request"]["host"] == ""
    assert second["request"]["headers"] == {"User-Agent": ["\xe9t\xe9"]}  # latin-1
    assert (second["request"]["remote_ip"], second["request"]["remote_port"]) == ("", "")
    assert "transfer_encoding" not in second["request"]


def test_levels_follow_status_and_filter(tmp_path: Path) -> None:
    request = real_request(GET)
    logger = AccessLogger(spec_for(tmp_path))
    logger.log(request, 200, 0, 0.0, [], 0)
    logger.log(request, 499, 0, 0.0, [], 0)
    logger.log(request, 503, 0, 0.0, [], 0)
    logger.close()
    assert [(e["status"], e["level"]) for e in lines(tmp_path / "a.log")] == [
        (200, "info"), (499, "info"), (503, "error")]

    for level, expected in [("DEBUG", [200, 500]), ("WARN", [500]), ("ERROR", [500]),
                            ("PANIC", []), ("FATAL", [])]:
        path = tmp_path / f"{level}.log"
        logger = AccessLogger(spec_for(tmp_path, output=LogOutput("file", str(path)),
                                       level=level))
        assert logger.enabled == bool(expected)
        logger.log(request, 200, 0, 0.0, [], 0)
        logger.log(request, 500, 0, 0.0, [], 0)
        logger.close()
        assert [e["status"] for e in lines(path)] == expected, level


def test_discard_writes_nothing(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    logger = AccessLogger(spec_for(tmp_path, output=LogOutput("discard")))
    assert not logger.enabled
    logger.log(real_request(GET), 500, 0, 0.0, [], 0)
    logger.close()
    assert capfd.readouterr() == ("", "")
    assert not (tmp_path / "a.log").exists()


def test_stdout_and_stderr(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    request = real_request(GET)
    for kind in ("stdout", "stderr"):
        logger = AccessLogger(spec_for(tmp_path, output=LogOutput(kind), format=""))
        logger.log(request, 200, 0, 0.0, [], 0)
        logger.close()  # a standard stream stays open
    out, err = capfd.readouterr()
    # not a terminal here, so Caddy's default format is JSON
    assert json.loads(out)["status"] == 200 and json.loads(err)["status"] == 200


def test_console_format(tmp_path: Path) -> None:
    logger = AccessLogger(spec_for(tmp_path, format="console"))
    logger.log(real_request(GET), 502, 7, 0.5, RESP, 0)
    logger.close()
    text = (tmp_path / "a.log").read_text()
    assert text.count("\n") == 1
    match = re.fullmatch(r"(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{3})\tERROR\t"
                         r"http\.log\.access\.log0\thandled request\t(\{.*\})\n", text)
    assert match, text
    fields = json.loads(match[2])
    assert list(fields) == ["request", "bytes_read", "user_id", "duration", "size", "status",
                            "resp_headers"]
    # duration is the 0.5 handed to log() above, echoed: a value, not a timing.
    assert (fields["status"], fields["size"], fields["duration"]) == (502, 7, 0.5)


def test_file_is_created_as_caddy_creates_it(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "a.log"
    AccessLogger(spec_for(tmp_path, output=LogOutput("file", str(path)))).close()
    if sys.platform != "win32":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    path.write_text("kept\n")
    os.chmod(path, 0o600)
    logger = AccessLogger(spec_for(tmp_path, output=LogOutput("file", str(path), mode=0o640)))
    logger.log(real_request(GET), 200, 0, 0.0, [], 0)
    logger.close()
    assert path.read_text().startswith("kept\n{")  # appended, never truncated
    if sys.platform != "win32":
        assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_unopenable_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "dir.log").mkdir()
    with pytest.raises(ConfigError) as info:
        AccessLogger(spec_for(tmp_path, output=LogOutput("file", str(tmp_path / "dir.log"))))
    assert str(info.value) == (f"Caddyfile:2: cannot open log file '{tmp_path}/dir.log': "
                               "Is a directory")


def test_renamed_file_is_reopened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fastsnake.routing.logwriter as logwriter

    monkeypatch.setattr(logwriter, "_REOPEN_CHECK", 0.0)
    request = real_request(GET)
    # roll_disabled: what a Caddyfile says when logrotate does the rotating
    logger = AccessLogger(spec_for(tmp_path, output=LogOutput(
        "file", str(tmp_path / "a.log"), roll=False)))
    logger.log(request, 200, 0, 0.0, [], 0)
    os.rename(tmp_path / "a.log", tmp_path / "a.log.1")  # what logrotate does
    logger.log(request, 201, 0, 0.0, [], 0)
    with open(tmp_path / "a.log", "r+") as f:  # copytruncate
        f.truncate(0)
    logger.log(request, 202, 0, 0.0, [], 0)
    logger.close()
    assert [e["status"] for e in lines(tmp_path / "a.log.1")] == [200]
    assert (tmp_path / "a.log").read_bytes().startswith(b'{"level"')  # no hole of NULs
    assert [e["status"] for e in lines(tmp_path / "a.log")] == [202]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_write_errors_are_reported_once_and_never_raise(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    logger = AccessLogger(spec_for(tmp_path, output=LogOutput("file", "/dev/full")))
    request = real_request(GET)
    with caplog.at_level(logging.ERROR, logger="fastsnake.accesslog"):
        for _ in range(3):
            logger.log(request, 200, 0, 0.0, [], 0)
    logger.close()
    (record,) = caplog.records
    assert "access log http.log.access.log0 (Caddyfile:2) failed" in record.getMessage()
    assert "No space left on device" in record.getMessage()


def test_bad_values_never_raise(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    logger = AccessLogger(spec_for(tmp_path))
    with caplog.at_level(logging.ERROR, logger="fastsnake.accesslog"):
        logger.log(object(), 200, 0, 0.0, [], 0)
        logger.log(real_request(GET), 200, 0, 0.0, [], 0)  # and recovers
    logger.close()
    assert len(caplog.records) == 1
    assert len(lines(tmp_path / "a.log")) == 1


def _append_many(spec: AccessLogSpec, tag: int, count: int, start: Any) -> None:
    request = real_request(GET)
    logger = AccessLogger(spec)
    big = [(b"x-big", b"v" * 6000)]  # lines larger than PIPE_BUF and a page
    start.wait()
    for i in range(count):
        logger.log(request, 200, i, 0.0, big, tag)
    logger.close()


def test_two_processes_append_whole_lines(tmp_path: Path) -> None:
    spec = spec_for(tmp_path)
    count = 3000
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)
    workers = [ctx.Process(target=_append_many, args=(spec, tag, count, start))
               for tag in (1, 2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    entries = lines(tmp_path / "a.log")  # every line is whole JSON
    assert len(entries) == 2 * count
    for tag in (1, 2):
        assert [e["size"] for e in entries if e["bytes_read"] == tag] == list(range(count))
    tags = [e["bytes_read"] for e in entries]
    switches = sum(tags[i] != tags[i + 1] for i in range(len(tags) - 1))
    assert switches >= 1  # they did write at the same time


def test_bare_log_writes_where_the_server_log_does(tmp_path: Path) -> None:
    bare = directive("log", tmp_path)
    server = ServerLogSpec(LogOutput("file", str(tmp_path / "server.log")), "json", "ERROR")
    logger = AccessLogger(bare, server_log=server)
    logger.log(real_request(GET), 200, 0, 0.0, [], 0)  # below the server log's level
    logger.log(real_request(GET), 500, 0, 0.0, [], 0)
    logger.close()
    (entry,) = lines(tmp_path / "server.log")
    assert (entry["logger"], entry["status"]) == ("http.log.access", 500)


# -- the server log -----------------------------------------------------------


@pytest.fixture
def server_logger() -> Any:
    logger = logging.getLogger("fastsnake")
    saved = (logger.level, logger.propagate, list(logger.handlers))
    yield logger
    configure_server_log(None)
    logger.setLevel(saved[0])
    logger.propagate = saved[1]
    logger.handlers[:] = saved[2]


def test_global_log_option_applied(tmp_path: Path, server_logger: logging.Logger) -> None:
    spec = global_log("log {\noutput file server.log\nformat json\nlevel WARN\n}", tmp_path)
    configure_server_log(spec)
    configure_server_log(spec)  # idempotent: still one handler
    assert len(server_logger.handlers) == 1 and not server_logger.propagate
    logging.getLogger("fastsnake.worker").info("not at WARN")
    logging.getLogger("fastsnake.worker").warning("worker %d exited", 3)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("fastsnake.apps").exception("app failed")
    first, second = lines(tmp_path / "server.log")
    assert {k: first[k] for k in ("level", "logger", "msg")} == {
        "level": "warn", "logger": "fastsnake.worker", "msg": "worker 3 exited"}
    assert isinstance(first["ts"], float)
    assert (second["level"], second["msg"]) == ("error", "app failed")
    assert "RuntimeError: boom" in second["stacktrace"]

    configure_server_log(None)
    assert server_logger.handlers == [] and server_logger.propagate


def test_global_log_console_and_debug(tmp_path: Path, server_logger: logging.Logger) -> None:
    path = tmp_path / "server.log"
    configure_server_log(ServerLogSpec(LogOutput("file", str(path)), "console"), debug=True)
    assert server_logger.level == logging.DEBUG
    logging.getLogger("fastsnake.config").debug("detail")
    text = path.read_text()
    assert re.fullmatch(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{3}\tDEBUG\tfastsnake\.config\t"
                        r"detail\n", text), text
    configure_server_log(ServerLogSpec(LogOutput("discard")))
    assert server_logger.level == logging.INFO
    logging.getLogger("fastsnake.config").warning("dropped")
    assert path.read_text() == text


def test_global_log_unopenable_keeps_the_old_handler(
        tmp_path: Path, server_logger: logging.Logger) -> None:
    configure_server_log(ServerLogSpec(LogOutput("file", str(tmp_path / "ok.log"))))
    (tmp_path / "dir").mkdir()
    with pytest.raises(ConfigError):
        configure_server_log(ServerLogSpec(LogOutput("file", str(tmp_path / "dir")),
                                           location="Caddyfile:3"))
    logging.getLogger("fastsnake").warning("still here")
    assert lines(tmp_path / "ok.log")[0]["msg"] == "still here"


@pytest.mark.parametrize(
    ("name", "canonical"),
    [(b"content-type", "Content-Type"), (b"X-DUP", "X-Dup"), (b"x_under", "X_under"),
     (b"www-authenticate", "Www-Authenticate"), (b"-a", "-A"), (b"a b", "a b")],
)
def test_canonical_header(name: bytes, canonical: str) -> None:
    assert canonical_header(name) == canonical
