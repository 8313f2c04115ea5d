"""``supervisor watchdog``: one server process under fastsnake-watchdog.

The Python side of csrc/watchdog.c. ``fastsnake`` binds the listening
sockets, then replaces itself with the watchdog (``watch``), handing them
over as a reload does (handover.py); the watchdog keeps them open and runs
``fastsnake`` again as its child, which adopts them and serves as with
``supervisor off``. When that child dies, the watchdog starts another on the
same sockets, so clients that connect meanwhile wait instead of being
refused. The child says it is ready (``report_ready``) so that the watchdog
can tell a server that never started, which it does not start again, from
one that died serving.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

import fastsnake
from fastsnake.config.model import Config
from fastsnake.errors import ConfigError
from fastsnake.server.handover import exec_command
from fastsnake.server.listening import listen_on

WATCHED = "FASTSNAKE_WATCHED"      # set in the child: it serves, it does not start a watchdog
READY = "FASTSNAKE_WATCHDOG_READY"  # the child's end of the readiness pipe
PROGRAM = os.path.join(os.path.dirname(fastsnake.__file__), "fastsnake-watchdog")


def is_watched() -> bool:
    return bool(os.environ.get(WATCHED))


def watch(config: Config) -> NoReturn:
    """Bind ``config``'s listeners and become the watchdog of a new run of
    this command line."""
    if not os.access(PROGRAM, os.X_OK):
        raise ConfigError(f"{config.source}: supervisor watchdog needs {PROGRAM}, which this "
                          "installation of fastsnake lacks (it is built with the extensions "
                          "where a C compiler is present); use 'supervisor off' or 'on'")
    sockets = {(listener.host, listener.port): listen_on(listener)
               for listener in config.listeners}
    os.environ[WATCHED] = "1"
    exec_command([PROGRAM, sys.executable, *sys.orig_argv[1:]], sockets)


def report_ready() -> None:
    """In the child: tell the watchdog that every listener serves (once)."""
    fd = os.environ.pop(READY, "")
    if fd.isdigit():
        try:
            os.write(int(fd), b"1")
            os.close(int(fd))
        except OSError:
            pass  # no watchdog reads it (a reload re-executed without it)
