"""Run wrk and read its report (``--latency`` output, units us/ms/s/m/h)."""

from __future__ import annotations

import re
import resource
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field

TIME_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
TIME = r"([\d.]+)(us|ms|s|m|h)"


@dataclass
class LoadResult:
    """What one load run measured (wrk, or wsload for WebSocket: messages as requests)."""

    requests: int
    seconds: float
    rate: float
    p50_ms: float | None
    p99_ms: float | None
    non_2xx: int = 0
    socket_errors: dict[str, int] = field(default_factory=dict)
    client_cpu: float | None = None  # the load generator's CPU, in cores


def to_ms(number: str, unit: str) -> float:
    return float(number) * TIME_UNITS[unit]


def parse(text: str) -> LoadResult:
    """Read wrk's summary; raises ValueError if it has none."""
    total = re.search(r"(\d+) requests in " + TIME, text)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if total is None or rate is None:
        raise ValueError(f"no wrk summary in output:\n{text}")
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+(?:us|ms|s|m|h))\s*$", text, re.M))
    percent = {}
    for key, value in latency.items():
        match = re.fullmatch(TIME, value)
        assert match is not None
        percent[key] = to_ms(match.group(1), match.group(2))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       text)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return LoadResult(
        requests=int(total.group(1)),
        seconds=to_ms(total.group(2), total.group(3)) / 1000,
        rate=float(rate.group(1)),
        p50_ms=percent.get("50"),
        p99_ms=percent.get("99"),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=dict(zip(("connect", "read", "write", "timeout"),
                               map(int, errors.groups()), strict=True)) if errors else {},
    )


def command(url: str, *, connections: int, duration: float, threads: int = 1,
            script: str | None = None, cpus: str = "1",
            headers: tuple[str, ...] = ()) -> list[str]:
    argv = ["taskset", "-c", cpus, "wrk", f"-t{threads}", f"-c{connections}",
            f"-d{max(1, round(duration))}s", "--latency"]
    for header in headers:
        argv += ["-H", header]
    if script:
        argv += ["-s", script]
    return [*argv, url]


def run(argv: list[str], timeout: float,
        read: Callable[[str], LoadResult] = parse) -> LoadResult:
    """Run a load generator (``taskset -c N tool ...``) and ``read`` its
    report; its CPU time comes from the children's rusage."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{argv[3]} exited {done.returncode}: {done.stderr.strip()}")
    result = read(done.stdout)
    used = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    result.client_cpu = used / result.seconds if result.seconds else None
    return result


def version() -> str:
    done = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10)
    return (done.stdout + done.stderr).strip().splitlines()[0]
