"""Soak fastsnake under a bounded mixed load and watch its workers' memory.

What it measures, and why: a leak that costs a few hundred bytes per request
or per aborted connection is invisible in the functional tests and in a
30-second benchmark, but over hours it grows a worker until the OOM killer
takes it. This script runs ONE real fastsnake (a subprocess, its own Caddyfile
in a temporary folder) with two listeners on free ports, one serving
tests/apps/wsgi_basic.py (WSGI) and one tests/apps/asgi_basic.py (ASGI), two
workers each, and drives a mixed load against 127.0.0.1 for --minutes:

  keepalive_get   several GET /hello on one connection
  new_conn_get    one GET /hello per connection (Connection: close)
  post_digest     POST of 64 KiB-2 MiB to /digest, checked against length+sha256
  stream          /stream (both apps) and WSGI /big?1048576, read to the end and checked
  abandoned       ASGI /endless or WSGI /big?50000000: read a little, then close
  ws_echo         WebSocket echo sessions (websockets sync client), clean close
  ws_drop         WebSocket handshake, maybe half a frame, then the socket is dropped
  raw_abort       raw sockets that disconnect mid-request (head, body, chunked; FIN or RST)

Every 10 s it samples VmRSS of every worker (the supervisor's children) and the
request counts. At the end it stops fastsnake with SIGTERM (the exit code must
be 0), prints RSS per worker over time, request and failure totals, whether RSS
stayed flat after warm-up (last vs. the value at 2 min, within --rss-bound), and
whether a Traceback appeared in the server log. Exit code 0 when all is well.

    python stress/soak.py [--minutes 10] [--workers 2] [--clients 6]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import os
import pathlib
import random
import socket
import struct
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.server import RunningServer, free_port  # noqa: E402
from websockets.sync.client import connect as ws_connect  # noqa: E402

APPS = REPO / "tests" / "apps"
SAMPLE_EVERY = 10.0
TIMEOUT = 30.0
BIG_BLOCK = bytes(range(256)) * 4096  # what WSGI /big sends, repeated

CADDYFILE = """
:{wsgi_port} {{
    python {{
        module_wsgi "wsgi_basic:app"
        working_dir "{apps}"
        workers {workers}
    }}
}}
:{asgi_port} {{
    python {{
        module_asgi "asgi_basic:app"
        working_dir "{apps}"
        workers {workers}
    }}
}}
"""


class Mismatch(Exception):
    """A response that arrived but was not the expected one."""


@dataclass
class Stats:
    """Counts of completed operations and failures per kind (thread-safe)."""

    ok: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def success(self, kind: str, count: int = 1) -> None:
        with self.lock:
            self.ok[kind] += count

    def failure(self, kind: str, error: BaseException) -> None:
        with self.lock:
            self.failed[kind] += 1
            if len(self.examples[kind]) < 3:
                self.examples[kind].append(f"{type(error).__name__}: {error}"[:200])

    def snapshot(self) -> tuple[int, int]:
        with self.lock:
            return sum(self.ok.values()), sum(self.failed.values())


@dataclass
class Sample:
    elapsed: float
    rss: dict[int, int]  # worker pid -> VmRSS KiB
    done: int
    failed: int
    sockets: Counter[str] = field(default_factory=Counter)


# --- load -------------------------------------------------------------------------


class Load:
    """One client thread's operations; each raises on a wrong answer."""

    def __init__(self, wsgi_port: int, asgi_port: int, seed: int) -> None:
        self.wsgi_port = wsgi_port
        self.asgi_port = asgi_port
        self.ports = (wsgi_port, asgi_port)
        self.rng = random.Random(seed)

    def conn(self, port: int) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)

    def keepalive_get(self) -> int:
        conn = self.conn(self.rng.choice(self.ports))
        count = self.rng.randint(5, 30)
        try:
            for _ in range(count):
                conn.request("GET", "/hello")
                response = conn.getresponse()
                body = response.read()
                if response.status != 200 or body != b"hello":
                    raise Mismatch(f"{response.status} {body[:60]!r}")
        finally:
            conn.close()
        return count

    def new_conn_get(self) -> int:
        conn = self.conn(self.rng.choice(self.ports))
        try:
            conn.request("GET", "/hello", headers={"Connection": "close"})
            response = conn.getresponse()
            body = response.read()
            if response.status != 200 or body != b"hello":
                raise Mismatch(f"{response.status} {body[:60]!r}")
        finally:
            conn.close()
        return 1

    def post_digest(self) -> int:
        size = self.rng.randint(64 * 1024, 2 * 1024 * 1024)
        data = self.rng.randbytes(size)
        expected = f"{size} {hashlib.sha256(data).hexdigest()}".encode()
        conn = self.conn(self.rng.choice(self.ports))
        try:
            conn.request("POST", "/digest", body=data,
                         headers={"Content-Type": "application/octet-stream"})
            response = conn.getresponse()
            body = response.read()
            if response.status != 200 or body != expected:
                raise Mismatch(f"{size} bytes: {response.status} {body[:80]!r}")
        finally:
            conn.close()
        return 1

    def stream(self) -> int:
        choice = self.rng.randrange(3)
        if choice == 0:
            port, path, expected = self.wsgi_port, "/stream", parts(10)
        elif choice == 1:
            count = self.rng.randint(1, 2000)
            port, path, expected = self.asgi_port, f"/stream?{count}", parts(count)
        else:
            port, path, expected = self.wsgi_port, "/big?1048576", BIG_BLOCK
        conn = self.conn(port)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            chunks = []
            while chunk := response.read(65536):
                chunks.append(chunk)
            body = b"".join(chunks)
            if response.status != 200 or body != expected:
                raise Mismatch(f"{path}: {response.status}, {len(body)} bytes "
                               f"(expected {len(expected)})")
        finally:
            conn.close()
        return 1

    def abandoned(self) -> int:
        if self.rng.random() < 0.5:
            port, path = self.asgi_port, "/endless"
        else:
            port, path = self.wsgi_port, "/big?50000000"
        conn = self.conn(port)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            wanted = self.rng.randint(1, 512 * 1024)
            got = 0
            while got < wanted:
                chunk = response.read(min(65536, wanted - got))
                if not chunk:
                    raise Mismatch(f"{path}: ended after {got} bytes")
                got += len(chunk)
            if response.status != 200:
                raise Mismatch(f"{path}: {response.status}")
        finally:
            if conn.sock is not None and self.rng.random() < 0.5:
                reset_on_close(conn.sock)
            conn.close()
        return 1

    def ws_echo(self) -> int:
        uri = f"ws://127.0.0.1:{self.asgi_port}/ws/echo"
        with ws_connect(uri, open_timeout=TIMEOUT, close_timeout=5,
                        max_size=4 * 1024 * 1024) as ws:
            for _ in range(self.rng.randint(1, 8)):
                message: str | bytes
                if self.rng.random() < 0.5:
                    message = f"text {self.rng.randrange(10**9)}"
                else:
                    message = self.rng.randbytes(self.rng.choice((1, 100, 4096, 200_000)))
                ws.send(message)
                echoed = ws.recv(timeout=TIMEOUT)
                if echoed != message:
                    raise Mismatch(f"echo of {len(message)} differs")
        return 1

    def ws_drop(self) -> int:
        """Handshake by hand, maybe send a message or half a frame, then drop."""
        sock = socket.create_connection(("127.0.0.1", self.asgi_port), timeout=TIMEOUT)
        try:
            key = base64.b64encode(os.urandom(16)).decode()
            sock.sendall((f"GET /ws/echo HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          f"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                          f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                          f"\r\n").encode())
            head = read_head(sock)
            if not head.startswith(b"HTTP/1.1 101"):
                raise Mismatch(f"handshake: {head[:60]!r}")
            frame = masked_frame(self.rng.randbytes(self.rng.choice((5, 1000, 70000))))
            action = self.rng.randrange(3)
            if action == 1:
                sock.sendall(frame)
            elif action == 2:
                sock.sendall(frame[: self.rng.randint(1, len(frame) - 1)])
            if self.rng.random() < 0.5:
                reset_on_close(sock)
        finally:
            sock.close()
        return 1

    def raw_abort(self) -> int:
        """Connect and leave mid-request (a partial head, body or chunk)."""
        sock = socket.create_connection(("127.0.0.1", self.rng.choice(self.ports)),
                                        timeout=TIMEOUT)
        try:
            shape = self.rng.randrange(4)
            if shape == 0:
                request = b"GET /hello HTTP/1.1\r\nHost: a\r\nX-Long: " + b"y" * 3000
                sock.sendall(request[: self.rng.randint(1, len(request))])
            elif shape == 1:
                sock.sendall(b"POST /digest HTTP/1.1\r\nHost: a\r\n"
                             b"Content-Length: 1000000\r\n\r\n"
                             + self.rng.randbytes(self.rng.randint(0, 300_000)))
            elif shape == 2:
                sock.sendall(b"POST /digest HTTP/1.1\r\nHost: a\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n10000\r\n"
                             + self.rng.randbytes(self.rng.randint(0, 0xFFFF)))
            else:
                sock.sendall(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\nGET /hel")
            if self.rng.random() < 0.5:
                reset_on_close(sock)
        finally:
            sock.close()
        return 1


def parts(count: int) -> bytes:
    return b"".join(b"part %d\n" % i for i in range(count))


def reset_on_close(sock: socket.socket) -> None:
    """Make close() send RST instead of FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def read_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def masked_frame(payload: bytes) -> bytes:
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        head = struct.pack("!BB", 0x82, 0x80 | length)
    elif length < 65536:
        head = struct.pack("!BBH", 0x82, 0x80 | 126, length)
    else:
        head = struct.pack("!BBQ", 0x82, 0x80 | 127, length)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


# weights: how often each operation is picked
MIX: dict[str, int] = {
    "keepalive_get": 20, "new_conn_get": 20, "post_digest": 8, "stream": 12,
    "abandoned": 8, "ws_echo": 12, "ws_drop": 6, "raw_abort": 10,
}


def client(load: Load, stats: Stats, deadline: float, kinds: list[str]) -> None:
    weights = [MIX[k] for k in kinds]
    operations: dict[str, Callable[[], int]] = {k: getattr(load, k) for k in kinds}
    while time.monotonic() < deadline:
        kind = load.rng.choices(kinds, weights)[0]
        try:
            stats.success(kind, operations[kind]())
        except Exception as error:  # every failure is counted, and a few shown
            stats.failure(kind, error)


# --- measurement --------------------------------------------------------------------


def rss_kib(pid: int) -> int | None:
    try:
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


TCP_STATES = {"01": "ESTABLISHED", "08": "CLOSE_WAIT", "04": "FIN_WAIT1", "05": "FIN_WAIT2",
              "06": "TIME_WAIT", "07": "CLOSE", "09": "LAST_ACK", "0B": "CLOSING"}


def server_sockets(ports: tuple[int, ...]) -> Counter[str]:
    """Server-side TCP connections on the given ports, by state. CLOSE_WAIT means
    the client has gone and the server has not closed its end (yet)."""
    states: Counter[str] = Counter()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = pathlib.Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if int(cols[1].rsplit(":", 1)[1], 16) in ports and cols[3] != "0A":
                states[TCP_STATES.get(cols[3], cols[3])] += 1
    return states


def close_wait_by_port(ports: tuple[int, ...]) -> dict[int, int]:
    counts = {port: 0 for port in ports}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = pathlib.Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            port = int(cols[1].rsplit(":", 1)[1], 16)
            if port in counts and cols[3] == "08":
                counts[port] += 1
    return counts


def listening_ports(pids: set[int]) -> dict[int, str]:
    """Which listening port each worker holds (via socket inodes), best effort."""
    inode_port: dict[str, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = pathlib.Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if cols[3] == "0A":  # LISTEN
                inode_port[cols[9]] = int(cols[1].rsplit(":", 1)[1], 16)
    found: dict[int, str] = {}
    for pid in pids:
        ports = set()
        try:
            for fd in pathlib.Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    port = inode_port.get(target[8:-1])
                    if port is not None:
                        ports.add(port)
        except OSError:
            pass
        found[pid] = ",".join(str(p) for p in sorted(ports)) or "?"
    return found


def sampler(server: RunningServer, stats: Stats, began: float, stop: threading.Event,
            samples: list[Sample], ports: tuple[int, ...]) -> None:
    next_minute = 60.0
    while True:
        pids = server.worker_pids() if server.proc.poll() is None else set()
        rss = {pid: value for pid in sorted(pids) if (value := rss_kib(pid)) is not None}
        done, failed = stats.snapshot()
        elapsed = time.monotonic() - began
        sockets = server_sockets(ports)
        samples.append(Sample(elapsed, rss, done, failed, sockets))
        if elapsed >= next_minute - 1:
            next_minute += 60
            total = sum(rss.values())
            print(f"  [{elapsed / 60:4.1f} min] {done} operations, {failed} failures, "
                  f"worker RSS total {total / 1024:.1f} MiB, server sockets "
                  f"{dict(sockets)}", flush=True)
        if stop.wait(SAMPLE_EVERY):
            return


def at(samples: list[Sample], pid: int, seconds: float) -> int | None:
    """The first sample of pid taken at or after seconds."""
    for sample in samples:
        if sample.elapsed >= seconds - 1 and pid in sample.rss:
            return sample.rss[pid]
    return None


def first_traceback(log: list[str]) -> str | None:
    for index, line in enumerate(log):
        if "Traceback" in line:
            block = [line]
            for following in log[index + 1:]:
                block.append(following)
                if not following.startswith((" ", "\t")):
                    break
            return "\n".join(block)
    return None


def fmt(kib: int | None) -> str:
    return "-" if kib is None else f"{kib / 1024:.1f}"


def report(samples: list[Sample], stats: Stats, ports: dict[int, str], minutes: float,
           bound: float, log: list[str], exit_code: int, stop_seconds: float) -> bool:
    pids = sorted({pid for sample in samples for pid in sample.rss})
    warm = min(120.0, minutes * 60 / 2)
    print("\nRSS per worker (MiB)")
    header = (f"{'worker':>8} {'port':>6} {'first':>7} {'1 min':>7} "
              f"{f'{warm / 60:g} min':>7} {'last':>7} {'max':>7} {'last-warm':>10}")
    print(header)
    print("-" * len(header))
    flat = True
    for pid in pids:
        values = [s.rss[pid] for s in samples if pid in s.rss]
        warm_value = at(samples, pid, warm)
        growth = ""
        if warm_value:
            ratio = (values[-1] - warm_value) / warm_value
            growth = f"{ratio * 100:+.1f} %"
            flat = flat and ratio < bound
        else:
            flat = False
        print(f"{pid:>8} {ports.get(pid, '?'):>6} {fmt(values[0]):>7} "
              f"{fmt(at(samples, pid, 60)):>7} {fmt(warm_value):>7} {fmt(values[-1]):>7} "
              f"{fmt(max(values)):>7} {growth:>10}")

    print("\nRSS per worker over time (MiB, one column a minute)")
    marks: list[Sample] = []
    for minute in range(int(minutes) + 1):
        mark = next((s for s in samples if s.elapsed >= minute * 60 - 1), None)
        if mark is not None and mark not in marks:
            marks.append(mark)
    if marks[-1] is not samples[-1]:
        marks.append(samples[-1])
    print(f"{'worker':>8} " + " ".join(f"{s.elapsed / 60:>6.1f}" for s in marks))
    for pid in pids:
        print(f"{pid:>8} " + " ".join(f"{fmt(s.rss.get(pid)):>6}" for s in marks))
    print(f"{'ESTAB':>8} " + " ".join(f"{s.sockets['ESTABLISHED']:>6}" for s in marks)
          + "   server-side connections")
    print(f"{'CL_WAIT':>8} " + " ".join(f"{s.sockets['CLOSE_WAIT']:>6}" for s in marks)
          + "   client gone, server end still open")

    print("\nOperations by kind (an operation is one request, or one WebSocket session, "
          "or one aborted connection)")
    print(f"{'kind':<15} {'ok':>8} {'failed':>7}")
    for kind in MIX:
        print(f"{kind:<15} {stats.ok[kind]:>8} {stats.failed[kind]:>7}")
    print(f"{'total':<15} {sum(stats.ok.values()):>8} {sum(stats.failed.values()):>7}")
    if stats.failed:
        print("\nFailures (up to 3 examples per kind)")
        for kind, examples in stats.examples.items():
            for example in examples:
                print(f"  {kind}: {example}")

    traceback = first_traceback(log)
    same_workers = all(set(s.rss) == set(samples[0].rss) for s in samples[:-1])
    print()
    print(f"server exit code after SIGTERM: {exit_code} (stopped in {stop_seconds:.1f} s)")
    if exit_code != 0:
        print("last server log lines:")
        print("\n".join("  " + line for line in log[-15:]))
    print(f"workers unchanged during the run: {'yes' if same_workers else 'NO'} "
          f"({len(samples[0].rss)} workers)")
    print(f"Traceback in server log: {'YES' if traceback else 'no'} "
          f"({len(log)} log lines)")
    if traceback:
        print(traceback)
    left_open = samples[-1].sockets["CLOSE_WAIT"]
    print(f"connections the clients had closed but the server still held 2 s after the "
          f"load: {left_open}")
    verdict = flat and exit_code == 0 and not traceback and same_workers and not left_open
    print(f"VERDICT: RSS {'flat' if flat else 'NOT flat'} after warm-up "
          f"(last vs {warm / 60:g} min within {bound * 100:g} % for every worker); "
          f"failures {sum(stats.failed.values())}; left open {left_open}; "
          f"{'PASS' if verdict and not stats.failed else 'FAIL'}")
    return verdict and not stats.failed


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2, help="workers per listener")
    parser.add_argument("--clients", type=int, default=6, help="client threads")
    parser.add_argument("--rss-bound", type=float, default=0.10,
                        help="allowed RSS growth after warm-up, as a fraction")
    parser.add_argument("--kinds", nargs="+", choices=list(MIX), default=list(MIX),
                        help="run only these operations (default: all)")
    args = parser.parse_args()

    wsgi_port = free_port()
    asgi_port = free_port()
    while asgi_port == wsgi_port:
        asgi_port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        caddyfile = pathlib.Path(folder) / "Caddyfile"
        caddyfile.write_text(CADDYFILE.format(wsgi_port=wsgi_port, asgi_port=asgi_port,
                                              apps=APPS, workers=args.workers))
        server = RunningServer(caddyfile, wsgi_port)
        try:
            for port in (wsgi_port, asgi_port):
                if server.wait_for_text(f"fastsnake: serving http://0.0.0.0:{port}") is None:
                    raise RuntimeError(f"fastsnake did not start:\n{server.log}")
            time.sleep(0.5)  # let every worker finish its start-up
            pids = server.worker_pids()
            ports = listening_ports(pids)
            print(f"fastsnake supervisor {server.proc.pid}; WSGI on {wsgi_port}, ASGI on "
                  f"{asgi_port}; workers {sorted(pids)}; {args.clients} client threads, "
                  f"{args.minutes:g} min", flush=True)
            stats = Stats()
            samples: list[Sample] = []
            stop = threading.Event()
            began = time.monotonic()
            deadline = began + args.minutes * 60
            watcher = threading.Thread(target=sampler,
                                       args=(server, stats, began, stop, samples,
                                             (wsgi_port, asgi_port)))
            watcher.start()
            threads = [threading.Thread(target=client, daemon=True,
                                        args=(Load(wsgi_port, asgi_port, seed), stats, deadline,
                                              args.kinds))
                       for seed in range(args.clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()) + TIMEOUT * 3)
            time.sleep(2)  # let the workers notice the last disconnects
            stop.set()
            watcher.join()
            # one last sample after the load, before stopping
            final = {pid: v for pid in sorted(server.worker_pids())
                     if (v := rss_kib(pid)) is not None}
            done, failed = stats.snapshot()
            sockets = server_sockets((wsgi_port, asgi_port))
            samples.append(Sample(time.monotonic() - began, final, done, failed, sockets))
            print(f"after the load (+2 s): server sockets by state {dict(sockets)}; "
                  f"CLOSE_WAIT by port {close_wait_by_port((wsgi_port, asgi_port))}",
                  flush=True)
        finally:
            stopping = time.monotonic()
            exit_code = server.stop(90)  # SIGTERM, then waits (the grace period is 30 s)
        with server.changed:
            log = list(server.lines)
    return 0 if report(samples, stats, ports, args.minutes, args.rss_bound, log,
                       exit_code, time.monotonic() - stopping) else 1


if __name__ == "__main__":
    sys.exit(main())
