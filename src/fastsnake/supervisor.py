"""The process runtime: N worker processes per listener, kept alive.

Theory of operation
-------------------
The supervisor forks each worker (the supervisor itself never imports an app
or runs an event loop, so forking it is safe and fast) and then sleeps in one
blocking wait on: every worker's process sentinel, every worker's readiness
pipe, and a self-pipe that signal handlers write to (signal.set_wakeup_fd).
Signal handlers only record the signal; the loop acts on it.

Workers:   starting -> ready -> (exits) -> respawn after a backoff
           A worker that fails during startup (import error, address in use)
           exits with EXIT_STARTUP_FAILED: the supervisor stops everything and
           exits 1 instead of respawning it in a loop.
Signals:   SIGTERM/SIGINT: forward SIGTERM, wait for the workers to drain
           (grace period), exit 0. A second SIGINT: kill at once, exit 1.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from fastsnake.config import Config, Listener
from fastsnake.errors import FatalError
from fastsnake.worker import EXIT_STARTUP_FAILED, bind_socket, configure_logging, run_worker

log = logging.getLogger("fastsnake.supervisor")

# Respawn backoff: immediate for a worker that had been up a while, doubling
# for one that keeps dying young.
HEALTHY_UPTIME = 5.0
MAX_BACKOFF = 10.0
# After the grace period, workers get this long to exit before SIGKILL.
KILL_MARGIN = 5.0


@dataclass
class WorkerSlot:
    listener_index: int
    slot: int
    process: Any = None
    ready_conn: Connection | None = None
    started_at: float = 0.0
    ready: bool = False
    quick_failures: int = 0
    generation: int = 0
    respawn_at: float | None = None
    messages: list[str] = field(default_factory=list)


def describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


def worker_main(config: Config, listener_index: int, conn: Connection) -> None:
    """Entry point of a forked worker process."""
    # Undo the supervisor's signal plumbing; the worker's loop installs its own.
    signal.set_wakeup_fd(-1)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)

    def ready() -> None:
        conn.send(("ready", os.getpid()))

    def failed(message: str) -> None:
        conn.send(("failed", message))

    code = run_worker(config, listener_index, ready=ready, failed=failed)
    conn.close()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def check_address_free(listener: Listener) -> None:
    """Refuse an address another server already listens on.

    Workers bind with SO_REUSEPORT, which would let them silently share the
    port with any other process of the same user (a second fastsnake, say)
    and split its traffic. A probe bound without SO_REUSEPORT fails if any
    listener holds the port, so the conflict is reported instead.
    """
    try:
        probe = bind_socket(listener.host, listener.port, reuse_port=False)
    except OSError as exc:
        raise FatalError(f"cannot listen on {listener.display_address}: "
                         f"{exc.strerror or exc}") from exc
    probe.close()


class Supervisor:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.context = multiprocessing.get_context("fork")
        self.slots = [WorkerSlot(index, n)
                      for index, listener in enumerate(config.listeners)
                      for n in range(listener.workers)]
        self.pending_signals: list[int] = []
        self.stopping = False
        self.exit_code = 0
        self.wakeup_read = -1

    # -- signals: record only

    def on_signal(self, signum: int, frame: Any) -> None:
        self.pending_signals.append(signum)

    def install_signals(self) -> None:
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        os.set_blocking(write_fd, False)
        self.wakeup_read = read_fd
        signal.set_wakeup_fd(write_fd)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self.on_signal)

    # -- workers

    def spawn(self, slot: WorkerSlot) -> None:
        parent_conn, child_conn = self.context.Pipe(duplex=False)
        process = self.context.Process(
            target=worker_main, args=(self.config, slot.listener_index, child_conn),
            name=f"fastsnake-worker-{slot.listener_index}-{slot.slot}", daemon=False)
        process.start()
        child_conn.close()
        slot.process = process
        slot.ready_conn = parent_conn
        if slot.started_at:
            slot.generation += 1
        slot.started_at = time.monotonic()
        slot.ready = False
        slot.respawn_at = None

    def on_worker_message(self, slot: WorkerSlot) -> None:
        assert slot.ready_conn is not None
        try:
            kind, payload = slot.ready_conn.recv()
        except (EOFError, OSError):
            slot.ready_conn.close()
            slot.ready_conn = None
            return
        if kind == "ready":
            slot.ready = True
            if slot.generation:
                log.info("worker %s ready (respawned)", payload)
        elif kind == "failed":
            slot.messages.append(str(payload))

    def on_worker_exit(self, slot: WorkerSlot) -> None:
        process = slot.process
        process.join()
        code = process.exitcode
        slot.process = None
        if slot.ready_conn is not None:
            while slot.ready_conn is not None and slot.ready_conn.poll():
                self.on_worker_message(slot)
            if slot.ready_conn is not None:
                slot.ready_conn.close()
                slot.ready_conn = None
        if self.stopping:
            return
        if code == EXIT_STARTUP_FAILED:
            reason = slot.messages[-1] if slot.messages else "startup failed"
            log.error("worker could not start: %s; stopping", reason)
            self.exit_code = 1
            self.begin_stop(signal.SIGTERM)
            return
        uptime = time.monotonic() - slot.started_at
        slot.quick_failures = slot.quick_failures + 1 if uptime < HEALTHY_UPTIME else 0
        delay = 0.0 if slot.quick_failures == 0 else min(
            MAX_BACKOFF, 0.1 * 2 ** (slot.quick_failures - 1))
        log.warning("worker %d %s after %.1fs; respawning in %.1fs",
                    process.pid, describe_exit(code), uptime, delay)
        slot.respawn_at = time.monotonic() + delay

    def begin_stop(self, signum: int) -> None:
        if self.stopping:
            if signum == signal.SIGINT:
                log.warning("second interrupt: killing workers")
                self.kill_all()
                self.exit_code = 1
            return
        self.stopping = True
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

    def handle_signals(self) -> None:
        try:
            while os.read(self.wakeup_read, 512):
                pass
        except BlockingIOError:
            pass
        signals, self.pending_signals = self.pending_signals, []
        for signum in signals:
            if signum == signal.SIGHUP:
                log.warning("SIGHUP: configuration reload is not supported yet; ignored")
            else:
                log.info("received %s: stopping", signal.Signals(signum).name)
                self.begin_stop(signum)

    # -- the loop

    def announce(self) -> None:
        for listener in self.config.listeners:
            apps = ", ".join(f"{a.target} ({a.interface.value})" for a in listener.apps) or "none"
            print(f"fastsnake: serving http://{listener.display_address} "
                  f"runtime={listener.runtime.value} workers={listener.workers} apps={apps}",
                  file=sys.stderr, flush=True)

    def run(self) -> int:
        configure_logging(self.config.debug)
        for listener in self.config.listeners:
            check_address_free(listener)
        self.install_signals()
        for slot in self.slots:
            self.spawn(slot)
        announced = False
        while True:
            live = [s for s in self.slots if s.process is not None]
            if self.stopping and not live:
                break
            if not announced and not self.stopping and all(s.ready for s in self.slots):
                self.announce()
                announced = True
            waitables: list[Any] = [self.wakeup_read]
            owners: dict[Any, tuple[str, WorkerSlot]] = {}
            for slot in live:
                owners[slot.process.sentinel] = ("exit", slot)
                waitables.append(slot.process.sentinel)
                if slot.ready_conn is not None:
                    owners[slot.ready_conn] = ("message", slot)
                    waitables.append(slot.ready_conn)
            timeout = self.next_timeout()
            ready = multiprocessing.connection.wait(waitables, timeout)
            if self.wakeup_read in ready or self.pending_signals:
                self.handle_signals()
            for item in ready:
                if item == self.wakeup_read:
                    continue
                kind, slot = owners[item]
                if kind == "message" and slot.ready_conn is not None:
                    self.on_worker_message(slot)
                elif kind == "exit" and slot.process is not None:
                    self.on_worker_exit(slot)
            now = time.monotonic()
            if self.stopping:
                if now >= self.stop_deadline:
                    log.warning("workers did not stop within the grace period: killing them")
                    self.kill_all()
                    self.stop_deadline = now + KILL_MARGIN
                continue
            for slot in self.slots:
                if slot.process is None and slot.respawn_at is not None and now >= slot.respawn_at:
                    self.spawn(slot)
        return self.exit_code

    def next_timeout(self) -> float | None:
        now = time.monotonic()
        if self.stopping:
            return max(0.0, self.stop_deadline - now)
        due = [s.respawn_at for s in self.slots if s.process is None and s.respawn_at is not None]
        return max(0.0, min(due) - now) if due else None
