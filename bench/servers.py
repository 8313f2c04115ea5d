"""How each server under test is installed and started.

Every server serves the same app module from bench/apps with one worker
process (the scaling variants excepted), pinned by the harness to the CPUs in
``cpus``. ``has_master`` says whether the started process is a supervisor
whose children are the workers (RSS is read from the workers).
"""

from __future__ import annotations

import pathlib
import sys
from collections.abc import Callable
from dataclasses import dataclass

import venvs

BENCH = pathlib.Path(__file__).resolve().parent
APPS = BENCH / "apps"
REPO = BENCH.parent


@dataclass(frozen=True)
class App:
    interface: str  # "wsgi" or "asgi"
    target: str  # "module:attribute" in bench/apps


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    files: dict[str, str]  # name -> text, written into the run's folder first


@dataclass(frozen=True)
class Server:
    name: str
    venv: str | None  # None: the harness's own environment
    packages: tuple[str, ...]  # what the venv gets
    distributions: tuple[str, ...]  # whose versions are recorded
    has_master: bool
    build: Callable[[str, App, int], Launch]  # (python, app, port) -> Launch
    workers: int = 1
    cpus: str = "0"

    def python(self) -> str:
        return sys.executable if self.venv is None else venvs.python(self.venv)

    def installed(self) -> bool:
        return self.venv is None or venvs.is_installed(self.venv, self.packages)

    def install(self) -> None:
        if self.venv is not None:
            venvs.ensure(self.venv, self.packages)


CADDYFILE = """\
:{port} {{
    python {{
        module_{interface} "{target}"
        working_dir {apps}
        workers {workers}
    }}
}}
"""


def fastsnake(workers: int) -> Callable[[str, App, int], Launch]:
    def build(python: str, app: App, port: int) -> Launch:
        text = CADDYFILE.format(port=port, interface=app.interface, target=app.target,
                                apps=APPS, workers=workers)
        return Launch([python, "-m", "fastsnake", "Caddyfile"], {"Caddyfile": text})
    return build


def granian(mode: str) -> Callable[[str, App, int], Launch]:
    def build(python: str, app: App, port: int) -> Launch:
        return Launch([python, "-m", "granian", "--interface", app.interface,
                       "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                       "--runtime-mode", mode, "--loop", "uvloop", "--no-access-log",
                       "--log-level", "warning", "--working-dir", str(APPS), app.target], {})
    return build


def uvicorn(python: str, app: App, port: int) -> Launch:
    return Launch([python, "-m", "uvicorn", app.target, "--host", "127.0.0.1",
                   "--port", str(port), "--loop", "uvloop", "--http", "httptools",
                   "--ws", "websockets", "--no-access-log", "--log-level", "warning",
                   "--app-dir", str(APPS)], {})


def gunicorn(worker_class: str) -> Callable[[str, App, int], Launch]:
    def build(python: str, app: App, port: int) -> Launch:
        return Launch([python, "-m", "gunicorn", "--workers", "1", "--worker-class",
                       worker_class, "--bind", f"127.0.0.1:{port}", "--chdir", str(APPS),
                       "--log-level", "warning", app.target], {})
    return build


def ceiling(python: str, app: App, port: int) -> Launch:
    return Launch([python, str(BENCH / "ceiling.py"), "--port", str(port)], {})


GRANIAN = ("granian[uvloop]",)
UVICORN = ("uvicorn", "uvloop", "httptools", "websockets")
GUNICORN = ("gunicorn", "uvicorn-worker", "uvloop", "httptools")

SERVERS: dict[str, Server] = {s.name: s for s in (
    Server("fastsnake", None, (), ("fastsnake", "uvloop"), True, fastsnake(1)),
    Server("granian", "granian", GRANIAN, ("granian", "uvloop"), True, granian("mt")),
    Server("granian-st", "granian", GRANIAN, ("granian", "uvloop"), True, granian("st")),
    Server("uvicorn", "uvicorn", UVICORN, ("uvicorn", "uvloop", "httptools", "websockets"),
           False, uvicorn),
    Server("gunicorn", "gunicorn", GUNICORN, ("gunicorn",), True, gunicorn("sync")),
    Server("gunicorn-uvicorn", "gunicorn", GUNICORN,
           ("gunicorn", "uvicorn-worker", "uvicorn", "uvloop", "httptools"), True,
           gunicorn("uvicorn_worker.UvicornWorker")),
    Server("ceiling", None, (), ("uvloop",), False, ceiling),
    # The scaling pair: both on cores 0 and 1, which the load generator shares.
    Server("fastsnake-1w", None, (), ("fastsnake", "uvloop"), True, fastsnake(1), 1, "0,1"),
    Server("fastsnake-2w", None, (), ("fastsnake", "uvloop"), True, fastsnake(2), 2, "0,1"),
)}

PEERS = ("granian", "granian-st", "uvicorn", "gunicorn", "gunicorn-uvicorn")


def is_fastsnake(name: str) -> bool:
    return name.startswith("fastsnake")
