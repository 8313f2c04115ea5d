"""What the fuzz targets share: run under atheris (coverage-guided, libFuzzer
options), or, where atheris is not installed, a small mutational loop over the
seed corpus; and --replay to run given inputs once (crash reproduction)."""

from __future__ import annotations

import hashlib
import os
import pathlib
import random
import sys
import time
import traceback
from collections.abc import Callable

TOKENS = [
    b"\r\n", b"\r\n\r\n", b"\n", b"\r", b" ", b"\t", b":", b";", b",", b"\x00", b"\x0b",
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", b"POST /s HTTP/1.1\r\nHost: a\r\n",
    b"HTTP/1.0", b"HTTP/1.1", b"Host: ", b"Content-Length: ", b"Transfer-Encoding: chunked",
    b"Connection: close", b"Connection: keep-alive", b"Expect: 100-continue",
    b"Upgrade: websocket", b"0\r\n\r\n", b"ffffffff", b"-1", b"18446744073709551616",
]


def mutate(data: bytes, corpus: list[bytes], rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        choice = rng.randrange(7)
        pos = rng.randrange(len(buf) + 1)
        if choice == 0 and buf:
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
        elif choice == 1 and buf:
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        elif choice == 2:
            buf[pos:pos] = rng.choice(TOKENS)
        elif choice == 3 and buf:
            end = min(len(buf), pos + rng.randint(1, 16))
            del buf[pos:end]
        elif choice == 4 and buf:
            start = rng.randrange(len(buf))
            piece = buf[start:start + rng.randint(1, 64)]
            buf[pos:pos] = piece * rng.randint(1, 8)
        elif choice == 5 and corpus:
            other = rng.choice(corpus)
            buf = buf[:pos] + other[rng.randrange(len(other) + 1):]
        elif choice == 6 and len(buf) >= 3:
            buf[0:3] = bytes(rng.randrange(256) for _ in range(3))
    return bytes(buf[:8192])


def load_corpus(paths: list[str]) -> list[bytes]:
    corpus = []
    for name in paths:
        path = pathlib.Path(name)
        files = sorted(path.iterdir()) if path.is_dir() else [path]
        corpus += [f.read_bytes() for f in files if f.is_file()]
    return corpus


def fallback(target: Callable[[bytes], None], seconds: float, paths: list[str],
             crash_dir: pathlib.Path) -> int:
    corpus = load_corpus(paths) or [b"\x00\x00\x00GET / HTTP/1.1\r\nHost: a\r\n\r\n"]
    rng = random.Random(int(os.environ.get("FUZZ_SEED", "0")) or None)
    runs = crashes = 0
    began = time.monotonic()
    deadline = began + seconds
    while time.monotonic() < deadline:
        data = mutate(rng.choice(corpus), corpus, rng)
        runs += 1
        try:
            target(data)
        except Exception:
            crashes += 1
            crash_dir.mkdir(parents=True, exist_ok=True)
            out = crash_dir / ("crash-" + hashlib.sha1(data).hexdigest())
            out.write_bytes(data)
            print(f"CRASH saved to {out}", file=sys.stderr)
            traceback.print_exc()
    took = time.monotonic() - began
    print(f"fallback fuzzing: {runs} runs in {took:.0f} s ({runs / took:.0f} exec/s), "
          f"{crashes} crashes")
    return 1 if crashes else 0


def run_fuzzer(target: Callable[[bytes], None], argv: list[str]) -> None:
    """--replay FILE...: run each input once. --fallback SECONDS [CORPUS...]:
    the built-in mutator. Anything else: atheris with libFuzzer's arguments."""
    if len(argv) > 1 and argv[1] == "--replay":
        failed = 0
        for data in load_corpus(argv[2:]):
            try:
                target(data)
            except Exception:
                failed += 1
                traceback.print_exc()
        print(f"replayed {len(load_corpus(argv[2:]))} inputs, {failed} failed")
        sys.exit(1 if failed else 0)
    use_fallback = len(argv) > 1 and argv[1] == "--fallback"
    if not use_fallback:
        try:
            import atheris
        except ImportError:
            print("atheris is not installed: using the built-in mutator for 60 s "
                  "(pip install atheris for coverage-guided fuzzing)", file=sys.stderr)
            argv = [argv[0], "--fallback", "60", *[a for a in argv[1:] if not a.startswith("-")]]
            use_fallback = True
    if use_fallback:
        crash_dir = pathlib.Path(os.environ.get("FUZZ_CRASH_DIR", "fuzz-crashes"))
        sys.exit(fallback(target, float(argv[2]), argv[3:], crash_dir))
    atheris.instrument_all()
    atheris.Setup(argv, target)
    atheris.Fuzz()
