"""fastsnake-watchdog (csrc/watchdog.c), the program itself, around small
real children: exit statuses, restarts, signals passed on, its own process
group, and the child's end when the watchdog is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from fastsnake.server.watchdog import PROGRAM, READY

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="a POSIX program")

# A child that says it is ready, then does what its first argument says.
CHILD = textwrap.dedent(f"""
    import os, signal, sys, time
    log = open(sys.argv[2], "a")
    print(os.getpid(), os.getpgrp(), file=log, flush=True)
    os.write(int(os.environ["{READY}"]), b"1")
    runs = len(open(sys.argv[2]).read().splitlines())
    what = sys.argv[1]
    if what == "crash-once":
        os._exit(5 if runs == 1 else 0)
    if what == "hup":
        signal.signal(signal.SIGHUP, lambda *a: (print("hup", file=log, flush=True),
                                                 sys.exit(0)))
    time.sleep(30)
""")


def watchdog(tmp_path: Path, *argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen([PROGRAM, *argv], stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path)


def child(tmp_path: Path, what: str) -> list[str]:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    return [sys.executable, str(script), what, str(tmp_path / "runs")]


def runs(tmp_path: Path, count: int) -> list[list[str]]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        path = tmp_path / "runs"
        lines = [line.split() for line in path.read_text().splitlines()] if path.exists() else []
        if len([line for line in lines if line[0] != "hup"]) >= count:
            return lines
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} runs")


def test_it_is_built_here():
    assert os.access(PROGRAM, os.X_OK), f"{PROGRAM}: setup.py's build_ext builds it"


@pytest.mark.parametrize(("command", "status"), [
    (["sh", "-c", "exit 3"], 3),                  # never ready: its status, no restart
    (["sh", "-c", "kill -9 $$"], 128 + 9),
    (["sh", "-c", "exit 0"], 0),
    (["/nonexistent/program"], 127),
])
def test_a_child_that_never_got_ready_is_not_started_again(tmp_path, command, status):
    proc = watchdog(tmp_path, *command)
    _, errors = proc.communicate(timeout=20)
    assert proc.returncode == status
    assert "starting it again" not in errors


def test_a_child_that_dies_after_ready_is_started_again(tmp_path):
    proc = watchdog(tmp_path, *child(tmp_path, "crash-once"))
    _, errors = proc.communicate(timeout=30)
    assert proc.returncode == 0  # the second run exits 0: the watchdog too
    first, second = runs(tmp_path, 2)
    assert first[0] != second[0]
    assert f"the server process {first[0]} exited with code 5; starting it again in 0.5s" in errors
    assert f"fastsnake[{proc.pid}] ERROR fastsnake.watchdog:" in errors


def test_signals_are_passed_on_and_the_child_has_its_own_group(tmp_path):
    proc = watchdog(tmp_path, *child(tmp_path, "hup"))
    (pid, group), = runs(tmp_path, 1)
    assert int(group) == int(pid) != os.getpgid(proc.pid)  # Ctrl+C reaches the watchdog only
    proc.send_signal(signal.SIGHUP)
    assert proc.wait(20) == 0  # the child exited 0 on its SIGHUP: so does the watchdog
    assert (tmp_path / "runs").read_text().splitlines()[-1] == "hup"


def test_sigterm_stops_with_the_childs_status(tmp_path):
    proc = watchdog(tmp_path, *child(tmp_path, "sleep"))
    runs(tmp_path, 1)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 128 + signal.SIGTERM  # this child does not catch it


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG")
def test_the_child_goes_when_the_watchdog_is_killed(tmp_path):
    proc = watchdog(tmp_path, *child(tmp_path, "sleep"))
    (pid, _), = runs(tmp_path, 1)
    proc.kill()
    proc.wait(10)
    deadline = time.monotonic() + 10
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(pid)


def running(pid: str) -> bool:
    """Alive, and not a zombie waiting for whoever adopted it to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"
