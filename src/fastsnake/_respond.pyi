"""Fixed responses (Cython extension): Caddy's ``respond``, ``redir``,
``abort``, the files ``file_server`` chose, and the server's own refusals."""

from collections.abc import Iterable

from fastsnake._http import Handler

class RespondHandler(Handler):
    """Answers every request with the same status, headers and body."""

    status_line: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    close: bool
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
