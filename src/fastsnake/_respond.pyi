"""Fixed responses (Cython extension): Caddy's ``respond``, ``redir``,
``abort``, the files ``file_server`` chose, and the server's own refusals."""

import os
from collections.abc import Callable, Iterable

from fastsnake._exchange import PreparedHead
from fastsnake._http import Handler

class RespondHandler(Handler):
    """Answers every request with the same status, headers and body."""

    status_line: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    close: bool
    prepared: PreparedHead | None  # None: the head takes the per-request path
    def __init__(self, status: int, body: bytes = b"",
                 headers: Iterable[tuple[bytes, bytes]] = (), reason: bytes = b"",
                 close: bool = False) -> None: ...

def plain_text(status: int, message: str) -> RespondHandler:
    """A RespondHandler with a short text/plain body."""

class AbortHandler(Handler):
    """Drops the connection without a response (Caddy's ``abort``)."""

class FileHandler(Handler):
    """Sends ``length`` bytes of the file at ``path`` from ``offset``."""

    status_line: bytes
    headers: list[tuple[bytes, bytes]]
    path: str
    offset: int
    length: int
    def __init__(self, status: int, headers: Iterable[tuple[bytes, bytes]], path: str,
                 offset: int, length: int) -> None: ...

NOT_CACHED: frozenset[bytes]  # request headers that bypass the file_server cache

class FileChecks:
    """The lstat answers one file_server decision rests on: a directory by
    (device, inode, mode), a file by those and size, mtime and ctime (ns), a
    missing name by its absence. ``holds`` redoes the calls in C."""

    def __init__(self, checks: list[tuple[str, bool, os.stat_result | None]]) -> None: ...
    def holds(self) -> bool:
        """Whether every call still answers as it did."""

class OpenFile:
    """A descriptor closed when the last holder lets go."""

    fd: int
    def __init__(self, fd: int) -> None: ...

class CachedFileHandler(Handler):
    """A whole cached file kept open: prepared head, body by sendfile."""

    prepared: PreparedHead
    file: OpenFile
    length: int
    def __init__(self, prepared: PreparedHead, file: OpenFile, length: int) -> None: ...

def original_tail(target: bytes) -> bytes | None:
    """A rewritten request's target as file_server's answer depends on it:
    its last name with the slashes after it (None: percent-escaped, or not
    a path)."""

class FileCache:
    """file_server answers by key, each with its FileChecks; bounded in
    entries and in bytes of file bodies held, least recently used out first
    (by the clock rule)."""

    miss: Callable[[object, object], object] | None
    max_entries: int
    max_bytes: int
    bytes_held: int
    max_files: int
    files_held: int
    by_encoding: bool
    def __init__(self, max_entries: int = 4096, max_bytes: int = 33554432,
                 by_encoding: bool = False, max_files: int = 64) -> None: ...
    def has_file_room(self) -> bool:
        """Whether one more entry may hold a file open."""
    def run(self, request: object, walk: object) -> object:
        """A routing step: the cached handler, else ``miss(request, walk)``."""
    def lookup(self, request: object) -> Handler | None:
        """The cached handler for a plain GET or HEAD (an HttpRequest), or None."""
    def __len__(self) -> int: ...
    def get(self, key: object) -> Handler | None:
        """The handler under ``key`` if its checks hold; else None (entry dropped)."""
    def put(self, key: object, checks: FileChecks, handler: Handler, size: int = 0,
            open_file: bool = False) -> None:
        """Remember ``handler`` (holding ``size`` bytes of file in memory, or
        with ``open_file`` a file open) under ``key``."""
    def drop(self, key: object) -> None: ...
    def clear(self) -> None: ...
