"""Serving without worker processes, where there is no fork (Windows).

Every listener runs in this process on one event loop, in the thread
runtime (WSGI on a thread pool, ASGI on the loop); autoreload swaps apps
in-process as it does in a thread-runtime worker. The process runtime needs
fork and is refused here with a clear message. Signals: SIGINT/SIGTERM (and
SIGBREAK on Windows) drain and stop; a second SIGINT stops at once.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import Any

from fastsnake.config.model import Config
from fastsnake.errors import ConfigError, FatalError
from fastsnake.server.certificates import Certificates
from fastsnake.server.listening import bind_socket
from fastsnake.server.memory import tune_malloc
from fastsnake.server.plan import plan_for
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

        def on_signal(signum: int, frame: Any) -> None:
            for worker in workers:
                loop.call_soon_threadsafe(worker.request_stop, signum)

        for signum in stop_signals():
            signal.signal(signum, on_signal)
        loop.run_until_complete(asyncio.gather(
            *(worker.serve(lambda index=index: on_ready(index))
              for index, worker in enumerate(workers))))
    finally:
        certificates.close()
        loop.close()
    return 0
