"""The WebSocket codec: bytes in, messages out (RFC 6455)."""

from __future__ import annotations

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
from tests.websocket_helpers import (
    FIN,
    KEY,
    RSV1,
    MiB,
    error_code,
    feed_all,
    raw,
    xor,
)

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


