"""WebSocket frame codec (RFC 6455) and permessage-deflate (RFC 7692), in Cython.

No I/O: :class:`FrameReader` turns received bytes into messages; the
``encode_*`` functions and :meth:`PerMessageDeflate.encode_message` turn
messages into bytes to send. Server frames are unmasked; client frames (the
reader's default expectation) are masked.
"""

from typing import Final

OP_CONTINUATION: Final = 0
OP_TEXT: Final = 1
OP_BINARY: Final = 2
OP_CLOSE: Final = 8
OP_PING: Final = 9
OP_PONG: Final = 10

class WebSocketError(Exception):
    """The peer broke the protocol; close the connection with ``code``.

    ``code`` is 1002 (protocol error), 1007 (invalid payload data: bad UTF-8 or
    bad compressed data) or 1009 (message too big).
    """

    code: int
    reason: str
    def __init__(self, code: int, reason: str) -> None: ...

def accept_key(key: bytes | str) -> str:
    """The Sec-WebSocket-Accept value for a Sec-WebSocket-Key (RFC 6455 section 4.2.2):
    base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")). Surrounding
    whitespace in ``key`` is ignored."""

def apply_mask(data: bytes | bytearray | memoryview, key: bytes) -> bytes:
    """``data`` XORed with the 4-byte ``key`` repeated (section 5.3); its own inverse."""

def encode_frame(
    opcode: int,
    payload: bytes | bytearray | memoryview | str,
    fin: bool = True,
    rsv1: bool = False,
    mask_key: bytes | None = None,
) -> bytes:
    """One frame: header (shortest length encoding) and payload.

    A ``str`` payload is sent as its UTF-8 (without an intermediate bytes
    object). ``mask_key`` (4 bytes) masks the frame, as a client must; servers
    pass None. Raises ValueError for an unknown opcode, a control frame that is
    fragmented, has RSV1 or exceeds 125 bytes, or a mask key that is not 4 bytes.
    """

def encode_close(code: int = 1000, reason: str = "") -> bytes:
    """A whole, unmasked Close frame. The reason is cut to fit 123 bytes at a
    UTF-8 character boundary. Code 1005 ("no status") gives an empty payload;
    other codes are sent as given (the caller chooses a sendable one)."""

class PerMessageDeflate:
    """permessage-deflate state for one connection, both directions.

    Compression uses at most a 4 KiB window (or the negotiated
    server_max_window_bits if smaller) and zlib memLevel 5 (about 32 KiB per
    connection); the zlib objects are made on first use. Messages may be sent
    uncompressed with :func:`encode_frame` at any time: the compressor never sees
    them, so the peer's context stays in step.
    """

    server_no_context_takeover: bool
    client_no_context_takeover: bool
    server_max_window_bits: int
    def __init__(
        self,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int = 15,
    ) -> None:
        """``server_max_window_bits`` must be 9..15 (zlib cannot do raw deflate with 8)."""

    @staticmethod
    def negotiate(offer: str | bytes) -> tuple[str, PerMessageDeflate] | None:
        """Answer a Sec-WebSocket-Extensions request header (RFC 7692 section 5).

        Takes the first acceptable ``permessage-deflate`` offer, in the client's
        order, and returns the Sec-WebSocket-Extensions response value and the
        configured object; None if no offer is acceptable. An offer is declined
        for an unknown or repeated parameter, a malformed value, or
        ``server_max_window_bits=8``. The response repeats
        server_no_context_takeover, client_no_context_takeover and
        server_max_window_bits when offered, and never sets client_max_window_bits.
        """

    def encode_message(self, opcode: int, payload: bytes | bytearray | str) -> bytes:
        """A whole compressed message as one unmasked frame with RSV1 set.

        ``opcode`` is OP_TEXT or OP_BINARY (else ValueError); a ``str`` is
        encoded as UTF-8."""

class FrameReader:
    """Reassembles messages from received bytes (one per connection and direction).

    Call :meth:`feed` with each chunk received, then :meth:`read_message` until it
    returns None. A WebSocketError means the peer broke the protocol: send
    :func:`encode_close` with its code and close; the reader then raises the
    same error on every call.
    """

    closed: bool
    """True once a Close frame has been returned; later bytes are ignored."""

    def __init__(
        self,
        max_message_size: int = 16 * 1024 * 1024,
        expect_masked: bool = True,
        deflate: PerMessageDeflate | None = None,
    ) -> None:
        """``max_message_size`` bounds a message's payload: the sum of its
        fragments and, if compressed, its inflated size. ``expect_masked`` is
        True on a server (clients mask) and False on a client. Without
        ``deflate`` a frame with RSV1 is a protocol error."""

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Append received bytes (copied; parsing waits for read_message).
        Ignored after a Close frame was returned or an error was raised."""

    def read_message(self) -> tuple[int, object] | None:
        """The next message or control frame, or None when more bytes are needed.

        Returns one of ``(OP_TEXT, str)``, ``(OP_BINARY, bytes)``,
        ``(OP_PING, bytes)``, ``(OP_PONG, bytes)`` or
        ``(OP_CLOSE, (code, reason))`` — ``(1005, "")`` for an empty Close
        payload. Control frames that arrive between the fragments of a message
        are returned as they come. After a Close frame it returns None.

        Raises WebSocketError with code 1002 for a malformed frame (wrong masking,
        RSV bits without an extension, unknown opcode, fragmented or oversized
        control frame, misplaced continuation or new message, 64-bit length with
        the top bit set, 1-byte or invalid-code Close payload), 1007 for invalid
        UTF-8 in a text message or Close reason or for bad compressed data, and
        1009 when a message would exceed ``max_message_size`` — decided from the
        frame header, before its payload arrives, or while inflating.
        """

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned: unread bytes plus the fragments
        gathered for an unfinished message."""
