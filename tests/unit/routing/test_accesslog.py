"""Access logs and the server log: real requests in, Caddy-shaped lines out,
written to real files and streams (the ``log`` directive's and option's
parsing is tests/unit/config/test_log_config.py's)."""

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

from fastsnake.config.log import AccessLogSpec, LogOutput, ServerLogSpec
from fastsnake.errors import ConfigError
from fastsnake.routing.accesslog import AccessLogger, canonical_header, configure_server_log
from tests.protocol_harness import capture_requests
from tests.unit.config.test_log_config import directive, global_log

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
