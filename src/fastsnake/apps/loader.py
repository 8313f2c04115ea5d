"""Importing the apps a worker serves.

``module:variable`` is imported with the app's working_dir first on sys.path
(and as the process's cwd) and its venv's site-packages added, as the
``python`` directive's reference describes. Handlers that name the same
(module, working_dir, venv) share one instance per process: one import.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import site
import sys
from collections.abc import Callable
from typing import Any

from fastsnake.apps.namespaces import AppNamespace
from fastsnake.config.model import PythonApp
from fastsnake.config.python import venv_site_packages
from fastsnake.errors import AppImportError

log = logging.getLogger("fastsnake.apps")


def prepare_paths(app: PythonApp) -> None:
    # env_file / env_var first: settings modules read the environment at import.
    os.environ.update(dict(app.env))
    if app.working_dir:
        if app.working_dir not in sys.path:
            sys.path.insert(0, app.working_dir)
    elif "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    if app.venv:
        for folder in venv_site_packages(app.venv):
            if folder not in sys.path:
                # As the venv's own interpreter would: its .pth files too
                # (editable installs, namespace packages).
                site.addsitedir(folder)


# An app written for caddy-snake may import its shared cache client; say why
# it is not there rather than leave a bare ModuleNotFoundError.
CADDYSNAKE_CACHE = (
    "caddy-snake's shared cache (the caddysnake package) is not supported by fastsnake: "
    "its client talks to a cache server inside the Caddy plugin, which fastsnake does "
    "not run; share state between workers through Redis, memcached or a database")


def import_target(target: str, where: str = "") -> Callable[..., Any]:
    """Import ``module:variable`` (the variable may be dotted) and return it."""
    prefix = f"{where}: " if where else ""
    module_name, sep, attr_path = target.partition(":")
    if not sep or not module_name or not attr_path:
        raise AppImportError(f"{prefix}{target!r} is not of the form module:variable")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise AppImportError(
                f"{prefix}cannot import module {module_name!r}: {exc}") from exc
        if exc.name and exc.name.partition(".")[0] == "caddysnake":
            raise AppImportError(
                f"{prefix}{module_name} imports caddysnake: {CADDYSNAKE_CACHE}") from exc
        raise
    obj: Any = module
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AppImportError(
                f"{prefix}module {module_name!r} has no attribute {attr_path!r}") from None
    if not callable(obj):
        raise AppImportError(f"{prefix}{target} is not callable")
    return obj


class AppLoader:
    """Imports each distinct app of a worker once."""

    def __init__(self) -> None:
        self._instances: dict[tuple[str, str | None, str | None], Callable[..., Any]] = {}
        self._cwd_set = False

    def load(self, app: PythonApp, fresh: bool = False,
             namespace: AppNamespace | None = None) -> Callable[..., Any]:
        """The app's callable; ``fresh`` imports again (after a reload's
        eviction of its modules) instead of reusing the instance. With a
        ``namespace`` (a dynamic app), the import is confined to it and the
        callable is not kept here (the dynamic table keeps it)."""
        if namespace is not None:
            return self.load_confined(app, namespace)
        key = app.instance_key
        if fresh or key not in self._instances:
            prepare_paths(app)
            if app.working_dir and not self._cwd_set:
                # One cwd per process: the first app with a working_dir sets it.
                os.chdir(app.working_dir)
                self._cwd_set = True
            self._instances[key] = import_target(app.target, app.location)
        return self._instances[key]

    def load_confined(self, app: PythonApp, namespace: AppNamespace) -> Callable[..., Any]:
        os.environ.update(dict(app.env))
        if app.venv:
            for folder in venv_site_packages(app.venv):
                if folder not in sys.path:
                    site.addsitedir(folder)
        with namespace.importing():
            target = import_target(app.target, app.location)
        try:
            namespace.check_target(app.target)
        except ImportError as exc:
            raise AppImportError(f"{app.location}: {exc}") from None
        return target

    def forget(self, app: PythonApp) -> None:
        self._instances.pop(app.instance_key, None)


def evict_modules_under(directory: str) -> list[str]:
    """Forget every imported module whose file lies under directory, so the
    next import reads the source again."""
    root = os.path.realpath(directory).rstrip(os.sep) + os.sep
    evicted = []
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if path and os.path.realpath(path).startswith(root):
            del sys.modules[name]
            evicted.append(name)
    importlib.invalidate_caches()
    return evicted


class Generation:
    """One loaded instance of an app: its handler, and a readers–writer gate.

    Readers are requests: each holds a lease from the moment its exchange
    starts until the app is done with it (a streamed body or a WebSocket
    included). The writer is the cleanup of a retired generation (ASGI
    lifespan shutdown, a WSGI app's ``close``): it runs only once the
    generation is retired and its last reader has left. All calls happen on
    the event loop's thread, so plain counters are enough.
    """

    def __init__(self, handler: Any, cleanup: Callable[[], Any] | None = None,
                 name: str = "") -> None:
        self.handler = handler
        self.cleanup = cleanup
        self.name = name
        self.readers = 0
        self.retired = False
        self.cleaned = False
        self.cleaned_up: asyncio.Future[None] | None = None

    def acquire(self) -> None:
        if self.retired:
            # Requests only reach a retired generation that is finishing;
            # they are counted so cleanup waits for them too.
            log.debug("lease on retired generation %s", self.name)
        self.readers += 1

    def release(self) -> None:
        self.readers -= 1
        if self.retired and self.readers == 0:
            self.schedule_cleanup()

    def retire(self) -> None:
        if not self.retired:
            self.retired = True
            if self.readers == 0:
                self.schedule_cleanup()

    def done_future(self) -> asyncio.Future[None]:
        if self.cleaned_up is None:
            self.cleaned_up = asyncio.get_event_loop().create_future()
        return self.cleaned_up

    def schedule_cleanup(self) -> None:
        if self.cleaned:
            return
        self.cleaned = True
        self.done_future()
        asyncio.get_event_loop().create_task(self.run_cleanup())

    async def run_cleanup(self) -> None:
        try:
            if self.cleanup is not None:
                result = self.cleanup()
                if asyncio.iscoroutine(result):
                    await result
        except Exception:
            log.exception("error cleaning up %s", self.name)
        finally:
            if self.cleaned_up is not None and not self.cleaned_up.done():
                self.cleaned_up.set_result(None)

    async def wait_cleaned(self) -> None:
        """Retire and wait until the last reader left and cleanup ran."""
        done = self.done_future()
        self.retire()
        await done


class AppSlot:
    """A static app that can be swapped while serving (autoreload in-process).

    select() always returns the current generation's handler; reload()
    imports afresh and swaps: requests already running finish on the old
    generation, which is cleaned up after the last of them. While the new
    one is imported the old one keeps serving, so a reload fails no request.
    A failed import leaves the slot broken: every request gets a 500, with
    the error logged, until the next successful reload.
    """

    def __init__(self, app: PythonApp, create: Callable[..., Any],
                 broken: Callable[[str], Any]) -> None:
        self.app = app
        self.create = create          # async (app) -> Generation
        self.broken = broken          # (message) -> handler answering 500
        self.current: Generation | None = None

    async def start(self) -> None:
        self.current = await self.create(self.app)

    def select(self, request: Any) -> Any:
        assert self.current is not None
        return self.current.handler

    async def reload(self) -> None:
        evict_modules_under(self.app.working_dir or os.getcwd())
        try:
            new = await self.create(self.app)
        except Exception as exc:
            log.error("%s failed to load; answering 500 until it is fixed", self.app.target,
                      exc_info=exc)
            new = Generation(self.broken(f"{self.app.target} failed to load: {exc}"),
                             name=f"{self.app.target} (broken)")
        else:
            log.info("reloaded %s", self.app.target)
        old, self.current = self.current, new
        if old is not None:
            old.retire()

    async def close(self) -> None:
        if self.current is not None:
            await self.current.wait_cleaned()
