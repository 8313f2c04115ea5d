"""Dynamic apps in processes of their own: one tenant, one process.

``isolation process`` (the default for dynamic apps): the front worker
resolves a request's tenant as ``apps.dynamic`` does (same keys, same
checks, same per-tenant env), and relays the request
(``upstream.relay``) over a Unix socket to that tenant's process
(``server.tenant``), so tenants share no ``os.environ``, no
``sys.modules`` and no crash.

Lifecycle, all on the worker's loop (no locks):

- started on the tenant's first request; requests that come while it
  starts wait on the same start; ``start_timeout`` bounds it (504, logged);
  an app that fails to import is 500, not retried for
  ``FAILURE_RETRY_SECONDS`` (as in-process);
- at most ``max_dynamic_apps`` processes per worker: a new tenant stops the
  least recently used idle one, and gets 503 when every one is busy;
- idle ones (no request for ``IDLE_TTL`` seconds) are stopped;
- one that exits on its own is forgotten (its in-flight requests get 502
  or a cut response) and started afresh by its next request;
- autoreload: a change in a tenant's folder stops that tenant's process
  (it drains what it serves); the next request starts a new one;
- the worker stopping stops them all, SIGTERM then SIGKILL after the grace
  period; a worker that dies takes them with it (``PR_SET_PDEATHSIG``).

Each worker has its own tenant processes (with ``workers N`` a tenant may
run up to N times): simpler than sharing across workers, and a busy tenant
gets the workers' spread; the memory cost is in docs/python-directive.md.
The sockets live in a private folder (mode 0700) made per worker.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import shutil
import signal
import sys
import tempfile
import time
from collections import OrderedDict
from typing import Any

from fastsnake._relay import RelayHandler
from fastsnake.apps.dynamic import DynamicApps, Key
from fastsnake.apps.factory import AppFactory
from fastsnake.apps.reloader import DirectoryWatcher
from fastsnake.config.model import Config, PythonApp
from fastsnake.request.placeholders import log_safe
from fastsnake.server.tenant import PRIVATE_FIELDS, TenantSpec
from fastsnake.upstream.pool import UnixPool
from fastsnake.upstream.relay import Relay, UpstreamUnavailable

log = logging.getLogger("fastsnake.tenants")

# An idle tenant process is stopped after this many seconds. caddy-snake has
# no subdirective for it; FASTSNAKE_TENANT_IDLE_TTL overrides it (the tests
# set it small).
IDLE_TTL = 300.0
# A stopped tenant gets this long to drain before SIGKILL.
STOP_GRACE = 10.0


def idle_ttl() -> float:
    try:
        return float(os.environ.get("FASTSNAKE_TENANT_IDLE_TTL", IDLE_TTL))
    except ValueError:
        return IDLE_TTL


class Tenant:
    """One tenant's process, its socket and its connection pool."""

    private_headers = PRIVATE_FIELDS

    def __init__(self, table: TenantProcesses, key: Key, app: PythonApp,
                 environ: dict[str, str], path: str) -> None:
        self.table = table
        self.key = key
        self.app = app
        self.environ = environ
        self.path = path
        self.process: asyncio.subprocess.Process | None = None
        self.pool: UnixPool | None = None
        self.starting: asyncio.Task[UnixPool] | None = None
        self.stopping = False
        self.terminating = False
        self.attached = 0   # relays made for this tenant and not finished
        self.busy = 0       # of them, those whose request is all in (the app works)
        self.last_used = time.monotonic()
        self.handler = RelayHandler(self.new_relay)

    @property
    def name(self) -> str:
        return f"{log_safe(self.key[0])} ({log_safe(self.key[1] or 'the current folder')})"

    def new_relay(self, exchange: Any) -> Relay:
        self.attached += 1
        self.last_used = time.monotonic()
        return Relay(exchange, self)

    def lease(self) -> None:
        self.busy += 1

    def done(self, leased: bool) -> None:
        self.attached -= 1
        if leased:
            self.busy -= 1
        self.last_used = time.monotonic()
        if self.stopping and self.attached == 0:
            self.terminate()

    def extra_headers(self, exchange: Any) -> list[tuple[bytes, bytes]]:
        """Who the client is and how it came, as the app would see it
        in-process: the peer, or what trusted proxies said with
        proxy_headers."""
        request = exchange.request
        variables = request.vars if self.app.proxy_headers and request.vars else {}
        peer = exchange.peer
        client = variables.get("client_ip") or (peer[0] if isinstance(peer, tuple) else "")
        proto = variables.get("forwarded_proto") or ("https" if exchange.secure else "http")
        out = [(b"x-fastsnake-proto", proto.encode("latin-1"))]
        if client:
            out.append((b"x-fastsnake-client", client.encode("latin-1")))
        if request.script_name:
            out.append((b"x-fastsnake-script-name", request.script_name))
        return out

    def pool_now(self) -> UnixPool | None:
        return self.pool

    async def ready(self) -> UnixPool:
        if self.pool is not None:
            return self.pool
        if self.stopping and self.starting is None:
            raise UpstreamUnavailable(503, f"tenant {self.name} is stopping")
        if self.starting is None:
            self.starting = asyncio.get_event_loop().create_task(self.start())
        # Shielded: a client that goes away must not cancel the others' start.
        try:
            return await asyncio.shield(self.starting)
        except asyncio.CancelledError:
            if self.starting.cancelled():  # stopped while starting
                raise UpstreamUnavailable(503, f"tenant {self.name} was stopped") from None
            raise

    async def start(self) -> UnixPool:
        try:
            return await self.spawn()
        except asyncio.CancelledError:
            if self.process is not None and self.process.returncode is None:
                self.process.kill()
            raise

    async def spawn(self) -> UnixPool:
        spec = TenantSpec(self.app, self.environ, self.path, self.table.port, os.getpid(),
                          self.table.config.debug, self.table.config.server_log,
                          self.table.config.grace_period)
        started = time.monotonic()
        self.process = process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "fastsnake.server.tenant",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            # Its own session: a terminal's Ctrl-C reaches the server, which
            # stops its tenants in order, not the tenants under its requests.
            start_new_session=True)
        assert process.stdin is not None and process.stdout is not None
        # stdin stays open: the tenant's end of file means this worker is gone.
        process.stdin.write(pickle.dumps(spec))
        timeout = self.app.start_timeout
        try:
            line = await asyncio.wait_for(process.stdout.readline(), timeout)
        except asyncio.TimeoutError:
            log.error("tenant %s was not ready within start_timeout %gs: stopped", self.name,
                      timeout)
            self.table.forget(self)
            process.kill()
            raise UpstreamUnavailable(504, "tenant process not ready in time") from None
        if line != b"ready\n":
            self.table.forget(self)
            code = await process.wait()
            why = line.decode("utf-8", "replace").strip().removeprefix("failed ")
            self.table.failed_to_start(self.key, why or f"exited with code {code}")
            raise UpstreamUnavailable(500, "tenant process failed to start")
        log.info("created dynamic app %s: tenant process %d, ready in %.0f ms", self.name,
                 process.pid,
                 (time.monotonic() - started) * 1000)
        self.pool = UnixPool(asyncio.get_event_loop(), self.path)
        asyncio.get_event_loop().create_task(self.watch())
        return self.pool

    async def watch(self) -> None:
        assert self.process is not None
        code = await self.process.wait()
        if self.pool is not None:
            self.pool.close()
        if self.stopping:
            log.info("tenant %s (process %d) stopped", self.name, self.process.pid)
        else:
            log.warning("tenant %s (process %d) exited with code %s; it starts again on its "
                        "next request", self.name, self.process.pid, code)
        self.table.forget(self)
        try:
            os.unlink(self.path)
        except OSError:
            pass

    def stop(self) -> None:
        """Out of the table already: once the requests that reached it
        (some still sending their bodies) are done, SIGTERM, as an evicted
        app in the worker serves the requests that hold it."""
        self.stopping = True
        if self.attached == 0:
            self.terminate()

    def terminate(self) -> None:
        """SIGTERM: it drains what it serves, then exits; SIGKILL if it
        takes longer than STOP_GRACE."""
        if self.terminating:
            return
        self.terminating = True
        process = self.process
        if self.starting is not None and not self.starting.done():
            self.starting.cancel()
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        asyncio.get_event_loop().call_later(STOP_GRACE, self.kill)

    def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            log.warning("tenant %s did not stop in %gs: killed", self.name, STOP_GRACE)
            self.process.kill()

    async def wait_stopped(self) -> None:
        if self.process is not None and self.process.returncode is None:
            await self.process.wait()


