"""What the supervisor and its workers agree on, kept apart from the worker.

A worker's module imports the event loop, the Cython protocol, routing and
the apps; the supervisor needs none of that, and everything it imports
before forking is in every worker too (copy-on-write, but counted in each
process's RSS). So the few things both sides use live here, on imports the
supervisor has anyway: the exit code of a worker that cannot start, the
logging setup, and the banner.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from typing import Any

from fastsnake.config.model import Config
from fastsnake.server.plan import plan_for

# A worker that cannot start (bad import, address in use) exits with this code
# so the supervisor stops instead of respawning it in a loop.
EXIT_STARTUP_FAILED = 3


def banner_lines(config: Config) -> list[str]:
    """The startup line of each listener: address, runtime, workers, apps."""
    lines = []
    for listener in config.listeners:
        plan = plan_for(listener)
        apps = ", ".join(f"{a.target} ({a.interface.value})" for a in listener.apps) or "none"
        workers = plan.processes if config.supervised else (
            f"1 (supervisor {'watchdog' if config.watchdog else 'off'})")
        lines.append(f"fastsnake: serving {listener.scheme}://{listener.display_address} "
                     f"runtime={listener.runtime.value} workers={workers} apps={apps}")
    return lines


def configure_logging(debug: bool, server_log: Any = None) -> None:
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO, stream=sys.stderr,
        format="%(asctime)s fastsnake[%(process)d] %(levelname)s %(name)s: %(message)s")
    if server_log is not None:
        # The global ``log`` option: where and how the server's own log goes.
        # Imported only then: without it no process loads the log writers.
        from fastsnake.routing.accesslog import configure_server_log

        configure_server_log(server_log, debug=debug)


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent: int) -> None:
    """Linux: have the kernel send SIGTERM (a drain) when the supervisor dies,
    even by SIGKILL, so no worker is left serving as an orphan."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)
