"""Importing the apps a worker serves.

``module:variable`` is imported with the app's working_dir first on sys.path
(and as the process's cwd) and its venv's site-packages added, as the
``python`` directive's reference describes. Handlers that name the same
(module, working_dir, venv) share one instance per process: one import.
"""

from __future__ import annotations

import glob
import importlib
import os
import sys
from collections.abc import Callable
from typing import Any

from fastsnake.config import PythonApp
from fastsnake.errors import AppImportError


def venv_site_packages(venv: str) -> list[str]:
    """The site-packages folders of a virtual environment (POSIX or Windows)."""
    found = sorted(glob.glob(os.path.join(venv, "lib", "python*", "site-packages")))
    windows = os.path.join(venv, "Lib", "site-packages")
    if os.path.isdir(windows):
        found.append(windows)
    return found


def prepare_paths(app: PythonApp) -> None:
    if app.working_dir:
        if app.working_dir not in sys.path:
            sys.path.insert(0, app.working_dir)
    elif "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    if app.venv:
        for folder in venv_site_packages(app.venv):
            if folder not in sys.path:
                sys.path.append(folder)


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

    def load(self, app: PythonApp) -> Callable[..., Any]:
        key = app.instance_key
        if key not in self._instances:
            prepare_paths(app)
            if app.working_dir and not self._cwd_set:
                # One cwd per process: the first app with a working_dir sets it.
                os.chdir(app.working_dir)
                self._cwd_set = True
            self._instances[key] = import_target(app.target, app.location)
        return self._instances[key]