class TenantProcesses:
    """The per-worker table of tenant processes for one dynamic ``python``
    directive; the router calls ``select`` for each request."""

    def __init__(self, app: PythonApp, factory: AppFactory, base_dir: str, config: Config,
                 port: int, watcher: DirectoryWatcher | None = None) -> None:
        # Keys, checks, per-tenant env and the failure memory are apps.dynamic's.
        self.resolver = DynamicApps(app, factory, base_dir, None, app.max_dynamic_apps)
        self.factory = factory
        self.config = config
        self.port = port
        self.watcher = watcher
        self.max_apps = app.max_dynamic_apps
        self.table: OrderedDict[Key, Tenant] = OrderedDict()
        self.stopped: list[Tenant] = []
        self.runtime_dir = tempfile.mkdtemp(prefix="fastsnake-tenants-")  # mode 0700
        self.counter = 0
        self.ttl = idle_ttl()
        self.reaper: asyncio.TimerHandle | None = None

    def select(self, request: Any) -> Any:
        checked = self.resolver.resolve(request)
        if not isinstance(checked, tuple):
            return checked
        key: Key = checked
        tenant = self.table.get(key)
        if tenant is not None:
            self.table.move_to_end(key)
            return tenant.handler
        now = time.monotonic()
        failure = self.resolver.failures.get(key)
        if failure is not None and now < failure[0]:
            return self.resolver.failed
        if len(self.table) >= self.max_apps and not self.evict_one():
            log.warning("all %d tenant processes are busy: 503 for %s", self.max_apps,
                        log_safe(key[0]))
            return self.resolver.busy
        target, working_dir, venv = key
        try:
            environ = self.resolver.tenant_environ(request, working_dir) or {}
        except Exception as exc:
            self.resolver.failed_to_load(key, exc, now)
            return self.resolver.failed
        resolved = self.factory.resolved(self.resolver.app, target, working_dir, venv)
        self.counter += 1
        path = os.path.join(self.runtime_dir, f"t{self.counter}.sock")
        tenant = Tenant(self, key, resolved, environ, path)
        self.table[key] = tenant
        if self.watcher is not None and working_dir is not None:
            self.watcher.watch(working_dir)
        self.schedule_reaper()
        return tenant.handler

    def failed_to_start(self, key: Key, why: str) -> None:
        self.resolver.failed_to_load(key, RuntimeError(why), time.monotonic())

    def forget(self, tenant: Tenant) -> None:
        if self.table.get(tenant.key) is tenant:
            del self.table[tenant.key]

    def stop(self, tenant: Tenant) -> None:
        self.forget(tenant)
        tenant.stop()
        self.stopped = [t for t in self.stopped
                        if t.attached or (t.process and t.process.returncode is None)]
        self.stopped.append(tenant)

    def evict_one(self) -> bool:
        """Stop the least recently used tenant no request is using."""
        for tenant in self.table.values():
            if tenant.busy == 0:
                log.info("stopping tenant %s: max_dynamic_apps %d reached", tenant.name,
                         self.max_apps)
                self.stop(tenant)
                return True
        return False

    def schedule_reaper(self) -> None:
        if self.reaper is None and self.table:
            delay = max(min(self.ttl / 2, 30.0), 0.1)
            self.reaper = asyncio.get_event_loop().call_later(delay, self.reap)

    def reap(self) -> None:
        self.reaper = None
        now = time.monotonic()
        for tenant in list(self.table.values()):
            if tenant.busy == 0 and tenant.pool is not None and now - tenant.last_used >= self.ttl:
                log.info("stopping tenant %s: idle for %gs", tenant.name, self.ttl)
                self.stop(tenant)
        self.schedule_reaper()

    def evict_folder(self, folder: str) -> None:
        """A tenant's folder changed (autoreload): stop its process; the next
        request starts a new one."""
        folder = os.path.realpath(folder)
        for key in [key for key in self.resolver.failures if key[1] == folder]:
            del self.resolver.failures[key]
        gone = [t for t in self.table.values() if t.key[1] == folder]
        for tenant in gone:
            self.stop(tenant)  # it drains what it serves
        if gone:
            # (Worded as apps.dynamic's; the next request starts a new process.)
            log.info("evicted %d dynamic app(s) of %s", len(gone), log_safe(folder))

    async def close(self) -> None:
        if self.reaper is not None:
            self.reaper.cancel()
        for tenant in list(self.table.values()):
            self.stop(tenant)
        for tenant in self.stopped:
            tenant.terminate()  # the worker's connections are gone by now
        for tenant in self.stopped:
            await tenant.wait_stopped()
        shutil.rmtree(self.runtime_dir, ignore_errors=True)
