"""The typed, validated configuration that the server runs from.

A Config is plain, frozen, picklable data: the supervisor hands it to worker
processes, which import their apps themselves (never app objects). Nothing in
this module imports the server side.

Shape: Config -> listeners (one per port) -> sites (picked by Host) -> ordered
routes (a matcher and a handler).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import Enum


class Interface(str, Enum):
    WSGI = "wsgi"
    ASGI = "asgi"


class Runtime(str, Enum):
    PROCESS = "process"
    THREAD = "thread"


@dataclass(frozen=True)
class PythonApp:
    """A ``python`` directive: which app to serve and how."""

    interface: Interface
    target: str                      # "module:variable"
    working_dir: str | None = None   # absolute, or None for the current directory
    venv: str | None = None          # absolute path of a virtual environment
    workers: int | None = None       # None: the listener's default
    runtime: Runtime | None = None   # None: the platform's default
    lifespan: bool = False
    autoreload: bool = False
    threads: int | None = None       # fastsnake's own: a WSGI thread pool per process
    location: str = ""               # "file:line" of the directive, for errors at import

    @property
    def instance_key(self) -> tuple[str, str | None, str | None]:
        """Handlers with the same key share one app instance in a process."""
        return (self.target, self.working_dir, self.venv)


@dataclass(frozen=True)
class Route:
    """One handler in a site's chain and the path patterns that guard it.

    ``paths`` empty means every request matches.
    """

    handler: PythonApp
    paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class Site:
    """A site block's share of one listener: host matchers and its routes.

    ``hosts`` empty means any Host (a catch-all such as ``:8080``).
    """

    hosts: tuple[str, ...]
    routes: tuple[Route, ...]


@dataclass(frozen=True)
class Timeouts:
    """Caddy's ``servers { timeouts { ... } }``, in seconds; None disables."""

    read_header: float | None = 60.0
    read_body: float | None = None
    write: float | None = None
    idle: float | None = 300.0


@dataclass(frozen=True)
class Limits:
    """Request size limits (DESIGN.md section 3)."""

    max_request_line: int = 8 * 1024
    max_header_size: int = 16 * 1024
    max_header_count: int = 100
    max_body_size: int | None = None


def default_workers() -> int:
    return os.cpu_count() or 1


@dataclass(frozen=True)
class Listener:
    """One address:port; every site block on that port shares it."""

    host: str                        # bind address; "" means every interface
    port: int
    sites: tuple[Site, ...]
    runtime: Runtime = Runtime.PROCESS
    workers: int = field(default_factory=default_workers)

    @property
    def apps(self) -> tuple[PythonApp, ...]:
        """Every python handler of this listener, in order of appearance."""
        return tuple(route.handler for site in self.sites for route in site.routes)

    @property
    def display_address(self) -> str:
        return f"{self.host or '0.0.0.0'}:{self.port}"


@dataclass(frozen=True)
class Config:
    listeners: tuple[Listener, ...]
    grace_period: float = 30.0
    timeouts: Timeouts = field(default_factory=Timeouts)
    limits: Limits = field(default_factory=Limits)
    debug: bool = False
    source: str = ""                 # the Caddyfile path it came from
