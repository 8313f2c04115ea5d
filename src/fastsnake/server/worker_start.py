"""A worker's start, on both sides of the fork: what the supervisor loads
before forking several workers (so that they share it), and the forked
child's entry point, which undoes the supervisor's plumbing and runs the
worker. Apart from supervisor.py, whose job is keeping workers alive."""

from __future__ import annotations

import contextlib
import os
import signal
import socket

from fastsnake.config.model import Config, Interface
from fastsnake.routing.logfiles import reopen_files
from fastsnake.server.forked import WorkerPipe
from fastsnake.server.lifecycle import die_with_parent
from fastsnake.server.plan import plan_for


def worker_main(config: Config, listener_index: int, sock: socket.socket,
                others: list[socket.socket], pipe: WorkerPipe, tolerant: bool,
                parent: int) -> int:
    """Entry point of a forked worker process: its exit code."""
    # Other workers' sockets came along with fork: holding them would keep
    # them open (and their queues unserved) after the supervisor lets go.
    for other in others:
        other.close()
    # Undo the supervisor's signal plumbing; the worker's loop installs its own.
    signal.set_wakeup_fd(-1)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
    # Relayed by the supervisor; reopen_files only marks the writers, so a
    # plain handler is safe at any point (and SIGUSR1 never kills a worker).
    signal.signal(signal.SIGUSR1, lambda signum, frame: reopen_files())
    die_with_parent(parent)

    def ready() -> None:
        pipe.send("ready", str(os.getpid()))

    def failed(message: str) -> None:
        pipe.send("failed", message)

    def recycle() -> None:
        pipe.send("recycle", str(os.getpid()))

    # Imported here, after the fork: the supervisor itself never loads the
    # event loop, the protocol, the apps or gevent (see lifecycle.py).
    if plan_for(config.listeners[listener_index]).gevent:
        from fastsnake.server.gevent_worker import run_gevent_worker as run_worker
    else:
        from fastsnake.server.worker import run_worker

    return run_worker(config, listener_index, sock, ready=ready, failed=failed,
                      tolerant=tolerant, recycle=recycle)


def share_worker_modules(config: Config) -> None:
    """With more than one worker, load what every worker imports here, before
    forking them: the workers then share those pages (copy-on-write, frozen
    by memory.before_fork) instead of each importing a copy. With one worker
    nothing is shared, so the supervisor stays without them (see memory.py
    for the measurements behind the choice)."""
    # gevent workers load none of it (server/gevent_worker.py).
    if sum(plan_for(listener).processes for listener in config.listeners
           if not plan_for(listener).gevent) < 2:
        return
    from fastsnake.server import worker  # noqa: F401

    if any(app.interface is Interface.ASGI for listener in config.listeners
           for app in listener.apps):
        # Loaded by a worker only for ASGI apps (apps/factory.py): here once.
        from fastsnake import _asgi  # noqa: F401
    if os.environ.get("FASTSNAKE_LOOP", "").lower() != "asyncio":  # loops.new_event_loop's
        with contextlib.suppress(ImportError):
            import uvloop  # noqa: F401
