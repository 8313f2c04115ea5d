"""Run a real fastsnake in a subprocess for functional tests.

The server is started from a Caddyfile written to a temporary folder, on a
free port, and is ready when it prints its startup banner (no sleep loops).
Its stderr is collected so tests can wait for, and assert on, log lines.
"""

from __future__ import annotations

import os
import pathlib
import signal
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable

REPO = pathlib.Path(__file__).resolve().parent.parent
TEST_APPS = REPO / "tests" / "apps"
BANNER = "fastsnake: serving"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RunningServer:
    def __init__(self, caddyfile: pathlib.Path, port: int, env: dict[str, str] | None = None,
                 args: tuple[str, ...] = (), relative: bool = False) -> None:
        self.port = port
        self.lines: list[str] = []
        self.changed = threading.Condition()
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            # relative: named as a user in its folder would (fastsnake Caddyfile)
            [sys.executable, "-m", "fastsnake", *args,
             caddyfile.name if relative else str(caddyfile)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=full_env, text=True,
            cwd=str(caddyfile.parent))
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self.changed:
                self.lines.append(line.rstrip("\n"))
                self.changed.notify_all()
        with self.changed:
            self.lines.append("<eof>")
            self.changed.notify_all()

    @property
    def log(self) -> str:
        with self.changed:
            return "\n".join(self.lines)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 30.0,
                 start: int = 0) -> str | None:
        """Block until a log line from index ``start`` on satisfies predicate."""
        seen = start
        with self.changed:
            while True:
                for line in self.lines[seen:]:
                    if predicate(line):
                        return line
                seen = len(self.lines)
                if self.lines and self.lines[-1] == "<eof>":
                    return None
                if not self.changed.wait(timeout):
                    return None

    def wait_for_text(self, text: str, timeout: float = 30.0, start: int = 0) -> str | None:
        return self.wait_for(lambda line: text in line, timeout, start)

    def wait_ready(self, timeout: float = 30.0) -> None:
        if self.wait_for_text(BANNER, timeout) is None:
            self.stop()
            raise RuntimeError(f"fastsnake did not start:\n{self.log}")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def connect(self, timeout: float = 10.0) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def worker_pids(self) -> set[int]:
        children = pathlib.Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return {int(pid) for pid in children.read_text().split()}

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(5)
        return self.proc.returncode


def write_caddyfile(folder: pathlib.Path, text: str, port: int) -> pathlib.Path:
    path = folder / "Caddyfile"
    path.write_text(text.replace("$PORT", str(port)).replace("$APPS", str(TEST_APPS)))
    return path


def start_server(folder: pathlib.Path, caddyfile: str, env: dict[str, str] | None = None,
                 wait: bool = True) -> RunningServer:
    """A server on a free port from a Caddyfile text ($PORT, $APPS filled in)."""
    port = free_port()
    server = RunningServer(write_caddyfile(folder, caddyfile, port), port, env)
    if wait:
        server.wait_ready()
    return server


class FreshConnections:
    """Threads that each send one request per new TCP connection, as fast as
    they can, and record every answer. A failure is a connection that was
    accepted (connect succeeded) but did not get a whole 200 response: reset,
    closed early, timed out. A refused connect is counted apart: that is what
    a stopped server does."""

    def __init__(self, port: int, path: str = "/", threads: int = 4,
                 tls: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> None:
        self.port = port
        self.tls = tls
        self.host = host  # the Host header, and the TLS server name
        self.request = (f"GET {path} HTTP/1.1\r\nHost: {host}\r\n"
                        "Connection: close\r\n\r\n").encode()
        self.answers: list[str] = []
        self.failures: list[str] = []
        self.refused = 0
        self.stop = threading.Event()
        self.changed = threading.Condition()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]
        for thread in self.threads:
            thread.start()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            except ConnectionRefusedError:
                self.refused += 1
                continue
            except OSError as exc:
                self.record(failure=f"connect: {exc!r}")
                continue
            try:
                if self.tls is not None:
                    sock = self.tls.wrap_socket(sock, server_hostname=self.host)
                with sock:
                    sock.sendall(self.request)
                    data = bytearray()
                    while block := sock.recv(65536):
                        data += block
            except OSError as exc:
                self.record(failure=repr(exc))
                continue
            head, _, body = bytes(data).partition(b"\r\n\r\n")
            if head.startswith(b"HTTP/1.1 200 "):
                self.record(answer=body.decode("latin-1"))
            else:
                self.record(failure=repr(bytes(data[:200])))

    def record(self, answer: str | None = None, failure: str | None = None) -> None:
        with self.changed:
            if answer is not None:
                self.answers.append(answer)
            if failure is not None:
                self.failures.append(failure)
            self.changed.notify_all()

    def count(self) -> int:
        return len(self.answers)

    def wait_for_more(self, more: int, timeout: float = 30.0) -> None:
        """Block until ``more`` further answers came, a failure, or the timeout."""
        with self.changed:
            target = len(self.answers) + more
            self.changed.wait_for(lambda: len(self.answers) >= target or bool(self.failures),
                                  timeout)

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)


HARDENING_SITE = """
:$PORT {
    python {
        module_%s "hardening_apps:%s_app"
        working_dir "$APPS"
        workers 1
    }
}
"""


def start_hardening_server(folder: pathlib.Path, interface: str,
                           global_options: str = "") -> RunningServer:
    """One worker serving tests/apps/hardening_apps.py's WSGI or ASGI app."""
    return start_server(folder, global_options + HARDENING_SITE % (interface, interface))
