"""A forked worker process as the supervisor sees it: a pid, one pipe, an exit.

The supervisor needs three things of a worker process: to start it (fork, so
that it inherits the configuration and the sockets), to hear its few
messages (ready, failed, recycle), and to learn when it exits and how. One
pipe per worker gives the last two: the worker writes its messages, one a
line, to the write end it inherits, and the read end reaches end-of-file
when the worker exits (the kernel closes its copy; none other exists, since
the supervisor closes its own right after the fork). ``waitpid`` then reads
the exit status.

This is what ``multiprocessing``'s fork context did (Popen_fork's sentinel
is the same kind of pipe), without loading it: multiprocessing brings
pickle and a dozen modules into the supervisor, which every worker then
inherits and, by running pickle for each message, partly copies
(server/memory.py).

A message is ``kind payload\\n``, the payload with backslashes and newlines
escaped, so a failure's text may span lines.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable

READ_SIZE = 65536


def escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def unescape(text: str) -> str:
    out: list[str] = []
    chars = iter(text)
    for char in chars:
        if char == "\\":
            char = next(chars, "")
            out.append("\n" if char == "n" else char)
        else:
            out.append(char)
    return "".join(out)


class WorkerPipe:
    """The worker's end: its messages to the supervisor."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, kind: str, payload: str) -> None:
        data = f"{kind} {escape(payload)}\n".encode(errors="replace")
        while data:  # a blocking pipe writes it all, unless a signal cuts it short
            data = data[os.write(self.fd, data):]


class ForkedProcess:
    """The supervisor's end: the worker's pid, its messages, its exit."""

    def __init__(self, pid: int, fd: int) -> None:
        self.pid = pid
        self.fd = fd                  # -1 once end-of-file was read
        self.exitcode: int | None = None
        self.reaped = False
        self.pending = b""            # a message not yet ended by its newline

    def fileno(self) -> int:
        return self.fd

    def read(self) -> tuple[list[tuple[str, str]], bool]:
        """The complete messages waiting on the pipe, and whether it reached
        end-of-file (the worker exited; ``wait`` collects it)."""
        ended = False
        chunks = [self.pending]
        try:
            while True:
                chunk = os.read(self.fd, READ_SIZE)
                if not chunk:
                    ended = True
                    break
                chunks.append(chunk)
        except BlockingIOError:
            pass
        *lines, self.pending = b"".join(chunks).split(b"\n")
        if ended:
            os.close(self.fd)
            self.fd = -1
        messages = []
        for line in lines:
            kind, _, payload = line.decode(errors="replace").partition(" ")
            messages.append((kind, unescape(payload)))
        return messages, ended

    def wait(self) -> int | None:
        """Reap the process (it has exited, or is about to: its pipe ended):
        its exit code, or minus the signal that killed it; None if the
        status is lost (SIGCHLD ignored, so the kernel reaped it)."""
        if self.exitcode is None and not self.reaped:
            self.reaped = True
            try:
                _, status = os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
            else:
                self.exitcode = os.waitstatus_to_exitcode(status)
        if self.fd != -1:
            os.close(self.fd)
            self.fd = -1
        return self.exitcode


def fork_process(target: Callable[[WorkerPipe], int]) -> ForkedProcess:
    """Fork; the child runs ``target`` with its end of the pipe and exits
    with the code it returns (1 if it raises)."""
    # What is buffered would otherwise be written twice, once by each process.
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker
        code = 1
        try:
            os.close(read_fd)
            # A worker never reads the terminal (as multiprocessing's children).
            if sys.stdin is not None:
                sys.stdin.close()
                sys.stdin = open(os.devnull)  # noqa: SIM115 - for the process's life
            code = target(WorkerPipe(write_fd))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    if stream is not None:
                        stream.flush()
                except Exception:  # noqa: BLE001 - nothing may stop the exit
                    pass
            os._exit(code)
    os.close(write_fd)
    os.set_blocking(read_fd, False)
    return ForkedProcess(pid, read_fd)
