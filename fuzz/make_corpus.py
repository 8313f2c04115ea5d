"""Write the seed corpora: fuzz/corpus/http and fuzz/corpus/websocket.

The HTTP seeds are request streams of the kinds HTTP parser test suites
exercise (written here from RFC 9112's grammar, not copied from any suite):
valid requests in each framing, pipelines, and the classic malformed and
smuggling shapes. Each file is the fuzz_http.py layout: three bytes of flags
and split seed, then the stream. The WebSocket seeds are frames built with
fastsnake's own encoder: masked and unmasked, fragmented, control frames,
compressed messages, and a few broken headers.

    python fuzz/make_corpus.py
"""

from __future__ import annotations

import hashlib
import pathlib
import sys
import zlib

HERE = pathlib.Path(__file__).resolve().parent

GET = b"GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n"
HTTP_SEEDS = [
    GET,
    b"GET / HTTP/1.0\r\n\r\n",
    b"GET /s HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /n HTTP/1.0\r\n\r\n",
    b"HEAD /s HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /s HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n",
    b"POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nabc",
    b"PUT /l HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    GET + b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx" + GET,
    GET + b"\r\n\n" + GET,
    b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET http://example.com:8080/abs?q HTTP/1.1\r\nHost: other\r\n\r\n",
    b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"0\r\n\r\nG",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"
    b"5c\r\nGPOST / HTTP/1.1\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello",
    b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n folded\r\n\r\n",
    b"GET / HTTP/1.1\nHost: a\n\n",
    b"GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
    b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    b"GET /\r\n",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551615\r\n\r\n",
]


def ws_seeds() -> list[bytes]:
    sys.path.insert(0, str(HERE.parent / "src"))
    from fastsnake import _websocket as ws

    key = b"\x01\x02\x03\x04"
    deflated = zlib.compressobj(wbits=-15)
    packed = deflated.compress(b"hello hello hello") + deflated.flush(zlib.Z_SYNC_FLUSH)
    frames = {
        "text": ws.encode_frame(ws.OP_TEXT, "hello", mask_key=key),
        "binary": ws.encode_frame(ws.OP_BINARY, bytes(range(200)), mask_key=key),
        "fragments": ws.encode_frame(ws.OP_TEXT, "hel", fin=False, mask_key=key)
        + ws.encode_frame(ws.OP_PING, b"p", mask_key=key)
        + ws.encode_frame(ws.OP_CONTINUATION, "lo", mask_key=key),
        "close": ws.encode_frame(ws.OP_CLOSE, b"\x03\xe8bye", mask_key=key),
        "pong-empty-close": ws.encode_frame(ws.OP_PONG, b"", mask_key=key)
        + ws.encode_frame(ws.OP_CLOSE, b"", mask_key=key),
        "len16": ws.encode_frame(ws.OP_BINARY, b"x" * 300, mask_key=key),
        "len64": b"\x82\xff" + (70000).to_bytes(8, "big") + key + b"y" * 64,
        "compressed": ws.encode_frame(ws.OP_TEXT, packed[:-4], rsv1=True, mask_key=key),
        "unmasked": ws.encode_frame(ws.OP_TEXT, "server to client"),
        "bad-utf8": ws.encode_frame(ws.OP_TEXT, b"\xff\xfe", mask_key=key),
        "bad-opcode": b"\x83\x80" + key,
        "long-ping": b"\x89\xfe\x00\x7e" + key + b"z" * 126,
    }
    seeds = []
    for name, frame in frames.items():
        flags = 0x01 if name != "unmasked" else 0x00
        if name == "compressed":
            flags |= 0x02
        seeds.append(bytes([flags | 0x30, 0xff, 7, 0]) + frame)
    return seeds


def write(folder: pathlib.Path, seeds: list[bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        (folder / hashlib.sha1(seed).hexdigest()[:16]).write_bytes(seed)


def main() -> None:
    http = []
    for i, stream in enumerate(HTTP_SEEDS):
        http.append(bytes([0, i, 0]) + stream)  # whole
        http.append(bytes([(5 << 3) | 1, i, 1]) + stream)  # five splits, then EOF
    write(HERE / "corpus" / "http", http)
    write(HERE / "corpus" / "websocket", ws_seeds())
    print(f"{len(http)} HTTP seeds, {len(ws_seeds())} WebSocket seeds")


if __name__ == "__main__":
    main()
