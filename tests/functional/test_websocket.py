"""WebSocket over a real fastsnake, with the websockets library as client."""

from __future__ import annotations

import base64
import os
import socket
import struct

import pytest

pytest.importorskip("websockets")
from websockets.exceptions import ConnectionClosed, InvalidStatus  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

ASGI = """
:$PORT {
    python {
        module_asgi "asgi_basic:app"
        working_dir "$APPS"
        workers 1
    }
}
"""


def ws_url(server, path="/ws/echo"):
    return f"ws://127.0.0.1:{server.port}{path}"


def test_echo_text_binary_and_subprotocol(serve):
    server = serve(ASGI)
    with connect(ws_url(server), subprotocols=["chat", "other"], compression=None,
                 max_size=None) as ws:
        assert ws.subprotocol == "chat"
        assert ws.response.headers["x-test"] == "accepted"
        ws.send("héllo")
        assert ws.recv(timeout=10) == "héllo"
        ws.send(b"\x00\x01binary")
        assert ws.recv(timeout=10) == b"\x00\x01binary"
        big = os.urandom(3 * 1024 * 1024)
        ws.send(big)
        assert ws.recv(timeout=20) == big


def test_fragments_ping_and_close_handshake(serve):
    server = serve(ASGI)
    with connect(ws_url(server), compression=None) as ws:
        ws.send(iter(["frag", "ment", "ed"]))
        assert ws.recv(timeout=10) == "fragmented"
        assert ws.ping(b"are you there").wait(10)
    assert server.wait_for_text("ws disconnect 1000")


def test_compression_is_negotiated_and_works(serve):
    server = serve(ASGI)
    with connect(ws_url(server)) as ws:  # the client offers permessage-deflate
        assert "permessage-deflate" in ws.response.headers.get("sec-websocket-extensions", "")
        for text in ("a" * 10000, "short", "a" * 10000):
            ws.send(text)
            assert ws.recv(timeout=10) == text


def test_server_initiated_close(serve):
    server = serve(ASGI)
    with connect(ws_url(server, "/ws/close-first"), compression=None) as ws:
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=10)
        assert info.value.rcvd.code == 4001
        assert info.value.rcvd.reason == "bye now"
    assert server.wait_for_text("after close: websocket.disconnect")


def test_rejected_and_denied_handshakes(serve):
    server = serve(ASGI)
    with pytest.raises(InvalidStatus) as info:
        connect(ws_url(server, "/ws/reject"))
    assert info.value.response.status_code == 403
    with pytest.raises(InvalidStatus) as info:
        connect(ws_url(server, "/ws/deny"))
    assert info.value.response.status_code == 401
    assert info.value.response.body == b"who are you?"


def test_oversize_message_closes_1009(serve):
    server = serve(ASGI)
    with connect(ws_url(server), compression=None, max_size=None) as ws:
        with pytest.raises(ConnectionClosed) as info:
            # The server may close while the client is still sending.
            ws.send(b"x" * (16 * 1024 * 1024 + 1))
            ws.recv(timeout=20)
        assert info.value.rcvd.code == 1009


def raw_handshake(server) -> socket.socket:
    sock = server.connect()
    key = base64.b64encode(os.urandom(16))
    sock.sendall(b"GET /ws/echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                 b"Sec-WebSocket-Key: " + key + b"\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101 ")
    return sock


def test_unmasked_client_frame_closes_1002(serve):
    server = serve(ASGI)
    with raw_handshake(server) as sock:
        sock.sendall(b"\x81\x05hello")  # a text frame without the client mask
        frame = sock.recv(1024)
        assert frame[0] == 0x88  # close
        assert struct.unpack("!H", frame[2:4])[0] == 1002
        assert sock.recv(1024) == b""


@pytest.mark.parametrize("request_head, status", [
    pytest.param(b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n\r\n",
                 426, id="old-version"),
    pytest.param(b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n",
                 400, id="bad-key"),
])
def test_bad_handshakes(serve, request_head, status):
    server = serve(ASGI)
    with server.connect() as sock:
        sock.sendall(request_head)
        assert sock.recv(1024).startswith(b"HTTP/1.1 %d " % status)
