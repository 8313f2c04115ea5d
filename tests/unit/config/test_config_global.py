"""Global options: Caddyfile text in, Config fields or an exact error out."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from fastsnake.config.args import parse_duration, parse_size
from fastsnake.config.model import Config, Limits, Timeouts
from tests.config_helpers import build, build_error


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return tmp_path


# -- global options ----------------------------------------------------------


def options(project: Path, body: str) -> Config:
    return build(project, f"{{\n{body}\n}}\n:8080 {{\n}}")


@pytest.mark.parametrize(
    ("body", "check"),
    [
        pytest.param("", lambda c: (c.debug, c.grace_period, c.timeouts, c.limits)
                     == (False, 30.0, Timeouts(), Limits()), id="defaults"),
        pytest.param("debug", lambda c: c.debug is True, id="debug"),
        pytest.param("grace_period 10s", lambda c: c.grace_period == 10.0, id="grace-10s"),
        pytest.param("grace_period 1h30m", lambda c: c.grace_period == 5400.0, id="grace-1h30m"),
        pytest.param("grace_period 0", lambda c: c.grace_period == 0.0, id="grace-zero"),
        pytest.param(
            "servers {\n timeouts {\n  read_header 5s\n  read_body 10s\n  write 1m\n"
            "  idle 500ms\n }\n}",
            lambda c: c.timeouts == Timeouts(5.0, 10.0, 60.0, 0.5), id="timeouts",
        ),
        pytest.param("servers {\n timeouts {\n  read_header 0s\n  idle -1s\n }\n}",
                     lambda c: c.timeouts == Timeouts(None, None, None, None),
                     id="timeouts-disabled"),
        pytest.param("servers {\n max_header_size 1MiB\n}",
                     lambda c: c.limits.max_header_size == 1048576, id="max-header-size"),
        pytest.param("servers {\n timeouts {\n  idle 1m\n }\n}\nservers {\n max_header_size 4k\n}",
                     lambda c: (c.timeouts.idle, c.limits.max_header_size) == (60.0, 4000),
                     id="servers-twice-merge"),
    ],
)
def test_global_options(project: Path, body: str, check) -> None:
    assert check(options(project, body))


def test_caddy_only_options_are_accepted_and_change_nothing(project: Path) -> None:
    body = (
        "auto_https off\nemail me@example.com\n"
        "admin localhost:2019 {\n origins x\n}\n"
        "auto_https disable_redirects ignore_loaded_certs"
    )
    assert options(project, body) == options(project, "")


def test_admin_off_turns_the_control_file_off(project: Path) -> None:
    assert options(project, "").admin is True
    assert options(project, "admin off").admin is False
    assert options(project, "admin localhost:2019").admin is True


def test_ignored_options_are_noted(project: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="fastsnake.config"):
        options(project, "admin off")
        options(project, "admin localhost:2019")
    assert caplog.messages == [
        f"{project}/Caddyfile:2: admin off: 'fastsnake reload' and 'fastsnake stop' cannot "
        "reach this server (it writes no control file)",
        f"{project}/Caddyfile:2: global option 'admin' is ignored: fastsnake has no admin API; "
        "'fastsnake reload' and 'fastsnake stop' reach a server through its control file",
    ]


def test_order_option_moves_a_directive(project: Path) -> None:
    text = ("{\n order python after respond\n}\n:8080 {\n python main:app\n"
            " respond /healthz 200\n}\n")
    routes = build(project, text).listeners[0].sites[0].routes
    assert [route.directive for route in routes] == ["respond", "python"]
    assert [r.directive for r in build(project, text.replace("{\n order python after "
                                                             "respond\n}\n", "")).listeners[0]
            .sites[0].routes] == ["python", "respond"]


@pytest.mark.parametrize(("body", "message"), [
    ("order python", "2: order takes: order <directive> first|last|before"),
    ("order python sideways", "2: order position must be first, last, before or after"),
    ("order python before nothing", "2: order: 'nothing' is not a directive fastsnake orders"),
    ("order python after python", "2: order: 'python' cannot be ordered relative to itself"),
])
def test_order_errors(project: Path, body: str, message: str) -> None:
    assert build_error(project, "{\n " + body + "\n}\n:80 {\n}").startswith(
        f"<dir>/Caddyfile:{message}")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param("frobnicate on", "2: unrecognized global option: frobnicate", id="unknown"),
        pytest.param("ocsp_stapling off", "2: global option 'ocsp_stapling' is not supported "
                     "by fastsnake", id="caddy-only"),
        pytest.param("debug yes", "2: wrong argument count or unexpected line ending after "
                     "'yes'", id="debug-arg"),
        pytest.param("http_port", "2: wrong argument count or unexpected line ending after "
                     "'http_port'", id="port-missing"),
        pytest.param("http_port 80 81", "2: wrong argument count or unexpected line ending "
                     "after '81'", id="port-two"),
        pytest.param("https_port x", "2: https_port must be a port number between 0 and 65535, "
                     "got 'x'", id="port-word"),
        pytest.param("grace_period 10", "2: invalid grace_period duration '10': missing unit "
                     "(e.g. '10s', '1m30s', '500ms', '1d')", id="duration-no-unit"),
        pytest.param("grace_period 10y", "2: invalid grace_period duration '10y': unknown unit "
                     "'y' (use ns, us, ms, s, m, h or d)", id="duration-bad-unit"),
        pytest.param("grace_period -5s", "2: grace_period must not be negative, got '-5s'",
                     id="duration-negative"),
        pytest.param("auto_https maybe", "2: auto_https must be one of 'off', "
                     "'disable_redirects', 'disable_certs', 'ignore_loaded_certs'",
                     id="auto-https-value"),
        pytest.param("auto_https", "2: wrong argument count or unexpected line ending after "
                     "'auto_https'", id="auto-https-missing"),
        pytest.param("email", "2: wrong argument count or unexpected line ending after "
                     "'email'", id="email-missing"),
        pytest.param("servers :8080 {\n}", "2: per-listener servers options ('servers :8080') "
                     "are not supported by fastsnake yet; use 'servers { ... }' for all "
                     "listeners", id="servers-per-listener"),
        pytest.param("servers {\n protocols h1 h2\n}", "3: servers option 'protocols' is not "
                     "supported by fastsnake", id="servers-unsupported"),
        pytest.param("servers {\n timeouts {\n  read_body_idle 1s\n }\n}", "4: timeouts option "
                     "'read_body_idle' is not supported by fastsnake", id="timeouts-unsupported"),
        pytest.param("servers {\n timeouts {\n  idle\n }\n}", "4: wrong argument count or "
                     "unexpected line ending after 'idle'", id="timeouts-missing-value"),
        pytest.param("servers {\n timeouts {\n  write soon\n }\n}", "4: invalid write timeout "
                     "duration 'soon': expected a number followed by a unit such as 's' or 'ms'",
                     id="timeouts-bad-value"),
        pytest.param("servers {\n max_header_size 12XB\n}", "3: parsing max_header_size: "
                     "unhandled size name: xb", id="size-unit"),
        pytest.param("servers {\n max_header_size 0\n}", "3: max_header_size must be positive, "
                     "got '0'", id="size-zero"),
    ],
)
def test_global_option_errors(project: Path, body: str, message: str) -> None:
    source = f"{{\n{body}\n}}\n:8080 {{\n}}"
    assert build_error(project, source) == f"<dir>/Caddyfile:{message}"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        pytest.param("500ms", 0.5, id="ms"),
        pytest.param("1m30s", 90.0, id="m-s"),
        pytest.param("1.5h", 5400.0, id="fraction"),
        pytest.param("1d", 86400.0, id="day"),
        pytest.param("1d12h", 129600.0, id="day-hours"),
        pytest.param("250us", 0.00025, id="us"),
        pytest.param("250\u00b5s", 0.00025, id="micro-sign"),
        pytest.param("-2s", -2.0, id="negative"),
        pytest.param("+3s", 3.0, id="plus"),
        pytest.param("0", 0.0, id="bare-zero"),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    """Caddy's duration syntax to seconds: a parser's output, not a timing."""
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "s", "10", "1.2.3s", "1s2", "abc", "1 s"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        pytest.param("512", 512, id="bytes"),
        pytest.param("16KB", 16000, id="kb"),
        pytest.param("16kib", 16384, id="kib"),
        pytest.param("1MiB", 1048576, id="mib"),
        pytest.param("1mb", 1000000, id="mb-lower"),
        pytest.param("2 GB", 2 * 10**9, id="space"),
        pytest.param("1.5k", 1500, id="fraction"),
        pytest.param("1,024 b", 1024, id="comma"),
    ],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "KB", "1 parsec"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


