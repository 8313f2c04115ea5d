"""Serving without worker processes: where there is no fork (Windows), and
with the global ``supervisor off`` (config/one_process.py).

Every listener runs in this process on one event loop. Without fork that is
the thread runtime (WSGI on a thread pool, ASGI on the loop; autoreload
swaps apps in-process as it does in a thread-runtime worker) and the
process runtime is refused with a clear message. With ``supervisor off``
this process is also the one worker of a ``workers_runtime process``
listener (WSGI on the loop's thread). Signals: SIGINT/SIGTERM (and SIGBREAK
on Windows) drain and stop; a second SIGINT stops at once; SIGUSR1 reopens
the log files; SIGHUP, which asks a supervisor to replace its workers, is
logged and otherwise ignored (there is none to do it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable
from typing import Any

from fastsnake.config.model import GENERATED_SOURCE, Config
from fastsnake.errors import ConfigError, FatalError
from fastsnake.routing.logfiles import reopen_files
from fastsnake.server.certificates import Certificates
from fastsnake.server.listening import bind_socket
from fastsnake.server.memory import tune_malloc
from fastsnake.server.plan import plan_for, uses_worker_processes
from fastsnake.server.worker import (
    ServedApps,
    Worker,
    banner_lines,
    configure_logging,
    new_event_loop,
)

log = logging.getLogger("fastsnake.inprocess")


def stop_signals() -> list[int]:
    signals = [signal.SIGINT, signal.SIGTERM]
    if hasattr(signal, "SIGBREAK"):  # Windows: Ctrl+Break and console close
        signals.append(signal.SIGBREAK)
    return signals


def serve_in_process(config: Config) -> int:
    configure_logging(config.debug, config.server_log)
    for listener in config.listeners:
        # (supervisor off has already refused more than one process at load)
        if plan_for(listener).processes != 1:
            raise ConfigError(
                f"{listener.display_address}: workers_runtime process needs fork, which this "
                "platform lacks; use workers_runtime thread")
    tune_malloc()
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    workers: list[Worker] = []
    certificates = Certificates()
    try:
        certificates.apply(config.auto_https, start=False)
        for listener in config.listeners:
            apps = ServedApps(config, listener, loop, plan_for(listener))
            try:
                sock = bind_socket(listener.host, listener.port, reuse_port=False)
            except OSError as exc:
                raise FatalError(f"cannot listen on {listener.display_address}: "
                                 f"{exc.strerror or exc}") from exc
            workers.append(Worker(config, listener, sock, apps, own_signals=False,
                                  sole_holder=True))
        ready = set()

        def on_ready(index: int) -> None:
            ready.add(index)
            if len(ready) == len(workers):
                for line in banner_lines(config):
                    print(line, file=sys.stderr, flush=True)
                certificates.start()  # the CA work once the listeners serve

        def on_signal(signum: int, frame: Any = None) -> None:
            for worker in workers:
                loop.call_soon_threadsafe(worker.request_stop, signum)

        with published_if(config):
            watch_signals(loop, on_signal)
            loop.run_until_complete(asyncio.gather(
                *(worker.serve(lambda index=index: on_ready(index))
                  for index, worker in enumerate(workers))))
    finally:
        certificates.close()
        loop.close()
    return 0


def watch_signals(loop: asyncio.AbstractEventLoop, on_stop: Callable[[int], None]) -> None:
    if sys.platform == "win32":
        for signum in stop_signals():
            signal.signal(signum, on_stop)
        return
    # The loop's own handlers: a plain Python handler waits until the loop
    # next runs Python code, which an idle uvloop may not do for a while.
    for signum in stop_signals():
        loop.add_signal_handler(signum, on_stop, signum)
    loop.add_signal_handler(signal.SIGUSR1, reopen_log_files)
    loop.add_signal_handler(signal.SIGHUP, refuse_reload)


def reopen_log_files() -> None:
    reopen_files()
    log.info("received SIGUSR1: log files reopen")


def refuse_reload() -> None:
    log.error("SIGHUP: this server runs with 'supervisor off', which cannot replace its "
              "workers: restart fastsnake to load a new configuration")


def published_if(config: Config) -> contextlib.AbstractContextManager[object]:
    """The control file, so that ``fastsnake stop`` reaches this server (and
    ``fastsnake reload`` says why it cannot); none without fork, where the
    supervisor's signals do not exist, or with ``admin off``."""
    if not config.admin or config.source == GENERATED_SOURCE or not uses_worker_processes():
        return contextlib.nullcontext()
    from fastsnake.server.control import published

    return published(config.source, one_process=True)
