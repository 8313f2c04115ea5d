"""The process runtime: worker processes per listener, kept alive and replaced.

Theory of operation
-------------------
The supervisor forks each worker (it never imports an app or runs an event
loop itself, so forking it is safe and fast) and then sleeps in one blocking
poll on: every worker's pipe (its messages; end-of-file when it exits, see
forked.py) and a self-pipe that signal handlers and the file watcher write
to. Signal handlers only record the signal; the loop acts on it.

Workers:   starting -> ready -> (exits) -> respawn after a backoff.
           A worker that cannot start at launch (import error, address in
           use) stops the server with exit code 1 instead of respawning in a
           loop; later, a worker that cannot start is retried with backoff.
Sockets:   the supervisor binds every listening socket and holds it; each
           worker position of a listener has its own SO_REUSEPORT socket
           (the kernel spreads connections over them), or all share one
           (runtime.shares_listening_socket). A worker inherits its socket
           and closes the others. Closing a listening socket resets the
           connections queued on it, so none is closed while a worker will
           still accept from it (see ListeningSockets and listening.py).
Replacing: a replacement starts on the socket of the worker it replaces, and
           only once it is ready is the old worker told to drain: the socket
           and its queue outlive the swap. Autoreload (process runtime)
           replaces a listener's workers one at a time; max_requests one
           worker; SIGHUP re-reads the Caddyfile and replaces them all (a
           Caddyfile that does not load is logged and the old config keeps
           serving).
Signals:   SIGTERM/SIGINT: refuse new connections, forward SIGTERM (each
           worker serves what its socket queued, then drains), wait for the
           workers (grace period), exit 0. A second SIGINT: kill at once,
           exit 1. SIGUSR1 (logrotate's postrotate): every process, this one
           and each worker, reopens its log files by path.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from fastsnake.apps.reloader import DirectoryWatcher
from fastsnake.config.loader import load_config
from fastsnake.config.model import DEFAULT_START_TIMEOUT, GENERATED_SOURCE, Config, Listener
from fastsnake.errors import FatalError
from fastsnake.routing.logfiles import reopen_files
from fastsnake.server.certificates import Certificates
from fastsnake.server.control import published
from fastsnake.server.forked import ForkedProcess, fork_process
from fastsnake.server.held_sockets import ListeningSockets
from fastsnake.server.lifecycle import EXIT_STARTUP_FAILED, banner_lines, configure_logging
from fastsnake.server.memory import before_fork
from fastsnake.server.plan import (
    plan_for,
    rolling_reload_folders,
    start_timeout,
)
from fastsnake.server.worker_start import share_worker_modules, worker_main

log = logging.getLogger("fastsnake.supervisor")

# Respawn backoff: immediate for a worker that had been up a while, doubling
# for one that keeps dying young.
HEALTHY_UPTIME = 5.0
MAX_BACKOFF = 10.0
# After the grace period, workers get this long to exit before SIGKILL.
KILL_MARGIN = 5.0


@dataclass(eq=False)
class WorkerSlot:
    config: Config
    listener_index: int
    position: int = 0                 # which of its listener's sockets it accepts on
    process: ForkedProcess | None = None
    started_at: float = 0.0
    ready: bool = False
    quick_failures: int = 0
    generation: int = 0
    respawn_at: float | None = None
    retiring: bool = False            # told to drain: not respawned, dropped on exit
    replaces: WorkerSlot | None = None
    messages: list[str] = field(default_factory=list)
    warned_slow: bool = False         # the slow-start warning was given

    @property
    def listener(self) -> Listener:
        return self.config.listeners[self.listener_index]


def describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


def wait_readable(fds: list[int], timeout: float | None) -> set[int]:
    """The fds readable (or ended) within ``timeout`` seconds (None: no limit)."""
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    # rounded up: a timeout that ends just short of a deadline would spin
    ms = None if timeout is None else int(-(-timeout * 1000 // 1))
    return {fd for fd, _ in poller.poll(ms)}


def slots_for(config: Config) -> list[WorkerSlot]:
    return [WorkerSlot(config, index, position)
            for index, listener in enumerate(config.listeners)
            for position in range(plan_for(listener).processes)]


@dataclass(eq=False)
class PendingReload:
    old_slots: list[WorkerSlot]
    new_slots: list[WorkerSlot]
    old_config: Config


class Supervisor:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.slots = slots_for(config)
        self.pending_signals: list[int] = []
        self.changed_folders: set[str] = set()
        self.rolling: list[WorkerSlot] = []   # autoreload: old workers still to replace
        self.certificates = Certificates()     # automatic HTTPS: the one process that asks CAs
        # SIGHUP: the old workers and their replacements, until every
        # replacement is ready (or one fails and the old ones stay)
        self.pending_reload: PendingReload | None = None
        self.announced = False
        self.stopping = False
        self.stop_deadline = 0.0
        self.exit_code = 0
        self.wakeup_read = -1
        self.wakeup_write = -1
        self.watcher = DirectoryWatcher(self.on_folders_changed)
        self.sockets = ListeningSockets()

    # -- signals and the watcher: record, wake the loop

    def on_signal(self, signum: int, frame: Any) -> None:
        self.pending_signals.append(signum)

    def on_folders_changed(self, folders: set[str]) -> None:
        # From the watcher's thread: record and wake the loop.
        self.changed_folders |= folders
        try:
            os.write(self.wakeup_write, b"\0")
        except (BlockingIOError, OSError):
            pass

    def install_signals(self) -> None:
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        os.set_blocking(write_fd, False)
        self.wakeup_read, self.wakeup_write = read_fd, write_fd
        signal.set_wakeup_fd(write_fd)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
            signal.signal(signum, self.on_signal)

    def watch_folders(self) -> None:
        for listener in self.config.listeners:
            for folder in rolling_reload_folders(listener):
                self.watcher.watch(folder)

    # -- workers

    def socket_key(self, slot: WorkerSlot) -> tuple[str, int, int]:
        return self.sockets.key(slot.listener, slot.position)

    def spawn(self, slot: WorkerSlot) -> None:
        try:
            sock = self.sockets.get(slot.listener, slot.position)
        except FatalError as exc:
            log.error("%s; retrying in %.0fs", exc, MAX_BACKOFF)
            slot.respawn_at = time.monotonic() + MAX_BACKOFF
            return
        others, tolerant, parent = self.sockets.others(sock), self.announced, os.getpid()
        share_worker_modules(slot.config)
        before_fork()
        slot.process = fork_process(lambda pipe: worker_main(
            slot.config, slot.listener_index, sock, others, pipe, tolerant, parent))
        if slot.started_at:
            slot.generation += 1
        slot.started_at = time.monotonic()
        slot.ready = False
        slot.warned_slow = False
        slot.respawn_at = None

    def on_worker_pipe(self, slot: WorkerSlot) -> None:
        """The worker's pipe is readable: its messages, then its exit if the
        pipe ended."""
        assert slot.process is not None
        messages, ended = slot.process.read()
        for kind, payload in messages:
            self.on_worker_message(slot, kind, payload)
        if ended:
            self.on_worker_exit(slot)

    def on_worker_message(self, slot: WorkerSlot, kind: str, payload: str) -> None:
        if kind == "ready":
            slot.ready = True
            if slot.generation or slot.replaces is not None:
                log.info("worker %s ready (%s)", payload,
                         "replacement" if slot.replaces is not None else "respawned")
            if slot.replaces is not None:
                self.retire(slot.replaces)
                slot.replaces = None
        elif kind == "failed":
            slot.messages.append(str(payload))
        elif kind == "recycle":
            # max_requests: replace it as autoreload does, ready before it drains.
            if not slot.retiring and not self.stopping and not any(
                    s.replaces is slot for s in self.slots):
                log.info("worker %s reached max_requests: replacing it", payload)
                new = WorkerSlot(slot.config, slot.listener_index, slot.position, replaces=slot)
                self.slots.append(new)
                self.spawn(new)

    def retire(self, slot: WorkerSlot) -> None:
        """Tell a worker to drain and exit; it is not respawned."""
        slot.retiring = True
        if slot.process is not None and slot.process.pid:
            try:
                os.kill(slot.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        elif slot in self.slots:
            self.slots.remove(slot)

    def on_worker_exit(self, slot: WorkerSlot) -> None:
        process = slot.process
        assert process is not None
        code = process.wait()
        slot.process = None
        if self.stopping:
            return
        if (self.pending_reload is not None and slot in self.pending_reload.new_slots
                and not slot.retiring):
            # A SIGHUP replacement died before taking over: keep the old workers.
            self.abandon_reload(slot, code)
            return
        if slot.retiring:
            log.info("worker %d retired (%s)", process.pid, describe_exit(code))
            self.slots.remove(slot)
            self.step_rolling()
            return
        if code == EXIT_STARTUP_FAILED and not self.announced:
            reason = slot.messages[-1] if slot.messages else "startup failed"
            log.error("worker could not start: %s; stopping", reason)
            self.exit_code = 1
            self.begin_stop(signal.SIGTERM)
            return
        uptime = time.monotonic() - slot.started_at
        slot.quick_failures = slot.quick_failures + 1 if uptime < HEALTHY_UPTIME else 0
        delay = 0.0 if slot.quick_failures <= 1 else min(
            MAX_BACKOFF, 0.1 * 2 ** (slot.quick_failures - 2))
        log.warning("worker %d %s after %.1fs; respawning in %.1fs",
                    process.pid, describe_exit(code), uptime, delay)
        if slot.replaces is not None:
            # A replacement that died: keep the old worker serving.
            slot.replaces = None
            self.slots.remove(slot)
            self.step_rolling()
            return
        slot.respawn_at = time.monotonic() + delay
        key = self.socket_key(slot)
        if delay and not any(other.process is not None and self.socket_key(other) == key
                             for other in self.slots):
            self.sockets.drop(key)

    # -- replacing workers

    def roll(self, folders: set[str]) -> None:
        """Autoreload in the process runtime: replace, one at a time, the
        workers of every listener that serves an app from these folders."""
        for slot in list(self.slots):
            if (not slot.retiring and slot not in self.rolling
                    and rolling_reload_folders(slot.listener) & folders):
                self.rolling.append(slot)
        self.step_rolling()

    def step_rolling(self) -> None:
        if any(s.replaces is not None for s in self.slots):
            return  # one replacement at a time
        while self.rolling:
            old = self.rolling.pop(0)
            if old in self.slots and not old.retiring:
                new = WorkerSlot(self.config, old.listener_index, old.position, replaces=old)
                self.slots.append(new)
                self.spawn(new)
                return

    def reload_config(self) -> None:
        """SIGHUP: load the Caddyfile again and replace every worker.

        Under ``fastsnake serve`` there is no file to read again: the workers
        are replaced with the same options, which re-imports the app's code
        (as gunicorn's HUP does)."""
        try:
            if self.config.source == GENERATED_SOURCE:
                log.info("SIGHUP: no Caddyfile to re-read (fastsnake serve); restarting the "
                         "workers with the same options")
                config = self.config
            else:
                config = load_config(self.config.source)
        except FatalError as exc:
            log.error("SIGHUP: the new configuration does not load, keeping the old one: %s",
                      exc)
            return
        if config.interpreter:
            log.error("SIGHUP: python_path now names %s; switching interpreters needs a "
                      "restart, keeping the old configuration", config.interpreter)
            return
        try:
            self.sockets.open(config)  # listeners new in it; the others are held
            self.certificates.apply(config.auto_https)
        except FatalError as exc:
            log.error("SIGHUP: %s; keeping the old configuration", exc)
            return
        log.info("SIGHUP: configuration reloaded; replacing workers")
        old_slots = [slot for slot in self.slots if not slot.retiring]
        old_config = self.config
        self.rolling.clear()
        self.config = config
        new_slots = slots_for(config)
        for new in new_slots:
            self.slots.append(new)
            self.spawn(new)
        # Old workers drain once every new one is ready (see step_reload).
        self.pending_reload = PendingReload(old_slots, new_slots, old_config)
        self.watcher.stop()
        self.watcher.folders.clear()
        self.watch_folders()

    def abandon_reload(self, failed: WorkerSlot, code: int | None) -> None:
        """A SIGHUP replacement exited before it was ready (its app does not
        import, its address is taken...): stop the other replacements and go
        on with the old workers and the old configuration, as autoreload
        does. The old workers never stopped serving, so no client noticed."""
        pending = self.pending_reload
        assert pending is not None
        self.pending_reload = None
        reason = failed.messages[-1] if failed.messages else describe_exit(code)
        log.error("SIGHUP: a new worker failed to start (%s); keeping the old workers and "
                  "the old configuration", reason)
        self.slots.remove(failed)
        for slot in pending.new_slots:
            if slot is not failed and slot in self.slots:
                self.retire(slot)
        self.config = pending.old_config
        # Sockets only the new configuration had are closed; the old ones stay.
        self.sockets.release({self.socket_key(slot) for slot in pending.old_slots})
        self.watcher.stop()
        self.watcher.folders.clear()
        self.watch_folders()

    def step_reload(self) -> None:
        if self.pending_reload is None:
            return
        old_slots, new_slots = self.pending_reload.old_slots, self.pending_reload.new_slots
        if all(slot.ready for slot in new_slots):
            self.pending_reload = None
            # Sockets the new config has no worker for close before their
            # old workers are told to stop.
            self.sockets.release({self.socket_key(slot) for slot in new_slots})
            for slot in old_slots:
                self.retire(slot)
            self.announce()

    # -- stopping

    def begin_stop(self, signum: int) -> None:
        if self.stopping:
            if signum == signal.SIGINT:
                log.warning("second interrupt: killing workers")
                self.kill_all()
                self.exit_code = 1
            return
        self.stopping = True
        self.watcher.stop()
        self.sockets.release(set())  # before the workers hear: they take the queues
        self.stop_deadline = time.monotonic() + self.config.grace_period + KILL_MARGIN
        for slot in self.slots:
            if slot.process is not None and slot.process.pid:
                try:
                    os.kill(slot.process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass

    def kill_all(self) -> None:
        for slot in self.slots:
            if slot.process is not None and slot.process.pid:
                try:
                    os.kill(slot.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def handle_wakeups(self) -> None:
        try:
            while os.read(self.wakeup_read, 512):
                pass
        except BlockingIOError:
            pass
        signals, self.pending_signals = self.pending_signals, []
        for signum in signals:
            if signum == signal.SIGHUP:
                if not self.stopping:
                    self.reload_config()
            elif signum == signal.SIGUSR1:
                self.reopen_log_files()
            else:
                log.info("received %s: stopping", signal.Signals(signum).name)
                self.begin_stop(signum)
        folders, self.changed_folders = self.changed_folders, set()
        if folders and not self.stopping:
            self.roll(folders)

    def reopen_log_files(self) -> None:
        """SIGUSR1: reopen this process's log files and have every worker do the same."""
        reopen_files()
        told = 0
        for slot in self.slots:
            if slot.process is not None and slot.process.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(slot.process.pid, signal.SIGUSR1)
                    told += 1
        # after the kills: once this line is out, every worker has the signal pending
        log.info("received SIGUSR1: log files reopen (and %d workers were told)", told)

    # -- the loop

    def announce(self) -> None:
        for line in banner_lines(self.config):
            print(line, file=sys.stderr, flush=True)

    def run(self) -> int:
        with contextlib.ExitStack() as stack:
            if self.config.admin and self.config.source != GENERATED_SOURCE:
                stack.enter_context(published(self.config.source))
            stack.callback(self.certificates.close)
            return self.serve()

    def serve(self) -> int:
        configure_logging(self.config.debug, self.config.server_log)
        self.sockets.open(self.config)
        # Local-CA certificates before the workers start; the CA work once
        # they serve (announce), so that validations find them listening.
        self.certificates.apply(self.config.auto_https, start=False)
        self.install_signals()
        # Watch before the workers start, so no edit after the banner is missed.
        self.watch_folders()
        for slot in self.slots:
            self.spawn(slot)
        while True:
            live = [s for s in self.slots if s.process is not None]
            if self.stopping and not live:
                break
            if not self.announced and not self.stopping and all(s.ready for s in self.slots):
                self.announce()
                self.announced = True
                self.certificates.start()
            owners = {slot.process.fd: slot for slot in live if slot.process is not None}
            ready = wait_readable([self.wakeup_read, *owners], self.next_timeout())
            if self.wakeup_read in ready or self.pending_signals or self.changed_folders:
                self.handle_wakeups()
            for fd in ready:
                slot = owners.get(fd)
                # (handling an earlier one may have reaped it, or stopped all)
                if slot is not None and slot.process is not None and slot.process.fd == fd:
                    self.on_worker_pipe(slot)
            self.step_reload()
            now = time.monotonic()
            if not self.stopping:
                self.check_start_times(now)
            if self.stopping:
                if now >= self.stop_deadline:
                    log.warning("workers did not stop within the grace period: killing them")
                    self.kill_all()
                    self.stop_deadline = now + KILL_MARGIN
                continue
            for slot in self.slots:
                if slot.process is None and slot.respawn_at is not None and now >= slot.respawn_at:
                    self.spawn(slot)
        self.watcher.stop()
        self.sockets.release(set())
        return self.exit_code

    def start_deadlines(self, slot: WorkerSlot) -> tuple[float | None, float]:
        """When a starting worker is too slow (None: never) and when to say
        it is slow (half its start_timeout, or 120 s without one)."""
        limit = start_timeout(slot.listener)
        if limit is None:
            return None, slot.started_at + DEFAULT_START_TIMEOUT
        return slot.started_at + limit, slot.started_at + limit / 2

    def check_start_times(self, now: float) -> None:
        """start_timeout: a worker not ready in time is a startup failure
        (before the banner: the server stops with exit code 1; later, the
        worker is killed and, being a replacement, the old one serves on)."""
        for slot in self.slots:
            if slot.process is None or slot.ready or slot.retiring:
                continue
            kill_at, warn_at = self.start_deadlines(slot)
            if not slot.warned_slow and now >= warn_at:
                slot.warned_slow = True
                log.warning("worker %s is slow to start: %.0fs without being ready (importing "
                            "its apps, running lifespan startup)", slot.process.pid,
                            now - slot.started_at)
            if kill_at is not None and now >= kill_at:
                limit = kill_at - slot.started_at
                log.error("worker %s was not ready within start_timeout %gs; stopping it",
                          slot.process.pid, limit)
                slot.messages.append(f"not ready within start_timeout {limit:g}s")
                try:
                    os.kill(slot.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                if not self.announced:
                    self.exit_code = 1
                    self.begin_stop(signal.SIGTERM)
                    return

    def next_timeout(self) -> float | None:
        now = time.monotonic()
        if self.stopping:
            return max(0.0, self.stop_deadline - now)
        due = [s.respawn_at for s in self.slots if s.process is None and s.respawn_at is not None]
        for slot in self.slots:
            if slot.process is not None and not slot.ready and not slot.retiring:
                kill_at, warn_at = self.start_deadlines(slot)
                if not slot.warned_slow:
                    due.append(warn_at)
                elif kill_at is not None:
                    due.append(kill_at)
        return max(0.0, min(due) - now) if due else None
