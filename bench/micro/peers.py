"""Import a peer server's pure-Python modules for the micro-benchmarks."""

from __future__ import annotations

import importlib
import pathlib
import sys
from types import ModuleType

VENVS = pathlib.Path(__file__).resolve().parent.parent / ".venvs"


def import_peer(module: str, venv: str) -> ModuleType | None:
    """Import a peer's pure-Python module from this env, else from its bench venv
    (same interpreter, appended last so this env's packages win); None if neither."""
    try:
        return importlib.import_module(module)
    except ImportError:
        pass
    for site in sorted((VENVS / venv / "lib").glob("python*/site-packages")):
        if site.name and f"python{sys.version_info[0]}.{sys.version_info[1]}" in str(site):
            sys.path.append(str(site))
            try:
                return importlib.import_module(module)
            except ImportError:
                return None
    return None
