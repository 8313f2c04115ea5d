"""``supervisor off`` and ``supervisor watchdog``: the whole server in one process.

A supervisor costs a Python interpreter of its own (about 19 MB of RSS with
the Caddyfile loaded, 8 MB at the very least); a single-process server
saves it, as uvicorn does with one worker, and gives up what only a Python
supervisor can do: replace a worker beside
the old one (``max_requests``, autoreload in the process runtime) and run
several worker processes. What needs those is refused here, at the line
that asks for it, rather than silently doing less. (A reload re-executes
the process instead: server/handover.py. With ``watchdog`` a C program of
a few hundred KiB starts the process again if it dies: server/watchdog.py.)
"""

from __future__ import annotations

from dataclasses import replace

from fastsnake.config.model import Listener, PythonApp, Runtime
from fastsnake.errors import CaddyfileError


def one_process_listeners(listeners: tuple[Listener, ...], mode: str,
                          location: str) -> tuple[Listener, ...]:
    """Every listener served by one process; ``mode`` (off or watchdog) and
    ``location`` ("file:line") are the supervisor option's, which errors name."""
    option = f"'supervisor {mode}' at {location}"
    return tuple(_one_process(listener, option) for listener in listeners)


def _one_process(listener: Listener, option: str) -> Listener:
    for app in listener.apps:
        if listener.runtime is Runtime.GEVENT:
            _refuse(app, option, "runtime gevent runs gevent worker processes")
        if app.workers is not None and app.workers > 1 and listener.runtime is Runtime.PROCESS:
            _refuse(app, option, f"workers {app.workers} needs worker processes")
        if app.max_requests:
            _refuse(app, option, "max_requests replaces a worker process")
        if app.autoreload and listener.runtime is Runtime.PROCESS:
            _refuse(app, option, "autoreload in workers_runtime process replaces worker "
                                 "processes (workers_runtime thread reloads in-process)")
    return replace(listener, workers=1)


def _refuse(app: PythonApp, option: str, why: str) -> None:
    file, _, line = app.location.rpartition(":")
    raise CaddyfileError(f"{why}, which needs the supervisor; {option} serves everything "
                         "in one process",
                         file, int(line) if line.isdigit() else 0)
