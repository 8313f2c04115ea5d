"""caddy-snake 0.6's newer ``python`` subdirectives, kept as written:
``runtime``, ``start_timeout`` and ``python_path``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.config_helpers import build, build_error


def block(interface: str, line: str) -> str:
    return f':8080 {{\n\tpython {{\n\t\tmodule_{interface} "app:app"\n\t\t{line}\n\t}}\n}}\n'


def app_of(project: Path, text: str):
    return build(project, text).listeners[0].sites[0].routes[0].handler


@pytest.mark.parametrize(("interface", "value"), [
    ("wsgi", "sync"), ("asgi", "uvloop"), ("asgi", "native")])
def test_runtimes_fastsnake_implements_are_accepted(tmp_path, interface, value):
    assert app_of(tmp_path, block(interface, f"runtime {value}")).target == "app:app"


@pytest.mark.parametrize(("interface", "value", "message"), [
    ("asgi", "gevent", "4: runtime for module_asgi must be uvloop or native, got 'gevent'"),
    ("wsgi", "uvloop", "4: runtime for module_wsgi must be sync or gevent, got 'uvloop'"),
    ("asgi", "sync", "4: runtime for module_asgi must be uvloop or native, got 'sync'"),
])
def test_runtimes_refused_with_their_reason(tmp_path, interface, value, message):
    assert message in build_error(tmp_path, block(interface, f"runtime {value}"))


@pytest.mark.parametrize(("value", "seconds"), [
    ("30s", 30.0), ("2m", 120.0), ("forever", None), ("-1", None), ("inf", None)])
def test_start_timeout(tmp_path, value, seconds):
    assert app_of(tmp_path, block("wsgi", f"start_timeout {value}")).start_timeout == seconds


def test_start_timeout_default_is_caddy_snakes(tmp_path):
    assert app_of(tmp_path, block("wsgi", "workers 1")).start_timeout == 120.0


@pytest.mark.parametrize("value", ["0s", "soon", "-5s"])
def test_bad_start_timeouts(tmp_path, value):
    assert "4: " in build_error(tmp_path, block("wsgi", f"start_timeout {value}"))


def test_python_path_of_this_interpreter_is_accepted(tmp_path):
    app = app_of(tmp_path, block("wsgi", f'python_path "{sys.executable}"'))
    assert app.python == ""  # nothing to switch to
    assert build(tmp_path, block("wsgi", f'python_path "{sys.executable}"')).interpreter == ""


def test_python_path_without_fastsnake_is_refused(tmp_path):
    other = tmp_path / "python9"
    other.write_text("#!/bin/sh\nexit 1\n")
    other.chmod(0o755)
    message = build_error(tmp_path, block("wsgi", f'python_path "{other}"'))
    assert ("4: python_path '<dir>/python9' cannot import fastsnake: install it in that "
            "environment") in message


def test_python_path_that_is_no_program_is_refused(tmp_path):
    message = build_error(tmp_path, block("wsgi", 'python_path "nowhere/python"'))
    assert "4: python_path '<dir>/nowhere/python' is not an executable file" in message


@pytest.mark.parametrize(("line", "name", "reason"), [
    ("isolation docker", "isolation docker", "runs no containers"),
    ('isolation docker {\n\t\t\timage "python:3.13-slim"\n\t\t\tread_only\n\t\t}',
     "isolation docker", "run fastsnake itself in the container"),
])
def test_caddy_snake_features_refused_by_name(tmp_path, line, name, reason):
    message = build_error(tmp_path, block("wsgi", line))
    assert f"4: caddy-snake's {name} is not supported by fastsnake: " in message
    assert reason in message


@pytest.mark.parametrize(("line", "value"), [
    ("", "process"), ("isolation none", "process"), ("isolation process", "process"),
    ("isolation worker", "worker")])
def test_isolation(tmp_path, line, value):
    assert app_of(tmp_path, block("wsgi", line)).isolation == value


@pytest.mark.parametrize(("line", "message"), [
    ("isolation podman", "4: isolation must be 'none' or 'process' (a dynamic app's tenants"),
    ("isolation podman", "backend is not supported by fastsnake; got 'podman'"),
    ("isolation", "4: wrong argument count"),
    ("isolation none {\n\t\t\timage x\n\t\t}", "4: unexpected block after 'none'"),
])
def test_isolation_mistakes(tmp_path, line, message):
    assert message in build_error(tmp_path, block("wsgi", line))
