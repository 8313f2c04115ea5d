"""Instructions per request of a fastsnake worker, counted by callgrind.

    python bench/instructions.py                       # wsgi-hello and asgi-hello
    python bench/instructions.py --scenarios wsgi-100k --seconds 20
    python bench/instructions.py --scenarios respond,files-4k,files-4k-gz

Requests/s on a shared 2-core machine swing by 20 % between runs; the number
of user-space instructions a worker executes per request does not (the same
build gives the same count to a few parts in a thousand, whatever else the
machine does). So this is how a change to the hot path is judged before the
side-by-side harness (run.py) says what it is worth in requests/s. Kernel
work (TCP, epoll) is not counted: valgrind sees user space only.

The worker runs under ``valgrind --tool=callgrind`` (about 50x slower), gets a
short warm-up, then its counters are zeroed, wrk drives it over one
connection for ``--seconds`` (one request per event-loop turn, so the count
does not depend on how requests batch), and the counters are dumped. The
dump is kept (``--keep``) for ``callgrind_annotate``.
"""

from __future__ import annotations

import argparse
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

import procs
import wrk
from scenarios import SCENARIOS
from servers import fastsnake

DEFAULT = ("wsgi-hello", "asgi-hello")


def dump_total(folder: pathlib.Path, pid: int, before: set[pathlib.Path]) -> int:
    """The instruction total of the newest dump of ``pid`` (callgrind_control -d)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        dumps = set(folder.glob(f"callgrind.{pid}.*")) - before
        for path in dumps:
            found = re.search(r"^summary:\s+(\d+)", path.read_text(errors="replace"), re.M)
            if found:
                return int(found.group(1))
        time.sleep(0.2)
    raise RuntimeError(f"no callgrind dump of pid {pid} appeared")


def measure(name: str, seconds: float, keep: pathlib.Path | None) -> tuple[int, int]:
    """(requests, instructions) of one scenario's worker under load."""
    scenario = SCENARIOS[name]
    if scenario.websocket or scenario.shared_cpus:
        raise SystemExit(f"{name}: only HTTP scenarios with one worker can be counted")
    folder = pathlib.Path(tempfile.mkdtemp(prefix="fastsnake-instructions-"))
    port = procs.free_port()
    # wsgi-thread counts the thread runtime (the app on the WSGI pool).
    runtime = "thread" if "fastsnake-thread" in scenario.servers else ""
    launch = fastsnake(1, runtime)(sys.executable, scenario.app, port)
    for file_name, text in launch.files.items():
        (folder / file_name).write_text(text)
    argv = ["valgrind", "--tool=callgrind", "--trace-children=yes",
            f"--callgrind-out-file={folder}/callgrind.%p", *launch.argv]
    server = procs.RunningServer(argv, "0", folder, has_master=True)
    try:
        server.wait_ready(port, timeout=180)
        url = f"http://127.0.0.1:{port}{scenario.path}"
        script = scenario.script_path()
        wrk.run(wrk.command(url, connections=1, duration=3, script=script,
                            headers=scenario.headers), timeout=120)
        workers = server.workers()
        if len(workers) != 1:
            raise RuntimeError(f"expected one worker process, found {workers}")
        pid = workers[0]
        subprocess.run(["callgrind_control", "-z", str(pid)], check=True, capture_output=True)
        before = set(folder.glob(f"callgrind.{pid}.*"))
        load = wrk.run(wrk.command(url, connections=scenario.connections or 1,
                                   duration=seconds, script=script, headers=scenario.headers),
                       timeout=seconds + 120)
        subprocess.run(["callgrind_control", "-d", str(pid)], check=True, capture_output=True)
        total = dump_total(folder, pid, before)
        if keep is not None:
            for path in set(folder.glob(f"callgrind.{pid}.*")) - before:
                shutil.copy(path, keep / f"callgrind.{name}.{path.name.rsplit('.', 1)[-1]}")
        return load.requests, total
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", default=",".join(DEFAULT),
                        help="comma-separated HTTP scenarios (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="measured load per scenario (default 10)")
    parser.add_argument("--keep", type=pathlib.Path, metavar="DIR",
                        help="copy the callgrind dumps here, for callgrind_annotate")
    args = parser.parse_args(argv)
    for tool in ("valgrind", "callgrind_control", "wrk", "taskset"):
        if shutil.which(tool) is None:
            raise SystemExit(f"bench/instructions.py needs {tool} "
                             "(apt-get install -y valgrind wrk util-linux)")
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
    for name in args.scenarios.split(","):
        if name not in SCENARIOS:
            raise SystemExit(f"unknown scenario {name!r} (known: {', '.join(SCENARIOS)})")
        requests, total = measure(name, args.seconds, args.keep)
        if requests == 0:
            raise SystemExit(f"{name}: no request was answered")
        print(f"{name:16} {requests:>8,} requests  {total:>14,} instructions  "
              f"{total / requests:>9,.0f} per request", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
