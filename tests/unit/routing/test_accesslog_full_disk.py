"""A full disk never leaves half an access-log line for the next entry to be
glued onto. The disk is made "full" for one child process with RLIMIT_FSIZE:
a write that crosses the limit is cut short, the next one fails (EFBIG), as
on a full file system; then the limit is raised, as when space is freed."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

CHILD = textwrap.dedent("""
    import errno, json, resource, signal, sys
    from fastsnake.config.log import LogOutput
    from fastsnake.routing.accesslog import LineWriter

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG, not a signal
    path, limit = sys.argv[1], int(sys.argv[2])
    writer = LineWriter(LogOutput(kind="file", path=path))
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    failures = 0
    for n in range(%(lines)d):
        line = (json.dumps({"n": n, "pad": "x" * (37 + n %% 11)}) + "\\n").encode()
        try:
            writer.write(line)
        except OSError as exc:
            assert exc.errno in (errno.EFBIG, errno.ENOSPC), exc
            failures += 1
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # space again
    writer.write(b'{"after": true}\\n')
    print(failures)
""")


def run_child(tmp_path: Path, limit: int, lines: int = 40) -> tuple[int, list[str]]:
    log = tmp_path / "access.log"
    done = subprocess.run([sys.executable, "-c", CHILD % {"lines": lines}, str(log),
                           str(limit)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return int(done.stdout), log.read_text().split("\n")


def test_a_line_cut_by_a_full_disk_is_taken_back(tmp_path):
    failures, lines = run_child(tmp_path, limit=1000)
    assert failures > 0  # the limit was really hit, mid-line
    assert lines[-1] == ""  # the file ends with a newline
    entries = [json.loads(line) for line in lines[:-1]]  # every line is whole JSON
    assert entries[-1] == {"after": True}
    numbers = [entry["n"] for entry in entries[:-1]]
    assert numbers == list(range(len(numbers)))  # nothing torn, nothing out of order


def test_the_limit_at_every_offset_of_a_line(tmp_path):
    for limit in range(300, 360, 7):
        folder = tmp_path / str(limit)
        folder.mkdir()
        _, lines = run_child(folder, limit=limit, lines=8)
        assert all(json.loads(line) for line in lines[:-1]), (limit, lines)
