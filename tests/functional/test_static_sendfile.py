"""Files too big for the cache go out with sendfile, the head first sent with
MSG_MORE so that it leaves in the file's first segment (includes/sendfile.pxi).
These read the bytes off a real socket: the head whole and first, the body
exact, and the connection still good for the next request, also when the
client reads slowly enough that the socket fills mid-file."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pytest

BIG = 3 * 1024 * 1024 + 17  # past the cache's in-memory limit and a socket's buffers
MIDDLING = 100_003  # kept open by the cache (fastsnake.files.server.SENDFILE_MIN)


def site(serve, root: Path):
    return serve(f"""
:$PORT {{
    root * {root}
    file_server
}}
""")


def big_file(root: Path, size: int = BIG) -> bytes:
    # Not one repeated byte, so a misplaced or repeated chunk shows.
    data = b"".join(hashlib.sha256(b"%d" % i).digest() for i in range(size // 32 + 1))[:size]
    (root / "big.bin").write_bytes(data)
    return data


def read_response(sock: socket.socket, buffered: bytearray, head_only: bool = False
                  ) -> tuple[bytes, bytes]:
    """(head, body) of one response with a Content-Length, read off ``sock``;
    bytes past it stay in ``buffered`` for the next one."""
    while b"\r\n\r\n" not in buffered:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before the head ended"
        buffered += chunk
    end = buffered.index(b"\r\n\r\n") + 4
    head = bytes(buffered[:end])
    del buffered[:end]
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    if head_only:
        return head, b""
    while len(buffered) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-body"
        buffered += chunk
    body = bytes(buffered[:length])
    del buffered[:length]
    return head, body


@pytest.mark.parametrize("size", [BIG, MIDDLING], ids=["opened", "kept-open"])
def test_big_file_thrice_on_one_connection_with_a_small_receive_buffer(serve, tmp_path, size):
    root = tmp_path / "site"
    root.mkdir()
    data = big_file(root, size)
    server = site(serve, root)
    sock = socket.socket()
    # A small window: the server's socket fills and the file goes out in
    # several sendfile calls, some after waiting for the socket to drain.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    sock.settimeout(30)
    sock.connect(("127.0.0.1", server.port))
    buffered = bytearray()
    with sock:
        for _ in range(3):  # the cache answers the later ones
            sock.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            head, body = read_response(sock, buffered)
            assert head.startswith(b"HTTP/1.1 200 ")
            assert b"\r\ncontent-length: %d\r\n" % size in head.lower()
            assert body == data
        assert not buffered


@pytest.mark.parametrize("size", [BIG, MIDDLING], ids=["opened", "kept-open"])
def test_pipelined_get_head_range_and_get_of_a_big_file(serve, tmp_path, size):
    root = tmp_path / "site"
    root.mkdir()
    data = big_file(root, size)
    server = site(serve, root)
    with server.connect(timeout=30) as sock:
        sock.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"HEAD /big.bin HTTP/1.1\r\nHost: x\r\n\r\n"
                     + b"GET /big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=%d-\r\n\r\n"
                     % (size // 3)
                     + b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        buffered = bytearray()
        head, body = read_response(sock, buffered)
        assert head.startswith(b"HTTP/1.1 200 ") and body == data
        head, _ = read_response(sock, buffered, head_only=True)
        assert head.startswith(b"HTTP/1.1 200 ")
        assert b"\r\ncontent-length: %d\r\n" % size in head.lower()
        head, body = read_response(sock, buffered)
        assert head.startswith(b"HTTP/1.1 206 ")
        assert body == data[size // 3:]
        head, body = read_response(sock, buffered)
        assert head.startswith(b"HTTP/1.1 200 ")
        assert body == data
        assert not buffered
