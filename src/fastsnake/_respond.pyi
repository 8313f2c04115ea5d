"""Fixed responses (Cython extension): Caddy's ``respond`` and the server's
own refusals."""

from collections.abc import Iterable

from fastsnake._http import Handler

class RespondHandler(Handler):
    """Answers every request with the same status, headers and body."""

    status_line: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    def __init__(self, status: int, body: bytes = b"",
                 headers: Iterable[tuple[bytes, bytes]] = (), reason: bytes = b"") -> None: ...

def plain_text(status: int, message: str) -> RespondHandler:
    """A RespondHandler with a short text/plain body."""
