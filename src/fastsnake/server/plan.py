"""The one place that decides what ``workers_runtime`` means.

    process  N worker processes (the listener's ``workers``), each serving
             every app; WSGI on the loop's thread unless ``threads N`` asks
             for a pool; autoreload of a static app replaces the workers
             one at a time (a fresh interpreter each time).
    thread   one worker process; WSGI on a thread pool (``threads``, default
             DEFAULT_WSGI_THREADS); ``workers`` is ignored with a notice;
             autoreload swaps the app inside the process.
    gevent   N worker processes (``workers``) that serve the port's one WSGI
             app on gevent (server/gevent_worker.py): monkey-patched, a
             greenlet per connection; autoreload as in the process runtime.

Dynamic apps (placeholders) live inside each worker in both runtimes, and
their folders are watched there. Everything else asks this module instead
of looking at the runtime itself.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass

from fastsnake.config.model import (
    DEFAULT_START_TIMEOUT,
    Config,
    Interface,
    Listener,
    PythonApp,
    Runtime,
)
from fastsnake.request.placeholders import has_placeholders

log = logging.getLogger("fastsnake.runtime")

# WSGI apps mostly wait on I/O (databases, HTTP calls): a pool several times
# the core count keeps the CPU busy without thousands of threads.
DEFAULT_WSGI_THREADS = 32


@dataclass(frozen=True)
class Plan:
    processes: int
    wsgi_threads: int | None        # None: WSGI runs on the loop's thread
    reload_in_process: bool         # autoreload swaps apps inside the worker
    max_requests: int | None = None  # replace a worker after this many requests
    gevent: bool = False            # the worker is server/gevent_worker.py, not worker.py


def uses_worker_processes() -> bool:
    """Whether listeners get forked worker processes under a supervisor.
    Without fork (Windows; or FASTSNAKE_NO_FORK=1, which exercises that path
    anywhere) everything runs in this process, thread runtime only."""
    return (hasattr(os, "fork") and sys.platform != "win32"
            and not os.environ.get("FASTSNAKE_NO_FORK"))


def shares_listening_socket() -> bool:
    """Whether workers share one listening socket made by the supervisor
    instead of a SO_REUSEPORT socket each: on macOS, whose SO_REUSEPORT
    does not spread connections over processes (FASTSNAKE_SHARED_SOCKET=1
    exercises this anywhere)."""
    return sys.platform == "darwin" or bool(os.environ.get("FASTSNAKE_SHARED_SOCKET"))


def is_dynamic(app: PythonApp) -> bool:
    return any(has_placeholders(value) for value in (app.target, app.working_dir or "",
                                                     app.venv or ""))


def plan_for(listener: Listener) -> Plan:
    wsgi_threads = [a.threads for a in listener.apps
                    if a.interface is Interface.WSGI and a.threads is not None]
    max_requests = min((a.max_requests for a in listener.apps if a.max_requests), default=None)
    if listener.runtime is Runtime.THREAD:
        if any(a.workers and a.workers > 1 for a in listener.apps):
            log.info("%s: workers is ignored in the thread runtime (one process)",
                     listener.display_address)
        return Plan(1, max(wsgi_threads, default=DEFAULT_WSGI_THREADS), True, max_requests)
    if listener.runtime is Runtime.GEVENT:
        return Plan(listener.workers, None, False, max_requests, gevent=True)
    return Plan(listener.workers, max(wsgi_threads) if wsgi_threads else None, False,
                max_requests)


def worker_processes(config: Config) -> int:
    """How many worker processes serve ``config`` at once (replacements aside)."""
    return sum(plan_for(listener).processes for listener in config.listeners)


def rolling_reload_folders(listener: Listener) -> set[str]:
    """Folders whose changes the supervisor answers by replacing workers."""
    if plan_for(listener).reload_in_process:
        return set()
    return {os.path.realpath(a.working_dir or os.getcwd()) for a in listener.apps
            if a.autoreload and not is_dynamic(a)}


def start_timeout(listener: Listener) -> float | None:
    """How long a worker of this listener may take to become ready (import
    its apps, run their lifespan startup): the longest its apps allow,
    None when one of them waits for ever."""
    limits = [app.start_timeout for app in listener.apps]
    if not limits:
        return DEFAULT_START_TIMEOUT
    if any(limit is None for limit in limits):
        return None
    return max(limit for limit in limits if limit is not None)
