"""One module namespace per dynamic app, inside one interpreter.

Dynamic apps (a ``working_dir`` with placeholders) are many tenants in one
process, and Python has one ``sys.modules``: two tenants that both have an
``app.py`` or a ``settings.py`` would share whichever was imported first,
and each tenant's folder left on ``sys.path`` would be searched for the
others. So each dynamic app gets an AppNamespace:

* Its import runs with its folder first on ``sys.path`` and every module of
  *app code* (anything not from the standard library, site-packages or
  fastsnake itself: other tenants, static apps) moved out of ``sys.modules``
  meanwhile, under the global import lock. Afterwards the modules that came
  from its folder leave ``sys.modules`` for the namespace's own table, the
  folder leaves ``sys.path``, and what was moved out comes back. Library
  modules stay shared, as they would in any process.
* While the app runs (its WSGI call, its ASGI coroutine), a context variable
  names its namespace, and a finder at the front of ``sys.meta_path``
  answers the app's lazy top-level imports from the namespace (or its
  folder). Names lent that way are taken back from ``sys.modules`` when the
  call returns. Until then another app running at the same moment (a thread
  pool, interleaved ASGI tasks) could see them: true isolation is a process
  per tenant, which this is not.
* Dropping the namespace (the app was evicted, or its folder changed) drops
  its modules, so memory stays bounded by ``max_dynamic_apps`` and a
  re-created app imports fresh code.

A module whose top-level package is not in the folder is refused, so a
placeholder in the module name can never reach the rest of the Python path.
"""

from __future__ import annotations

import _imp
import contextlib
import gc
import importlib.machinery
import importlib.util
import os
import sys
import sysconfig
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from types import ModuleType
from typing import Any

import fastsnake

CURRENT: ContextVar[AppNamespace | None] = ContextVar("fastsnake_app_namespace",
                                                      default=None)


def _shared_roots() -> tuple[str, ...]:
    """Folders whose modules every app may share: the standard library,
    site-packages, and fastsnake itself."""
    paths = sysconfig.get_paths()
    roots = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")
             if key in paths}
    roots.add(os.path.dirname(fastsnake.__file__))
    roots |= {os.path.realpath(root) for root in roots}
    return tuple(root.rstrip(os.sep) + os.sep for root in roots)


SHARED_ROOTS = _shared_roots()


def module_location(module: ModuleType) -> str | None:
    """Where a module was read from: its file, or a namespace package's first
    folder; None for built-in and frozen modules."""
    location = getattr(module, "__file__", None)
    if location is None:
        paths = getattr(module, "__path__", None)
        try:
            location = next(iter(paths)) if paths is not None else None
        except (StopIteration, TypeError):
            location = None
    return location if isinstance(location, str) else None


def is_shared(module: ModuleType) -> bool:
    location = module_location(module)
    if location is None:
        return True
    return (location.startswith(SHARED_ROOTS) or f"{os.sep}site-packages{os.sep}" in location
            or f"{os.sep}dist-packages{os.sep}" in location)


# The finder and loader below are plain classes, not importlib.abc's: the
# import system only calls their methods, and importlib.abc would load
# importlib.resources (two dozen modules, 1.5 MB) into every worker.
class _Existing:
    """Hands an already imported module back to the import system."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return self.module

    def exec_module(self, module: ModuleType) -> None:
        pass


class NamespaceFinder:
    """Top-level imports made while an app runs come from its namespace."""

    def find_spec(self, name: str, path: Any = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        namespace = CURRENT.get()
        if namespace is None or path is not None:
            return None  # not inside an app, or a submodule (its package's path decides)
        namespace.lent = True
        module = namespace.modules.get(name)
        if module is not None:
            return importlib.util.spec_from_loader(name, _Existing(module))
        return importlib.machinery.PathFinder.find_spec(name, [namespace.folder])


_FINDER = NamespaceFinder()


def install_finder() -> None:
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


class AppNamespace:
    """The modules one dynamic app imported from its folder."""

    def __init__(self, folder: str, environ: dict[str, Any] | None = None) -> None:
        self.folder = os.path.realpath(folder)
        self.prefix = self.folder.rstrip(os.sep) + os.sep
        self.modules: dict[str, ModuleType] = {}
        self.lent = False  # the finder put some of them in sys.modules
        # The tenant's own environment variables (apps.tenant_env), or None.
        self.environ = environ

    def owns(self, module: ModuleType) -> bool:
        location = module_location(module)
        return location is not None and os.path.realpath(location).startswith(self.prefix)

    @contextlib.contextmanager
    def importing(self) -> Iterator[None]:
        """Import with this folder first on the path and no other app's code visible."""
        install_finder()
        _imp.acquire_lock()
        hidden = {name: module for name, module in list(sys.modules.items())
                  if not is_shared(module)}
        try:
            for name in hidden:
                del sys.modules[name]
            sys.modules.update(self.modules)
            sys.path.insert(0, self.folder)
            sys.path_importer_cache.pop(self.folder, None)
            token = CURRENT.set(self)
            try:
                yield
            finally:
                CURRENT.reset(token)
                with contextlib.suppress(ValueError):
                    sys.path.remove(self.folder)
                self.reclaim(scan=True)
                sys.modules.update(hidden)  # the other apps' view of their own names
        finally:
            _imp.release_lock()

    def reclaim(self, scan: bool = False) -> None:
        """Move this app's modules out of sys.modules (after a call that
        imported lazily, or after its import)."""
        if not (scan or self.lent):
            return
        self.lent = False
        for name, module in list(sys.modules.items()):
            if name in self.modules or self.owns(module):
                if sys.modules.get(name) is module:
                    del sys.modules[name]
                self.modules[name] = module

    def check_target(self, target: str) -> None:
        """The app's module must come from this folder, never from elsewhere
        on the Python path (a placeholder chose its name)."""
        top = target.partition(":")[0].split(".")[0]
        module = self.modules.get(top)
        if module is None or not self.owns(module):
            raise ImportError(f"module {top!r} is not in {self.folder}", name=top)

    def drop(self) -> None:
        """Forget every module of this app (it was evicted or reloaded)."""
        for name, module in list(sys.modules.items()):
            if self.modules.get(name) is module:
                del sys.modules[name]
        self.modules.clear()
        sys.path_importer_cache.pop(self.folder, None)
        importlib.invalidate_caches()
        gc.collect()  # module dicts are cycles; evictions are rare


def confine_wsgi(app: Callable[..., Any], namespace: AppNamespace) -> Callable[..., Any]:
    """The WSGI app, called with its namespace current."""

    def app_in_namespace(environ: dict[str, Any], start_response: Any) -> Any:
        token = CURRENT.set(namespace)
        try:
            return app(environ, start_response)
        finally:
            CURRENT.reset(token)
            namespace.reclaim()

    return app_in_namespace


def confine_asgi(app: Callable[..., Any], namespace: AppNamespace) -> Callable[..., Any]:
    """The ASGI app, run with its namespace current (in its own task's context)."""

    async def app_in_namespace(scope: dict[str, Any], receive: Any, send: Any) -> None:
        token = CURRENT.set(namespace)
        try:
            await app(scope, receive, send)
        finally:
            CURRENT.reset(token)
            namespace.reclaim()

    return app_in_namespace
