"""Virtual environments for the peer servers and the chart, under bench/.venvs.

Each venv is made with the harness's own interpreter, so every server runs the
same Python. A venv counts as installed once its marker file names exactly the
packages asked for; anything else is (re)installed.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import venv

ROOT = pathlib.Path(__file__).resolve().parent / ".venvs"
MARKER = "bench-installed.json"

_VERSIONS = (
    "import importlib.metadata as m, json, sys\n"
    "out = {}\n"
    "for name in sys.argv[1:]:\n"
    "    try:\n"
    "        out[name] = m.version(name)\n"
    "    except m.PackageNotFoundError:\n"
    "        out[name] = None\n"
    "print(json.dumps(out))\n"
)


def path(name: str) -> pathlib.Path:
    return ROOT / name


def python(name: str) -> str:
    return str(path(name) / "bin" / "python")


def is_installed(name: str, packages: tuple[str, ...]) -> bool:
    marker = path(name) / MARKER
    try:
        return json.loads(marker.read_text()) == list(packages)
    except (OSError, ValueError):
        return False


def ensure(name: str, packages: tuple[str, ...]) -> str:
    """Create venv ``name`` with ``packages`` unless it already has them; its python."""
    if is_installed(name, packages):
        return python(name)
    where = path(name)
    print(f"bench: installing {' '.join(packages)} into {where}", file=sys.stderr, flush=True)
    if not (where / "bin" / "python").exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(where)
    subprocess.run([python(name), "-m", "pip", "install", "--quiet", "--upgrade", *packages],
                   check=True, timeout=900)
    (where / MARKER).write_text(json.dumps(list(packages)))
    return python(name)


def versions(python_path: str, distributions: tuple[str, ...]) -> dict[str, str | None]:
    """Installed versions of ``distributions`` in the environment of ``python_path``."""
    done = subprocess.run([python_path, "-c", _VERSIONS, *distributions],
                          capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)
