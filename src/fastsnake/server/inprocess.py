"""Serving without worker processes: where there is no fork (Windows), and
with the global ``supervisor off`` (config/one_process.py).

Every listener runs in this process on one event loop. Without fork that is
the thread runtime (WSGI on a thread pool, ASGI on the loop; autoreload
swaps apps in-process as it does in a thread-runtime worker) and the
process runtime is refused with a clear message. With ``supervisor off``
this process is also the one worker of a ``workers_runtime process``
listener (WSGI on the loop's thread). Signals: SIGINT/SIGTERM (and SIGBREAK
on Windows) drain and stop; a second SIGINT stops at once; SIGUSR1 reopens
the log files; SIGHUP (``supervisor off``) reloads by re-executing this
process with its listening sockets (server/handover.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from typing import Any

from fastsnake.config.model import GENERATED_SOURCE, Config
from fastsnake.errors import ConfigError, FatalError
from fastsnake.routing.logfiles import reopen_files
from fastsnake.server.certificates import Certificates
from fastsnake.server.handover import check_apps, exec_again, take_inherited
from fastsnake.server.listening import listen_on
from fastsnake.server.memory import tune_malloc
from fastsnake.server.plan import plan_for, start_timeout, uses_worker_processes
from fastsnake.server.watchdog import report_ready
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
    return InProcessServer(config).run()


class InProcessServer:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.start_dir = os.getcwd()  # before the apps move to their working_dir
        self.loop = new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.workers: list[Worker] = []
        # The listening sockets, kept here for a reload to hand over (each
        # worker serves a duplicate, which its stop closes).
        self.sockets: dict[Address, socket.socket] = {}
        self.certificates = Certificates()
        self.ready: set[int] = set()
        self.reloading = False
        self.handing_over = False
        self.start_timer: threading.Timer | None = None

    @property
    def reloadable(self) -> bool:
        """SIGHUP re-executes this process: with ``supervisor off`` on POSIX
        (without fork the supervisor's signals do not exist)."""
        return not self.config.supervised and sys.platform != "win32"

    def run(self) -> int:
        config, loop = self.config, self.loop
        inherited = take_inherited() if self.reloadable else {}
        try:
            self.certificates.apply(config.auto_https, start=False)
            for listener in config.listeners:
                apps = ServedApps(config, listener, loop, plan_for(listener))
                sock = inherited.pop((listener.host, listener.port), None) or listen_on(listener)
                self.sockets[(listener.host, listener.port)] = sock
                self.workers.append(Worker(config, listener,
                                           sock.dup() if self.reloadable else sock, apps,
                                           own_signals=False, sole_holder=True))
            for sock in inherited.values():  # addresses the new Caddyfile dropped
                sock.close()
            with published_if(config), self.start_deadline():
                self.watch_signals()
                loop.run_until_complete(asyncio.gather(
                    *(worker.serve(lambda index=index: self.on_ready(index))
                      for index, worker in enumerate(self.workers))))
                if self.handing_over:
                    self.certificates.close()
                    loop.close()
                    log.info("reloading: this process starts again with the new configuration")
                    exec_again(self.sockets, self.start_dir)  # (the control file stays)
        finally:
            self.certificates.close()
            loop.close()
        return 0

    @contextlib.contextmanager
    def start_deadline(self) -> Iterator[None]:
        """start_timeout: apps not ready in time are a startup failure (exit
        code 1), as a worker is under the supervisor. A thread keeps the
        time, since an import that hangs holds the loop's thread too."""
        limits = [start_timeout(listener) for listener in self.config.listeners]
        if not limits or any(limit is None for limit in limits):
            yield
            return
        limit = max(limit for limit in limits if limit is not None)

        def too_slow() -> None:
            if len(self.ready) < len(self.workers):
                log.error("the apps were not ready within start_timeout %gs; stopping", limit)
                sys.stderr.flush()
                os._exit(1)  # as fastsnake's exit on any startup failure

        self.start_timer = threading.Timer(limit, too_slow)
        self.start_timer.daemon = True
        self.start_timer.start()
        try:
            yield
        finally:
            self.start_timer.cancel()

    def on_ready(self, index: int) -> None:
        self.ready.add(index)
        if len(self.ready) == len(self.workers):
            if self.start_timer is not None:
                self.start_timer.cancel()
            for line in banner_lines(self.config):
                print(line, file=sys.stderr, flush=True)
            self.certificates.start()  # the CA work once the listeners serve
            if self.config.watchdog:
                report_ready()

    def on_stop(self, signum: int, frame: Any = None) -> None:
        self.handing_over = False  # a stop during a reload's drain is a stop
        for worker in self.workers:
            worker.sole_holder = True
            self.loop.call_soon_threadsafe(worker.request_stop, signum)

    def watch_signals(self) -> None:
        if sys.platform == "win32":
            for signum in stop_signals():
                signal.signal(signum, self.on_stop)
            return
        # The loop's own handlers: a plain Python handler waits until the loop
        # next runs Python code, which an idle uvloop may not do for a while.
        for signum in stop_signals():
            self.loop.add_signal_handler(signum, self.on_stop, signum)
        self.loop.add_signal_handler(signal.SIGUSR1, reopen_log_files)
        self.loop.add_signal_handler(signal.SIGHUP, self.on_reload)

    def on_reload(self) -> None:
        if not self.reloadable:
            log.error("SIGHUP: serving without fork, this server cannot reload: restart it")
        elif self.reloading or self.handing_over:
            log.info("SIGHUP: a reload is already under way")
        else:
            self.reloading = True
            self.loop.create_task(self.reload())

    async def reload(self) -> None:
        """SIGHUP: check the new configuration and its apps, then drain and
        re-execute this process with it (see handover.py)."""
        try:
            config = self.config
            if config.source != GENERATED_SOURCE:
                from fastsnake.config.loader import load_config

                # (relative to where fastsnake started: the apps moved the cwd)
                config = load_config(os.path.join(self.start_dir, config.source))
            change = restart_needed(self.config, config)
            if change:
                log.error("SIGHUP: the new configuration %s; that needs a restart, keeping "
                          "the old one", change)
                return
            failure = await check_apps(config)
            if failure is not None:
                log.error("SIGHUP: the new configuration's apps do not load, keeping the old "
                          "one: %s", failure)
                return
        except FatalError as exc:
            log.error("SIGHUP: the new configuration does not load, keeping the old one: %s",
                      exc)
            return
        finally:
            self.reloading = False
        log.info("SIGHUP: configuration checked; draining, then restarting this process")
        self.handing_over = True
        for worker in self.workers:
            worker.sole_holder = False  # the listening socket stays open and queues
            worker.request_stop(signal.SIGHUP)


Address = tuple[str, int]


def restart_needed(old: Config, new: Config) -> str:
    """What in ``new`` a re-executed process cannot take over ("": nothing)."""
    if new.supervised:
        return "starts a supervisor"
    if new.watchdog != old.watchdog:
        return "switches between 'supervisor off' and 'supervisor watchdog'"
    if new.interpreter != old.interpreter:
        return "names another python_path"
    return ""


def reopen_log_files() -> None:
    reopen_files()
    log.info("received SIGUSR1: log files reopen")


def published_if(config: Config) -> contextlib.AbstractContextManager[object]:
    """The control file, so that ``fastsnake stop`` and ``fastsnake reload``
    reach this server; none without fork, where the supervisor's signals do
    not exist, or with ``admin off``."""
    if not config.admin or config.source == GENERATED_SOURCE or not uses_worker_processes():
        return contextlib.nullcontext()
    from fastsnake.server.control import published

    return published(config.source)
