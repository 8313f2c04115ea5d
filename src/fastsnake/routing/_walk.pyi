"""A request's walk through the routes, in C (see _walk.pyx)."""

from collections.abc import Callable, Iterable
from typing import Any

from fastsnake._exchange import HttpRequest

NEGOTIATED: int
HOST_MEMO: int

class Walk:
    """What the routes noted for the response while one request passed them."""

    header_ops: list[tuple[int, bytes, bytes, bytes, Any]] | None
    encode: Any
    skip_log: bool

class Step:
    """A compiled route: its matcher and one action (a callable ``run``, or
    ``answer``/``root``/``encoder``/``steps``, which the walk does itself)."""

    matches: Callable[[Any], bool] | None
    run: Callable[[Any, Walk], Any] | None
    group: str
    answer: Any
    root: str | None
    encoder: Any
    steps: tuple[Step, ...] | None
    strip: str | None
    def __init__(self, matches: Callable[[Any], bool] | None,
                 run: Callable[[Any, Walk], Any] | None, group: str = "", *,
                 answer: Any = None, root: str | None = None, encoder: Any = None,
                 steps: Iterable[Step] | None = None, strip: str | None = None) -> None: ...

def run_steps(steps: tuple[Step, ...], request: HttpRequest, walk: Walk) -> Any:
    """The first answer of ``steps`` for ``request`` (None: none answered)."""

class PathTest:
    """The path matcher's exact/prefix/suffix/middle patterns in C, for a
    path that needs no decoding or cleaning; ``fallback`` for the others."""

    def __init__(self, exact: Iterable[bytes], prefixes: Iterable[bytes],
                 suffixes: Iterable[bytes], middles: Iterable[bytes],
                 fallback: Callable[[Any], bool]) -> None: ...
    def __call__(self, request: HttpRequest) -> bool: ...

def strip_path_prefix(request: HttpRequest, prefix: str, mount: bool) -> None:
    """Remove ``prefix`` from the path (case-insensitively, as Caddy); with
    ``mount`` it moves to script_name."""

class Negotiator:
    """``encode``'s choice of format per Accept-Encoding value, remembered."""

    formats: tuple[bytes, ...]
    chosen: dict[bytes, bytes | None]
    def negotiate(self, request: HttpRequest) -> bytes | None: ...
    def choose(self, values: list[bytes]) -> bytes | None: ...

class SiteSelect:
    """One site's walk; the subclass answers ``settle`` and ``snapshot``."""

    steps: tuple[Step, ...]
    defers: bool
    log: Callable[..., None] | None
    def select(self, request: HttpRequest) -> Any: ...
    def set_filter(self, request: HttpRequest, walk: Walk) -> None: ...
    def snapshot(self, request: Any) -> Callable[[], None]: ...
    def settle(self, request: Any, walk: Walk, target: Any,
               restore: Callable[[], None] | None) -> Any: ...

class HostSelect:
    """A listener's choice of site by Host, then the site's walk."""

    client_ip: Any
    only_site: Any
    by_host: dict[bytes, Any]
    def select(self, request: HttpRequest) -> Any: ...
    def name_client(self, request: Any) -> None: ...
    def site_for_host(self, host: bytes) -> Any: ...
