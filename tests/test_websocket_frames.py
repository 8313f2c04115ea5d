"""The WebSocket codec: bytes in, messages out (RFC 6455), and permessage-deflate (RFC 7692)."""

from __future__ import annotations

import zlib

import pytest

from fastsnake._websocket import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    FrameReader,
    PerMessageDeflate,
    WebSocketError,
    accept_key,
    apply_mask,
    encode_close,
    encode_frame,
)
from tests.protocol_harness import split_every_byte

KEY = b"\x37\xfa\x21\x3d"
FIN = 0x80
RSV1 = 0x40
MiB = 1024 * 1024


def xor(data: bytes, key: bytes) -> bytes:
    """Reference masking, independent of the module's."""
    n = len(data)
    if not n:
        return b""
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


def raw(first: int, payload: bytes = b"", *, key: bytes | None = KEY,
        length: int | None = None) -> bytes:
    """A frame built by hand; `length` overrides the declared payload length."""
    n = len(payload) if length is None else length
    mask_bit = 0x80 if key else 0
    if n <= 125:
        head = bytes([first, mask_bit | n])
    elif n <= 0xFFFF:
        head = bytes([first, mask_bit | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([first, mask_bit | 127]) + n.to_bytes(8, "big")
    if key:
        return head + key + xor(payload, key)
    return head + payload


def read_all(reader: FrameReader) -> list[tuple[int, object]]:
    out = []
    while (message := reader.read_message()) is not None:
        out.append(message)
    return out


def feed_all(chunks, **kwargs) -> list[tuple[int, object]]:
    reader = FrameReader(**kwargs)
    out = []
    for chunk in chunks:
        reader.feed(chunk)
        out.extend(read_all(reader))
    assert reader.buffered == 0
    return out


def error_code(data: bytes, **kwargs) -> int:
    reader = FrameReader(**kwargs)
    reader.feed(data)
    with pytest.raises(WebSocketError) as info:
        read_all(reader)
    with pytest.raises(WebSocketError):  # sticky: the reader stays failed
        reader.read_message()
    return info.value.code


def deflate_raw(compressor, data: bytes) -> bytes:
    """What a client sends: raw deflate, sync-flushed, tail stripped (RFC 7692 7.2.1)."""
    out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def split_server_frame(frame: bytes) -> tuple[int, bytes]:
    """(first byte, payload) of an unmasked frame."""
    n = frame[1] & 0x7F
    return frame[0], frame[2 if n < 126 else (4 if n == 126 else 10):]


INVALID_UTF8_DEFLATED = deflate_raw(zlib.compressobj(wbits=-15), b"ok \xff")


# ---------------------------------------------------------------- round trips

LENGTHS = [
    pytest.param(0, id="0"),
    pytest.param(125, id="125"),
    pytest.param(126, id="126"),
    pytest.param(65535, id="65535"),
    pytest.param(65536, id="65536"),
    pytest.param(MiB, id="1MiB"),
]


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("opcode", [pytest.param(OP_TEXT, id="text"),
                                    pytest.param(OP_BINARY, id="binary")])
@pytest.mark.parametrize("masked", [pytest.param(True, id="client"),
                                    pytest.param(False, id="server")])
def test_data_round_trip(opcode, length, masked):
    payload = (b"abcdefghijklmnopqrstuvwxyz0123456789" * (length // 36 + 1))[:length]
    frame = encode_frame(opcode, payload, mask_key=KEY if masked else None)
    assert frame == raw(FIN | opcode, payload, key=KEY if masked else None)
    expected = payload.decode() if opcode == OP_TEXT else payload
    assert feed_all([frame], expect_masked=masked) == [(opcode, expected)]


@pytest.mark.parametrize("length", [pytest.param(0, id="0"), pytest.param(125, id="125")])
@pytest.mark.parametrize("opcode", [pytest.param(OP_PING, id="ping"),
                                    pytest.param(OP_PONG, id="pong")])
def test_control_round_trip(opcode, length):
    payload = bytes(range(length))
    assert feed_all([encode_frame(opcode, payload, mask_key=KEY)]) == [(opcode, payload)]


@pytest.mark.parametrize(("length", "header_size"), [
    pytest.param(125, 2, id="7-bit"),
    pytest.param(126, 4, id="16-bit-min"),
    pytest.param(65535, 4, id="16-bit-max"),
    pytest.param(65536, 10, id="64-bit"),
])
def test_shortest_length_encoding(length, header_size):
    assert len(encode_frame(OP_BINARY, bytes(length))) == header_size + length
    assert len(encode_frame(OP_BINARY, bytes(length), mask_key=KEY)) == header_size + 4 + length


def test_str_payload_is_sent_as_utf8():
    assert encode_frame(OP_TEXT, "héllo") == encode_frame(OP_TEXT, "héllo".encode())
    assert encode_frame(OP_BINARY, bytearray(b"ab")) == b"\x82\x02ab"
    assert encode_frame(OP_TEXT, memoryview(b"ab"), fin=False) == b"\x01\x02ab"


@pytest.mark.parametrize("kwargs", [
    pytest.param({"opcode": 3, "payload": b""}, id="unknown-opcode"),
    pytest.param({"opcode": OP_PING, "payload": bytes(126)}, id="control-126"),
    pytest.param({"opcode": OP_CLOSE, "payload": b"", "fin": False}, id="control-fragmented"),
    pytest.param({"opcode": OP_PONG, "payload": b"", "rsv1": True}, id="control-rsv1"),
    pytest.param({"opcode": OP_TEXT, "payload": b"", "mask_key": b"abc"}, id="short-key"),
])
def test_encode_frame_refuses(kwargs):
    with pytest.raises(ValueError):
        encode_frame(**kwargs)


# ------------------------------------------------------------- feeding shapes

SMALL_STREAM = (
    encode_frame(OP_TEXT, "hé", mask_key=KEY)
    + encode_frame(OP_PING, b"p", mask_key=KEY)
    + encode_frame(OP_BINARY, b"\x00\xff" * 70, mask_key=b"\x00\x00\x00\x00")
    + encode_frame(OP_TEXT, "frag", fin=False, mask_key=KEY)
    + encode_frame(OP_PONG, b"", mask_key=KEY)
    + encode_frame(OP_CONTINUATION, "mént", mask_key=KEY)
)
SMALL_MESSAGES = [(OP_TEXT, "hé"), (OP_PING, b"p"), (OP_BINARY, b"\x00\xff" * 70),
                  (OP_PONG, b""), (OP_TEXT, "fragmént")]


def test_split_at_every_byte():
    for chunks in split_every_byte(SMALL_STREAM):
        assert feed_all(chunks) == SMALL_MESSAGES, [len(c) for c in chunks]


def test_many_frames_in_one_feed():
    frames = [encode_frame(OP_BINARY, i.to_bytes(2, "big") * (i % 70), mask_key=KEY)
              for i in range(2000)]
    expected = [(OP_BINARY, i.to_bytes(2, "big") * (i % 70)) for i in range(2000)]
    assert feed_all([b"".join(frames)]) == expected


def test_large_frame_in_small_reads():
    payload = bytes(range(256)) * 4096
    frame = encode_frame(OP_BINARY, payload, mask_key=KEY)
    chunks = [frame[i:i + 65536] for i in range(0, len(frame), 65536)]
    assert feed_all(chunks) == [(OP_BINARY, payload)]


def test_feed_accepts_buffers():
    frame = encode_frame(OP_TEXT, "hi", mask_key=KEY)
    assert feed_all([bytearray(frame[:3]), memoryview(frame)[3:]]) == [(OP_TEXT, "hi")]


def test_buffered_counts_unread_bytes_and_fragments():
    reader = FrameReader()
    first = encode_frame(OP_BINARY, b"x" * 10, fin=False, mask_key=KEY)
    rest = encode_frame(OP_CONTINUATION, b"y" * 5, mask_key=KEY)
    reader.feed(first + rest[:3])
    assert reader.read_message() is None
    assert reader.buffered == 10 + 3
    reader.feed(rest[3:])
    assert reader.read_message() == (OP_BINARY, b"x" * 10 + b"y" * 5)
    assert reader.buffered == 0


def test_fragments_with_control_frames_interleaved():
    stream = [
        raw(OP_TEXT, b"Hel"),
        raw(FIN | OP_PING, b"1"),
        raw(OP_CONTINUATION, b"lo"),
        raw(FIN | OP_PONG, b"2"),
        raw(OP_CONTINUATION, b""),
        raw(FIN | OP_CONTINUATION, b"!"),
        raw(FIN | OP_BINARY, b"after"),
    ]
    assert feed_all([b"".join(stream)]) == [
        (OP_PING, b"1"), (OP_PONG, b"2"), (OP_TEXT, "Hello!"), (OP_BINARY, b"after")]
    assert feed_all(stream) == feed_all([b"".join(stream)])


# ---------------------------------------------------------------- error cases

@pytest.mark.parametrize(("data", "kwargs", "code"), [
    pytest.param(raw(FIN | OP_TEXT, b"a", key=None), {}, 1002, id="unmasked-client-frame"),
    pytest.param(raw(FIN | OP_TEXT, b"a"), {"expect_masked": False}, 1002,
                 id="masked-server-frame"),
    pytest.param(raw(FIN | RSV1 | OP_TEXT, b"a"), {}, 1002, id="rsv1-without-deflate"),
    pytest.param(raw(FIN | 0x20 | OP_TEXT, b"a"), {}, 1002, id="rsv2"),
    pytest.param(raw(FIN | 0x10 | OP_TEXT, b"a"), {}, 1002, id="rsv3"),
    pytest.param(raw(FIN | 0x20 | OP_TEXT, b"a"), {"deflate": PerMessageDeflate()}, 1002,
                 id="rsv2-with-deflate"),
    *[pytest.param(raw(FIN | op, b""), {}, 1002, id=f"opcode-{op}")
      for op in (3, 4, 5, 6, 7, 11, 12, 13, 14, 15)],
    *[pytest.param(raw(op, b""), {}, 1002, id=f"fragmented-control-{op}")
      for op in (OP_CLOSE, OP_PING, OP_PONG)],
    pytest.param(raw(FIN | OP_PING, bytes(126)), {}, 1002, id="ping-126"),
    pytest.param(raw(FIN | OP_CLOSE, bytes(200)), {}, 1002, id="close-200"),
    pytest.param(raw(FIN | OP_CONTINUATION, b"a"), {}, 1002, id="continuation-first"),
    pytest.param(raw(OP_TEXT, b"a") + raw(FIN | OP_TEXT, b"b"), {}, 1002,
                 id="text-inside-message"),
    pytest.param(raw(OP_BINARY, b"a") + raw(OP_BINARY, b"b"), {}, 1002,
                 id="binary-inside-message"),
    pytest.param(raw(FIN | OP_TEXT, b"a") + raw(FIN | OP_CONTINUATION, b"b"), {}, 1002,
                 id="continuation-after-end"),
    pytest.param(bytes([FIN | OP_BINARY, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1]) + KEY, {}, 1002,
                 id="64-bit-high-bit"),
    pytest.param(raw(FIN | OP_BINARY, bytes(11)), {"max_message_size": 10}, 1009,
                 id="frame-too-big"),
    pytest.param(raw(OP_BINARY, bytes(6)) + raw(FIN | OP_CONTINUATION, bytes(5)),
                 {"max_message_size": 10}, 1009, id="fragments-too-big"),
    pytest.param(raw(RSV1 | OP_TEXT, b"a") + raw(FIN | RSV1 | OP_CONTINUATION, b"b"),
                 {"deflate": PerMessageDeflate()}, 1002, id="rsv1-on-continuation"),
    pytest.param(raw(FIN | RSV1 | OP_PING, b""), {"deflate": PerMessageDeflate()}, 1002,
                 id="rsv1-on-control"),
    pytest.param(raw(FIN | OP_TEXT, b"\xff"), {}, 1007, id="invalid-utf8"),
    pytest.param(raw(FIN | OP_TEXT, b"\xc0\xaf"), {}, 1007, id="overlong-utf8"),
    pytest.param(raw(FIN | OP_TEXT, b"\xed\xa0\x80"), {}, 1007, id="surrogate-utf8"),
    pytest.param(raw(FIN | OP_TEXT, b"\xf4\x90\x80\x80"), {}, 1007, id="beyond-unicode"),
    pytest.param(raw(OP_TEXT, b"ok\xe2\x82") + raw(FIN | OP_CONTINUATION, b"x"), {}, 1007,
                 id="invalid-utf8-across-fragments"),
    pytest.param(raw(FIN | OP_TEXT, b"\xe2\x82"), {}, 1007, id="truncated-utf8"),
])
def test_protocol_errors(data, kwargs, code):
    assert error_code(data, **kwargs) == code


@pytest.mark.parametrize(("header", "code"), [
    pytest.param(bytes([FIN | OP_BINARY, 0x80 | 127]) + (1 << 40).to_bytes(8, "big") + KEY,
                 1009, id="64-bit-huge"),
    pytest.param(bytes([FIN | OP_BINARY, 0x80 | 126]) + (1000).to_bytes(2, "big"), 1009,
                 id="16-bit-over-limit"),
    pytest.param(bytes([OP_TEXT, 0x80 | 126]) + (1000).to_bytes(2, "big") + KEY, 1009,
                 id="first-fragment"),
    pytest.param(bytes([FIN | OP_PING, 0x80 | 127]), 1002, id="control-long-form"),
])
def test_refused_from_header_alone(header, code):
    # The payload never arrives: the header is enough to refuse the frame.
    assert error_code(header, max_message_size=999) == code


def test_fragment_sum_refused_before_last_payload():
    reader = FrameReader(max_message_size=100)
    reader.feed(raw(OP_BINARY, bytes(60)) + raw(FIN | OP_CONTINUATION, bytes(41))[:2])
    with pytest.raises(WebSocketError) as info:
        reader.read_message()
    assert info.value.code == 1009


def test_limit_is_inclusive():
    assert feed_all([raw(FIN | OP_BINARY, bytes(10))], max_message_size=10) == [
        (OP_BINARY, bytes(10))]


def test_utf8_split_across_fragments():
    text = "€𝄞é".encode()
    for i in range(len(text) + 1):
        data = raw(OP_TEXT, text[:i]) + raw(FIN | OP_CONTINUATION, text[i:])
        assert feed_all([data]) == [(OP_TEXT, "€𝄞é")]


def test_error_carries_code_and_reason():
    err = WebSocketError(1002, "bad")
    assert (err.code, err.reason) == (1002, "bad")
    assert "1002" in str(err)


# ---------------------------------------------------------------------- close

@pytest.mark.parametrize(("payload", "expected"), [
    pytest.param(b"", (1005, ""), id="empty"),
    pytest.param(b"\x03\xe8", (1000, ""), id="code-only"),
    pytest.param(b"\x03\xe9bye", (1001, "bye"), id="code-and-reason"),
    pytest.param(b"\x0f\xa0" + "ça".encode(), (4000, "ça"), id="utf8-reason"),
    *[pytest.param(code.to_bytes(2, "big"), (code, ""), id=f"valid-{code}")
      for code in (1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999)],
])
def test_close_payload(payload, expected):
    assert feed_all([raw(FIN | OP_CLOSE, payload)]) == [(OP_CLOSE, expected)]


@pytest.mark.parametrize(("payload", "code"), [
    pytest.param(b"\x03", 1002, id="one-byte"),
    *[pytest.param(code.to_bytes(2, "big"), 1002, id=f"invalid-{code}")
      for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535)],
    pytest.param(b"\x03\xe8\xff", 1007, id="non-utf8-reason"),
])
def test_close_payload_errors(payload, code):
    assert error_code(raw(FIN | OP_CLOSE, payload)) == code


def test_nothing_is_read_after_close():
    reader = FrameReader()
    reader.feed(raw(FIN | OP_CLOSE, b"\x03\xe8") + raw(FIN | OP_TEXT, b"late"))
    assert reader.read_message() == (OP_CLOSE, (1000, ""))
    assert reader.closed
    assert reader.read_message() is None
    reader.feed(raw(FIN | OP_TEXT, b"later") + b"\xff\xff")
    assert reader.read_message() is None


@pytest.mark.parametrize(("args", "expected"), [
    pytest.param((), b"\x88\x02\x03\xe8", id="default"),
    pytest.param((1001, "bye"), b"\x88\x05\x03\xe9bye", id="reason"),
    pytest.param((1005,), b"\x88\x00", id="no-status"),
    pytest.param((4000, "x" * 200), b"\x88\x7d\x0f\xa0" + b"x" * 123, id="truncated-ascii"),
])
def test_encode_close(args, expected):
    assert encode_close(*args) == expected


@pytest.mark.parametrize("reason", [
    pytest.param("é" * 100, id="2-byte"),
    pytest.param("a" + "€" * 60, id="3-byte"),
    pytest.param("ab" + "𝄞" * 40, id="4-byte"),
])
def test_encode_close_truncates_at_character_boundary(reason):
    frame = encode_close(1000, reason)
    assert len(frame) <= 2 + 125
    ((opcode, (code, got)),) = feed_all([frame], expect_masked=False)
    assert (opcode, code) == (OP_CLOSE, 1000)
    assert reason.startswith(got)
    assert len(got.encode()) > 123 - 4


def test_encode_close_refuses_codes_over_two_bytes():
    with pytest.raises(ValueError):
        encode_close(70000)


# --------------------------------------------------------- masking, handshake

@pytest.mark.parametrize("length", [*range(0, 20), 63, 64, 65, 1000, 4097])
def test_apply_mask_matches_reference(length):
    data = bytes((i * 7 + 3) & 0xFF for i in range(length))
    assert apply_mask(data, KEY) == xor(data, KEY)
    assert apply_mask(apply_mask(data, KEY), KEY) == data
    assert apply_mask(bytearray(data), bytearray(KEY)) == xor(data, KEY)


def test_apply_mask_key_must_be_4_bytes():
    with pytest.raises(ValueError):
        apply_mask(b"abc", b"12345")


@pytest.mark.parametrize("key", [
    pytest.param("dGhlIHNhbXBsZSBub25jZQ==", id="str"),
    pytest.param(b"dGhlIHNhbXBsZSBub25jZQ==", id="bytes"),
    pytest.param(b" dGhlIHNhbXBsZSBub25jZQ== ", id="padded"),
])
def test_accept_key_rfc6455_example(key):
    assert accept_key(key) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


# --------------------------------------------------------- permessage-deflate

@pytest.mark.parametrize(("offer", "response", "settings"), [
    pytest.param("permessage-deflate", "permessage-deflate", (False, False, 15), id="plain"),
    pytest.param("permessage-deflate; client_max_window_bits", "permessage-deflate",
                 (False, False, 15), id="chrome"),
    pytest.param("permessage-deflate;client_max_window_bits=10", "permessage-deflate",
                 (False, False, 15), id="client-bits"),
    pytest.param("permessage-deflate; server_no_context_takeover",
                 "permessage-deflate; server_no_context_takeover", (True, False, 15),
                 id="server-no-takeover"),
    pytest.param("permessage-deflate; client_no_context_takeover",
                 "permessage-deflate; client_no_context_takeover", (False, True, 15),
                 id="client-no-takeover"),
    pytest.param("permessage-deflate; server_max_window_bits=10",
                 "permessage-deflate; server_max_window_bits=10", (False, False, 10),
                 id="server-bits"),
    pytest.param('permessage-deflate; server_max_window_bits="9"',
                 "permessage-deflate; server_max_window_bits=9", (False, False, 9),
                 id="quoted-bits"),
    pytest.param("PerMessage-Deflate ; Server_No_Context_Takeover ; Client_No_Context_Takeover",
                 "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
                 (True, True, 15), id="case-and-spaces"),
    pytest.param("x-webkit-deflate-frame, permessage-deflate; client_max_window_bits",
                 "permessage-deflate", (False, False, 15), id="other-extension-first"),
    pytest.param("permessage-deflate; server_max_window_bits=8, permessage-deflate",
                 "permessage-deflate", (False, False, 15), id="window-8-declined-fallback"),
    pytest.param("permessage-deflate; foo=1, permessage-deflate; server_no_context_takeover",
                 "permessage-deflate; server_no_context_takeover", (True, False, 15),
                 id="first-acceptable-offer"),
    pytest.param(b"permessage-deflate", "permessage-deflate", (False, False, 15), id="bytes"),
])
def test_negotiate(offer, response, settings):
    got, pmd = PerMessageDeflate.negotiate(offer)
    assert got == response
    assert (pmd.server_no_context_takeover, pmd.client_no_context_takeover,
            pmd.server_max_window_bits) == settings


@pytest.mark.parametrize("offer", [
    pytest.param("", id="empty"),
    pytest.param("x-webkit-deflate-frame", id="other-extension"),
    pytest.param("permessage-deflate; server_max_window_bits=8", id="window-8"),
    pytest.param("permessage-deflate; server_max_window_bits", id="server-bits-no-value"),
    pytest.param("permessage-deflate; server_max_window_bits=16", id="server-bits-16"),
    pytest.param("permessage-deflate; server_max_window_bits=010", id="leading-zero"),
    pytest.param("permessage-deflate; server_max_window_bits=x", id="not-a-number"),
    pytest.param("permessage-deflate; client_max_window_bits=7", id="client-bits-7"),
    pytest.param("permessage-deflate; server_no_context_takeover=1", id="flag-with-value"),
    pytest.param("permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                 id="duplicate"),
    pytest.param("permessage-deflate; foo", id="unknown-parameter"),
])
def test_negotiate_declines(offer):
    assert PerMessageDeflate.negotiate(offer) is None


def test_window_bits_8_cannot_be_configured():
    with pytest.raises(ValueError):
        PerMessageDeflate(server_max_window_bits=8)


@pytest.mark.parametrize("fragments", [pytest.param(1, id="whole"),
                                       pytest.param(3, id="fragmented")])
def test_client_compressed_messages(fragments):
    compressor = zlib.compressobj(wbits=-15)
    reader = FrameReader(deflate=PerMessageDeflate())
    text = "the quick brown fox jumps over the lazy dog. " * 20
    sizes = []
    for _ in range(3):  # context takeover: later copies refer back to earlier ones
        data = deflate_raw(compressor, text.encode())
        sizes.append(len(data))
        step = len(data) // fragments + 1
        parts = [data[i:i + step] for i in range(0, len(data), step)]
        for i, part in enumerate(parts):
            first = (OP_TEXT | RSV1) if i == 0 else OP_CONTINUATION
            reader.feed(raw(first | (FIN if i == len(parts) - 1 else 0), part))
        assert read_all(reader) == [(OP_TEXT, text)]
    assert sizes[1] < sizes[0]


def test_compressed_and_plain_messages_mix():
    compressor = zlib.compressobj(wbits=-15)
    reader = FrameReader(deflate=PerMessageDeflate())
    reader.feed(raw(FIN | RSV1 | OP_BINARY, deflate_raw(compressor, b"abc" * 50))
                + raw(FIN | OP_BINARY, b"plain")
                + raw(FIN | RSV1 | OP_BINARY, deflate_raw(compressor, b""))
                + raw(FIN | RSV1 | OP_TEXT, deflate_raw(compressor, b"abc" * 50)))
    assert read_all(reader) == [(OP_BINARY, b"abc" * 50), (OP_BINARY, b"plain"),
                                (OP_BINARY, b""), (OP_TEXT, "abc" * 50)]


def test_client_message_ending_with_final_block():
    # A client without context takeover may finish each message with BFINAL set.
    reader = FrameReader(deflate=PerMessageDeflate(client_no_context_takeover=True))
    for text in ("first message", "second message"):
        compressor = zlib.compressobj(wbits=-15)
        data = compressor.compress(text.encode()) + compressor.flush(zlib.Z_FINISH)
        reader.feed(raw(FIN | RSV1 | OP_TEXT, data))
        assert read_all(reader) == [(OP_TEXT, text)]


@pytest.mark.parametrize("no_takeover", [pytest.param(False, id="takeover"),
                                         pytest.param(True, id="no-takeover")])
def test_server_compressed_messages(no_takeover):
    pmd = PerMessageDeflate(server_no_context_takeover=no_takeover)
    client = zlib.decompressobj(wbits=-15)
    text = "the quick brown fox jumps over the lazy dog. " * 20
    sizes = []
    for _ in range(3):
        frame = pmd.encode_message(OP_TEXT, text)
        first, payload = split_server_frame(frame)
        assert first == FIN | RSV1 | OP_TEXT
        sizes.append(len(payload))
        assert client.decompress(payload + b"\x00\x00\xff\xff").decode() == text
        if no_takeover:  # each message also inflates on its own
            assert zlib.decompressobj(wbits=-15).decompress(payload + b"\x00\x00\xff\xff") \
                == text.encode()
    if no_takeover:
        assert sizes[0] == sizes[1] == sizes[2]
    else:
        assert sizes[1] < sizes[0]


def test_server_compression_round_trip_through_reader():
    server = PerMessageDeflate()
    reader = FrameReader(expect_masked=False, deflate=PerMessageDeflate())
    for opcode, payload in [(OP_BINARY, bytes(range(256)) * 100), (OP_TEXT, "é" * 1000),
                            (OP_BINARY, b""), (OP_TEXT, "")]:
        reader.feed(server.encode_message(opcode, payload))
        assert read_all(reader) == [(opcode, payload)]


def test_encode_message_only_data_opcodes():
    with pytest.raises(ValueError):
        PerMessageDeflate().encode_message(OP_PING, b"")


@pytest.mark.parametrize("fragments", [pytest.param(1, id="whole"),
                                       pytest.param(4, id="fragmented")])
def test_decompression_bomb(fragments):
    data = deflate_raw(zlib.compressobj(wbits=-15), bytes(10 * MiB))
    assert len(data) < 20_000
    step = len(data) // fragments + 1
    parts = [data[i:i + step] for i in range(0, len(data), step)]
    stream = b"".join(
        raw(((OP_BINARY | RSV1) if i == 0 else OP_CONTINUATION)
            | (FIN if i == len(parts) - 1 else 0), part)
        for i, part in enumerate(parts))
    assert error_code(stream, max_message_size=MiB, deflate=PerMessageDeflate()) == 1009


def test_inflated_size_at_limit_is_accepted():
    data = deflate_raw(zlib.compressobj(wbits=-15), bytes(1000))
    reader = FrameReader(max_message_size=1000, deflate=PerMessageDeflate())
    reader.feed(raw(FIN | RSV1 | OP_BINARY, data))
    assert reader.read_message() == (OP_BINARY, bytes(1000))


@pytest.mark.parametrize(("payload", "code"), [
    pytest.param(b"\xff\xff\xff", 1007, id="not-deflate"),
    pytest.param(INVALID_UTF8_DEFLATED, 1007, id="invalid-utf8-inside"),
])
def test_compressed_payload_errors(payload, code):
    assert error_code(raw(FIN | RSV1 | OP_TEXT, payload), deflate=PerMessageDeflate()) == code


# ------------------------------------------------ cross-check with websockets

def test_websockets_client_frames_parse():
    ws_frames = pytest.importorskip("websockets.frames")
    messages = [(ws_frames.Opcode.TEXT, "héllo".encode(), (OP_TEXT, "héllo")),
                (ws_frames.Opcode.BINARY, bytes(70000), (OP_BINARY, bytes(70000))),
                (ws_frames.Opcode.PING, b"ping", (OP_PING, b"ping")),
                (ws_frames.Opcode.CLOSE, b"\x03\xe8done", (OP_CLOSE, (1000, "done")))]
    data = b"".join(ws_frames.Frame(op, payload).serialize(mask=True)
                    for op, payload, _ in messages)
    assert feed_all([data]) == [expected for _, _, expected in messages]


def test_websockets_permessage_deflate_both_ways():
    pytest.importorskip("websockets")
    from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
    from websockets.frames import Frame, Opcode
    from websockets.streams import StreamReader

    factory = ClientPerMessageDeflateFactory(client_max_window_bits=True)
    offer = "; ".join(["permessage-deflate"] + [
        name if value is None else f"{name}={value}"
        for name, value in factory.get_request_params()])
    response, server = PerMessageDeflate.negotiate(offer)
    response_params = [(name, value or None) for name, _, value in
                       (p.partition("=") for p in response.split("; ")[1:])]
    client = factory.process_response_params(response_params, [])

    reader = FrameReader(deflate=server)
    texts = ["hello " * 50, "hello " * 50, "world"]
    for text in texts:
        reader.feed(Frame(Opcode.TEXT, text.encode()).serialize(mask=True, extensions=[client]))
    assert read_all(reader) == [(OP_TEXT, t) for t in texts]

    stream = StreamReader()
    for text in texts:
        stream.feed_data(server.encode_message(OP_TEXT, text))
    for text in texts:
        parser = Frame.parse(stream.read_exact, mask=False, extensions=[client])
        with pytest.raises(StopIteration) as done:
            next(parser)
        assert done.value.value.data.decode() == text
