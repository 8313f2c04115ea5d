"""Dynamic apps: which app serves a request is decided by placeholders.

When ``module_wsgi``/``module_asgi``, ``working_dir`` or ``venv`` contain
placeholders (``{http.request.host.labels.2}``...), each request resolves
them; the resolved (module, folder, venv) is the key of a bounded table of
lazily created apps.

Safety: every substituted value must be a plain name (no ``/``, ``\\``,
``..``, ``:`` or NUL), the module must be a dotted identifier, and the
resolved folder must lie inside the template's fixed prefix, so no Host
header or path can name a folder outside what the Caddyfile allows. A
folder that does not exist is a 404; an app that fails to import is a 500;
both are logged and neither stops the server.

Concurrency: requests are routed on the event loop's thread, so creation
of an app is naturally serialised — concurrent first requests for one key
all find the entry the first one created (no lock needed). An ASGI app's
lifespan startup runs in the background and its first requests wait for it.

The table holds at most ``max_apps`` apps; a new one evicts the least
recently used app that no request is using (a request uses an app from the
app's call to its last byte), and a request that finds every app busy gets
a 503. With autoreload, each resolved folder is watched, and a change evicts
only that folder's apps, cleaned up after a 10 s grace period.

Each app with a resolved folder imports into its own namespace
(``apps.namespaces``): tenants never share a module by name, and an evicted
app's modules go with it. An app that fails to import is answered 500
without trying again for FAILURE_RETRY_SECONDS, and logged with its
traceback once, then as one line at most once a minute.

Request values in log lines go through ``log_safe``: a placeholder may carry
a newline or a terminal escape, which must not reach the log raw.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections import OrderedDict
from typing import Any

from fastsnake._respond import plain_text
from fastsnake.apps import tenant_env
from fastsnake.apps.factory import AppFactory
from fastsnake.apps.loader import Generation, evict_modules_under
from fastsnake.apps.namespaces import AppNamespace
from fastsnake.apps.reloader import DirectoryWatcher
from fastsnake.config.model import PythonApp
from fastsnake.config.python import read_env_file
from fastsnake.request.placeholders import (
    PlaceholderError,
    Template,
    has_placeholders,
    log_safe,
    path_safe,
)

log = logging.getLogger("fastsnake.dynamic")

DEFAULT_MAX_DYNAMIC_APPS = 128
EVICTION_GRACE_SECONDS = 10.0
FAILURE_RETRY_SECONDS = 5.0
FAILURE_LOG_SECONDS = 60.0
MODULE_TARGET = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")

Key = tuple[str, str | None, str | None]


def fixed_prefix(template: str, base_dir: str) -> str:
    """The folder a path template can never leave: its text before the
    first placeholder, up to the last separator, resolved."""
    head = template.split("{", 1)[0]
    head = head[: head.rfind("/") + 1] if "/" in head else ""
    return os.path.realpath(os.path.join(base_dir, head or "."))


def module_in_folder(target: str, folder: str) -> bool:
    top = target.partition(":")[0].split(".")[0]
    return (os.path.isfile(os.path.join(folder, top + ".py"))
            or os.path.isdir(os.path.join(folder, top)))


def module_safe(value: str) -> str:
    path_safe(value)
    if "." in value:
        raise PlaceholderError(f"unsafe value {value!r} for a module placeholder")
    return value


class DynamicApps:
    def __init__(self, app: PythonApp, factory: AppFactory, base_dir: str,
                 watcher: DirectoryWatcher | None = None,
                 max_apps: int = DEFAULT_MAX_DYNAMIC_APPS) -> None:
        self.app = app
        self.factory = factory
        self.base_dir = base_dir
        self.watcher = watcher
        self.max_apps = max_apps
        self.target = Template(app.target)
        self.working_dir = Template(app.working_dir) if app.working_dir else None
        self.venv = Template(app.venv) if app.venv else None
        # env_var / env_file, resolved for each tenant when its app is made.
        self.env = [(kind, name if kind == "var" else "", Template(value if kind == "var"
                                                                   else name))
                    for kind, name, value in app.env_templates]
        self.roots = {
            "working_dir": fixed_prefix(app.working_dir, base_dir) if app.working_dir else None,
            "venv": fixed_prefix(app.venv, base_dir) if app.venv else None,
        }
        self.table: OrderedDict[Key, tuple[Generation, PythonApp, AppNamespace | None]] = (
            OrderedDict())
        # Keys whose import failed: (retry after, log again after), bounded.
        self.failures: OrderedDict[Key, tuple[float, float]] = OrderedDict()
        self.not_found = plain_text(404, "404 Not Found")
        self.failed = plain_text(500, "500 Internal Server Error")
        self.busy = plain_text(503, "503 Service Unavailable")

    def resolve_path(self, template: Template | None, kind: str, request: Any) -> str | None:
        if template is None:
            return None
        text = template.render(request, path_safe)
        if not has_placeholders(template.text):
            return text
        path = os.path.realpath(os.path.join(self.base_dir, text))
        root = self.roots[kind]
        assert root is not None
        if os.path.commonpath([root, path]) != root:
            raise PlaceholderError(f"{kind} {path!r} is outside {root!r}")
        return path

    def key_for(self, request: Any) -> Key:
        target = self.target.render(request, module_safe)
        if not MODULE_TARGET.fullmatch(target):
            raise PlaceholderError(f"{target!r} is not module:variable")
        return (target, self.resolve_path(self.working_dir, "working_dir", request),
                self.resolve_path(self.venv, "venv", request))

    def resolve(self, request: Any) -> Key | Any:
        """The request's key, or the refusal (a 404 Handler) to answer with:
        what both isolation modes check before serving a tenant."""
        try:
            key = self.key_for(request)
        except PlaceholderError as exc:
            log.warning("no dynamic app for host %r path %r: %s",
                        request.host.decode('latin-1'), request.path.decode('latin-1'),
                        log_safe(exc))
            return self.not_found
        target, working_dir, venv = key
        if working_dir is not None and not os.path.isdir(working_dir):
            log.warning("dynamic app folder %s does not exist (host %r)", log_safe(working_dir),
                        request.host.decode("latin-1"))
            return self.not_found
        if working_dir is not None and not module_in_folder(target, working_dir):
            # Else Python would find the name elsewhere on sys.path (another
            # tenant's folder, the server's own): serve only what is here.
            log.warning("dynamic app %s has no module in %s (host %r)", log_safe(target),
                        log_safe(working_dir),
                        request.host.decode("latin-1"))
            return self.not_found
        if venv is not None and not os.path.isdir(venv):
            log.warning("dynamic app venv %s does not exist (host %r)", log_safe(venv),
                        request.host.decode("latin-1"))
            return self.not_found
        return key

    def select(self, request: Any) -> Any:
        try:
            key = self.key_for(request)
        except PlaceholderError:
            return self.resolve(request)  # logs it
        entry = self.table.get(key)
        if entry is not None:
            self.table.move_to_end(key)
            return entry[0].handler
        checked = self.resolve(request)
        if not isinstance(checked, tuple):
            return checked
        target, working_dir, venv = key
        now = time.monotonic()
        failure = self.failures.get(key)
        if failure is not None and now < failure[0]:
            return self.failed  # failed a moment ago: not again for every request
        if len(self.table) >= self.max_apps and not self.evict_one():
            log.warning("all %d dynamic apps are busy: 503 for %s", self.max_apps,
                        log_safe(target))
            return self.busy
        resolved = self.factory.resolved(self.app, target, working_dir, venv)
        namespace = None
        try:
            environ = self.tenant_environ(request, working_dir)
            if working_dir is not None:
                namespace = AppNamespace(working_dir, environ)
                if environ is not None:
                    tenant_env.install()
            elif environ:
                os.environ.update(environ)  # no folder, no namespace: the process's
            generation = self.factory.create_now(resolved, namespace)
        except Exception as exc:
            if namespace is not None:
                namespace.drop()
            self.failed_to_load(key, exc, now)
            return self.failed
        self.failures.pop(key, None)
        self.table[key] = (generation, resolved, namespace)
        log.info("created dynamic app %s from %s", log_safe(target),
                 log_safe(working_dir or "the current folder"))
        if self.watcher is not None and working_dir is not None:
            self.watcher.watch(working_dir)
        return generation.handler

    def tenant_environ(self, request: Any, working_dir: str | None) -> dict[str, Any] | None:
        """This tenant's env_var and env_file, in the order written, with the
        request's placeholders; env_file from the tenant's own folder."""
        if not self.env:
            return None
        environ: dict[str, Any] = {}
        for kind, name, template in self.env:
            if kind == "var":
                value = template.render(request)
                if "\0" in value:
                    raise PlaceholderError(f"a NUL in the value of {name}")
                environ[name] = value
                continue
            folder = working_dir or self.base_dir
            path = os.path.realpath(os.path.join(folder, template.render(request, path_safe)))
            if working_dir is not None and has_placeholders(template.text) and (
                    os.path.commonpath([os.path.realpath(folder), path])
                    != os.path.realpath(folder)):
                raise PlaceholderError(f"env_file {path!r} is outside {folder!r}")
            environ.update(read_env_file(path))
        return environ

    def failed_to_load(self, key: Key, exc: Exception, now: float) -> None:
        """Log an import failure with its traceback once, then as one line at
        most once a minute; retry it only after FAILURE_RETRY_SECONDS."""
        target, working_dir, _ = key
        previous = self.failures.pop(key, None)
        log_after = now + FAILURE_LOG_SECONDS
        if previous is None:
            log.error("dynamic app %s (folder %s) failed to load", log_safe(target),
                      log_safe(working_dir), exc_info=exc)
        elif now >= previous[1]:
            log.error("dynamic app %s (folder %s) still fails to load: %s", log_safe(target),
                      log_safe(working_dir), log_safe(f"{type(exc).__name__}: {exc}"))
        else:
            log_after = previous[1]
        self.failures[key] = (now + FAILURE_RETRY_SECONDS, log_after)
        while len(self.failures) > self.max_apps:
            self.failures.popitem(last=False)

    def evict_one(self) -> bool:
        """Drop the least recently used app no request is using."""
        for key, (generation, resolved, namespace) in self.table.items():
            if generation.readers == 0:
                del self.table[key]
                self.factory.forget(resolved)
                generation.retire()
                if namespace is not None:
                    namespace.drop()
                return True
        return False

    def evict_folder(self, folder: str) -> None:
        """A folder changed: its apps go; new requests import it afresh."""
        folder = os.path.realpath(folder)
        gone = [key for key in self.table if key[1] == folder]
        for key in gone:
            generation, resolved, namespace = self.table.pop(key)
            self.factory.forget(resolved)
            if namespace is not None:
                namespace.drop()  # running requests keep the modules they hold
            # In-flight requests finish on the old app; cleanup after a grace.
            asyncio.get_event_loop().call_later(EVICTION_GRACE_SECONDS, generation.retire)
        for key in [key for key in self.failures if key[1] == folder]:
            del self.failures[key]  # it changed: worth trying again now
        if gone:
            evict_modules_under(folder)
            log.info("evicted %d dynamic app(s) of %s", len(gone), log_safe(folder))

    async def close(self) -> None:
        for generation, _, _ in list(self.table.values()):
            await generation.wait_cleaned()
        self.table.clear()
