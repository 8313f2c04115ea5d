"""Start a server pinned to CPUs, wait until it answers, read its memory and CPU, stop it."""

from __future__ import annotations

import os
import pathlib
import signal
import socket
import subprocess
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
PROBE = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
IGNORED_CHILDREN = ("resource_tracker", "semaphore_tracker", "forkserver")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stat(pid: int) -> list[str] | None:
    try:
        text = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the command name, which may hold spaces and parentheses.
    return text[text.rindex(")") + 2:].split()


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (children, grandchildren, ...)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None:
                parents.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cmdline(pid: int) -> str:
    try:
        return pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def vm_hwm_kib(pid: int) -> int | None:
    try:
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


class RunningServer:
    """One server process group, started by argv under ``taskset -c cpus``."""

    def __init__(self, argv: list[str], cpus: str, cwd: pathlib.Path, has_master: bool,
                 env: dict[str, str] | None = None) -> None:
        self.has_master = has_master
        self.log_path = cwd / "server.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(["taskset", "-c", cpus, *argv], cwd=cwd,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True,
                                     env={**os.environ, **env} if env else None)

    def wait_ready(self, port: int, timeout: float = 30.0) -> None:
        """Poll until a GET on the port gets an HTTP response (bounded by timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                    sock.sendall(PROBE)
                    if sock.recv(64).startswith(b"HTTP/1."):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"not ready after {timeout:.0f}s: {self.log_tail()}")

    def workers(self) -> list[int]:
        if not self.has_master:
            return [self.proc.pid]
        return [pid for pid in descendants(self.proc.pid)
                if not any(name in cmdline(pid) for name in IGNORED_CHILDREN)]

    def peak_rss_kib(self) -> int | None:
        """The largest VmHWM among the worker processes."""
        sizes = [kib for kib in map(vm_hwm_kib, self.workers()) if kib is not None]
        return max(sizes) if sizes else None

    def cpu_seconds(self) -> float:
        """User plus system time of the whole tree so far."""
        ticks = 0
        for pid in [self.proc.pid, *descendants(self.proc.pid)]:
            fields = _stat(pid)
            if fields is not None:
                ticks += int(fields[11]) + int(fields[12])
        return ticks / CLK_TCK

    def log_tail(self, lines: int = 15) -> str:
        self.log.flush()
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the group, then SIGKILL what is left after ``timeout``."""
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(5)
        self.log.close()
