"""An access log's JSON line, written in C (see _accessline.pyx)."""

from collections.abc import Callable, Container

def access_line(head: bytes, ts: float, middle: bytes, req: object, status: int,
                size: int, duration: float, response_headers: list[tuple[bytes, bytes]],
                bytes_read: int, redact: bool, skip: Container[str],
                chunked_skip: Container[str], sensitive: Container[str],
                canonical: dict[bytes, str],
                canonical_header: Callable[[bytes], str]) -> bytes | None:
    """The JSON line (with its newline) of one finished request, exactly as
    routing.accesslog's Python encoder writes it; None where that encoder
    must write it (a repeated header name, a Unix-socket peer, ...)."""

