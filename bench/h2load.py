"""Run h2load (nghttp2's load generator, over HTTP/1.1) and read its report.

The harness's second load generator: ``run.py --load-generator h2load`` runs
the same servers and scenarios under a client written apart from wrk, to check
that the table is not an artifact of one client. h2load reports the mean and
spread of request times, not percentiles, so p50 and p99 stay empty; it cannot
run wrk's Lua scripts, so the scenarios that need one (POST bodies, Connection:
close) have no h2load form.
"""

from __future__ import annotations

import re
import subprocess

import wrk
from wrk import TIME, LoadResult, to_ms


def parse(text: str) -> LoadResult:
    """Read h2load's summary; raises ValueError if it has none."""
    finished = re.search(r"finished in " + TIME + r", ([\d.]+) req/s", text)
    counts = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, "
                       r"(\d+) failed, (\d+) errored, (\d+) timeout", text)
    statuses = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text)
    if finished is None or counts is None or statuses is None:
        raise ValueError(f"no h2load summary in output:\n{text}")
    done = int(counts.group(2))
    # (Counted from the status codes: "done" excludes responses h2load saw
    # after its timed window closed, so done - 2xx can come out negative.)
    other = sum(int(statuses.group(k)) for k in (2, 3, 4))
    return LoadResult(
        requests=done,
        seconds=to_ms(finished.group(1), finished.group(2)) / 1000,
        rate=float(finished.group(3)),
        p50_ms=None,
        p99_ms=None,
        non_2xx=other,
        socket_errors={"failed": int(counts.group(4)), "errored": int(counts.group(5)),
                       "timeout": int(counts.group(6))},
    )


def command(url: str, *, connections: int, duration: float, threads: int = 1,
            cpus: str = "1", headers: tuple[str, ...] = ()) -> list[str]:
    # -m1: one request in flight per connection, as wrk keeps it.
    extra = [arg for header in headers for arg in ("-H", header)]
    return ["taskset", "-c", cpus, "h2load", "--h1", f"-t{threads}", f"-c{connections}",
            "-m1", f"-D{max(1, round(duration))}", *extra, url]


def run(argv: list[str], timeout: float) -> LoadResult:
    return wrk.run(argv, timeout, read=parse)


def version() -> str:
    done = subprocess.run(["h2load", "--version"], capture_output=True, text=True, timeout=10)
    return (done.stdout + done.stderr).strip().splitlines()[0]
