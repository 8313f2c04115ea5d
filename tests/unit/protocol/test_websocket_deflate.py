"""permessage-deflate (RFC 7692) in the WebSocket codec, and cross-checks with the
websockets library."""

from __future__ import annotations

import zlib

import pytest

from fastsnake._websocket import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_TEXT,
    FrameReader,
    PerMessageDeflate,
)
from tests.websocket_helpers import (
    FIN,
    INVALID_UTF8_DEFLATED,
    RSV1,
    MiB,
    deflate_raw,
    error_code,
    feed_all,
    raw,
    read_all,
    split_server_frame,
)

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
