"""WSGI (PEP 3333) adapter, run on the event loop's thread (Cython extension)."""

from collections.abc import Callable, Iterator
from typing import IO, Any

from fastsnake._http import Handler, HttpProtocol, HttpRequest

class FileWrapper:
    """``wsgi.file_wrapper``: iterates a file in blocks; close() closes it."""

    filelike: IO[bytes]
    blksize: int
    def __init__(self, filelike: IO[bytes], blksize: int = 8192) -> None: ...
    def __iter__(self) -> Iterator[bytes]: ...
    def __next__(self) -> bytes: ...
    def close(self) -> None: ...

class WsgiHandler(Handler):
    """Serves one WSGI app.

    The request body is read whole (spooled to a temporary file past 1 MiB)
    before the app is called; the response iterable is pulled only while the
    socket drains.
    """

    app: Callable[..., Any]
    base_environ: dict[str, Any]
    name: str
    def __init__(self, app: Callable[..., Any], *, server_port: int,
                 multiprocess: bool = True, multithread: bool = False,
                 url_scheme: str = "http", name: str = "",
                 server_software: str = "fastsnake") -> None: ...
    def environ_for(self, proto: HttpProtocol, request: HttpRequest,
                    body: bytes = b"") -> dict[str, Any]:
        """The environ a request would get (for tests and tools)."""

class BodyInput:
    """wsgi.input over the request body's chunks, without joining them."""

    def __init__(self, chunks: list[bytes], total: int) -> None: ...
    def read(self, size: int | None = -1) -> bytes: ...
    def readline(self, size: int | None = -1) -> bytes: ...
    def readlines(self, hint: int | None = -1) -> list[bytes]: ...
    def __iter__(self) -> BodyInput: ...
    def __next__(self) -> bytes: ...
