"""server/forked.py: a real fork, its messages over the pipe, its exit."""

from __future__ import annotations

import os
import select
import signal
import sys

import pytest

from fastsnake.server.forked import ForkedProcess, WorkerPipe, escape, fork_process, unescape

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


@pytest.mark.parametrize("text", ["", "plain", "two\nlines", "back\\slash", "\\n literal",
                                  "trailing\\", "end\n", "ünïcode\n\\\n"])
def test_escape_round_trips_and_keeps_to_one_line(text):
    assert "\n" not in escape(text)
    assert unescape(escape(text)) == text


def run_to_end(process: ForkedProcess) -> tuple[list[tuple[str, str]], int]:
    """Every message until the pipe ends, then the exit code."""
    messages: list[tuple[str, str]] = []
    while True:
        select.select([process.fd], [], [])
        got, ended = process.read()
        messages += got
        if ended:
            return messages, process.wait()


def test_messages_in_order_then_the_exit_code():
    def child(pipe: WorkerPipe) -> int:
        pipe.send("ready", str(os.getpid()))
        pipe.send("failed", "line one\nline two")
        pipe.send("recycle", "x" * 100_000)  # longer than a pipe's buffer
        return 7

    process = fork_process(child)
    messages, code = run_to_end(process)
    assert messages == [("ready", str(process.pid)), ("failed", "line one\nline two"),
                        ("recycle", "x" * 100_000)]
    assert code == 7
    assert process.fd == -1


def test_an_exception_in_the_child_is_exit_code_1_and_system_exit_keeps_its_code():
    def raises(pipe: WorkerPipe) -> int:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - the traceback, in the child only
        raise RuntimeError("boom")

    def exits(pipe: WorkerPipe) -> int:
        sys.exit(4)

    assert run_to_end(fork_process(raises)) == ([], 1)
    assert run_to_end(fork_process(exits)) == ([], 4)


def test_a_killed_child_reports_minus_the_signal():
    read_fd, write_fd = os.pipe()

    def waits(pipe: WorkerPipe) -> int:
        pipe.send("ready", "")
        os.read(read_fd, 1)  # never written: blocks until killed
        return 0

    process = fork_process(waits)
    select.select([process.fd], [], [])
    assert process.read() == ([("ready", "")], False)
    os.kill(process.pid, signal.SIGKILL)
    assert run_to_end(process) == ([], -signal.SIGKILL)
    os.close(read_fd)
    os.close(write_fd)


def test_with_sigchld_ignored_the_status_is_lost_not_an_error():
    # The kernel reaps the child itself: waitpid has nothing to return.
    previous = signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    try:
        messages, code = run_to_end(fork_process(lambda pipe: 5))
    finally:
        signal.signal(signal.SIGCHLD, previous)
    assert (messages, code) == ([], None)
