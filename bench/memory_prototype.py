"""What a supervisor that never loads the Caddyfile would save: a prototype,
measured beside the real server in one run.

    python bench/memory_prototype.py [--rounds N]

The prototype (``--serve CADDYFILE``, one listener, one worker, nothing
else: no respawn, reload or signals beyond SIGTERM) is the process shape
only. Its parent imports what a supervisor needs to supervise (os, signal,
socket, select, logging) and never the Caddyfile parser or the config
modules; a short-lived child loads the Caddyfile and hands back the pickled
Config; the parent binds the socket and forks the worker, which unpickles
the Config and serves. Against today's supervisor (which loads the config
itself and forks the worker from that) it shows what the worker's copies of
the supervisor's pages cost (server/memory.py).
"""

from __future__ import annotations

import argparse  # (the real supervisor has it too: the command line's)
import os
import signal
import socket
import sys

BENCH = os.path.dirname(os.path.abspath(__file__))


def read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def serve(caddyfile: str) -> int:
    """The prototype server (this module's imports stand for the slim
    supervisor's; everything else is imported in a child)."""
    import logging  # noqa: F401 - a supervisor logs
    import select  # noqa: F401 - and waits on its workers

    read_fd, write_fd = os.pipe()
    loader = os.fork()
    if loader == 0:
        import pickle

        from fastsnake.config.loader import load_config

        config = load_config(caddyfile)
        listener = config.listeners[0]
        data = pickle.dumps(((listener.host, listener.port), config))
        while data:
            data = data[os.write(write_fd, data):]
        os._exit(0)
    os.close(write_fd)
    blob = read_all(read_fd)
    os.waitpid(loader, 0)
    # The address is the one fact the parent needs; the prototype reads it
    # the slow way (unpickling the tuple head would load the config modules).
    with open(caddyfile) as file:
        port = int(file.read().split(":", 1)[1].split()[0])
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("0.0.0.0", port))
    sock.listen(1024)
    worker = os.fork()
    if worker == 0:
        import pickle

        from fastsnake.server.worker import run_worker

        _, config = pickle.loads(blob)
        os._exit(run_worker(config, 0, sock, ready=lambda: None, failed=print,
                            tolerant=False, recycle=lambda: None))
    signal.signal(signal.SIGTERM, lambda signum, frame: os.kill(worker, signal.SIGTERM))
    os.waitpid(worker, 0)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", metavar="CADDYFILE", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve)
    import pathlib
    import tempfile

    sys.path.insert(0, BENCH)
    import memory  # bench/memory.py

    rows: dict[str, list[list[memory.Usage]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for interface in ("wsgi", "asgi"):
                for name, argv_head in (
                        ("fastsnake", [sys.executable, "-m", "fastsnake", "run", "--config"]),
                        ("prototype", [sys.executable, __file__, "--serve"])):
                    port = memory.free_port()
                    caddyfile = pathlib.Path(tmp) / f"Caddyfile.{interface}"
                    caddyfile.write_text(memory.CADDYFILE.format(
                        port=port, interface=interface, module=f"{interface}_apps",
                        apps=memory.APPS, workers=1))
                    rows.setdefault(f"{name} {interface} w1", []).append(memory.measure(
                        name, [*argv_head, str(caddyfile)], port, 200, tmp, 1))
    for name, runs in rows.items():
        for usages in runs:
            print(memory.report(name, usages))
    return 0


if __name__ == "__main__":
    sys.exit(main())
