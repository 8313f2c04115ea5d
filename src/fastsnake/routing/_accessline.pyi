"""An access log's JSON line, written in C (see _accessline.pyx)."""

from collections.abc import Callable, Container
from typing import Any

class LineLog:
    """The per-request half of an access log, in C (the subclass,
    routing.accesslog.AccessLogger, sets the fields up)."""

    info_enabled: bool
    error_enabled: bool
    fast: bool
    redact: bool
    head_info: bytes
    head_error: bytes
    middle: bytes
    writer: Any
    reporter: Any
    skip: Container[str]
    chunked_skip: Container[str]
    sensitive: Container[str]
    canonical: dict[bytes, str]
    canonical_header: Callable[[bytes], str]
    def json_line(self, req: object, ts: float, status: int, size: int, duration: float,
                  response_headers: list[tuple[bytes, bytes]], bytes_read: int) -> bytes | None:
        """The JSON line of one finished request, exactly as the Python
        encoder writes it; None where that encoder must write it."""
    def log(self, request: object, status: int, size: int, duration: float,
            response_headers: list[tuple[bytes, bytes]], bytes_read: int) -> None: ...
    def python_line(self, level: str, ts: float, request: object, status: int, size: int,
                    duration: float, response_headers: list[tuple[bytes, bytes]],
                    bytes_read: int) -> bytes: ...
