"""Smoke test for an installed fastsnake wheel.

Run it with the interpreter the wheel was installed into, from any folder
outside the source tree (cibuildwheel's test-command and wheels/build_linux.sh
do). It checks that the compiled extensions import, then writes a WSGI app and
a Caddyfile on a free port into a temporary folder, starts
``python -m fastsnake`` on it, waits for the ``fastsnake: serving`` line on
stderr, makes one request with urllib, checks the body, and stops the server
with SIGTERM (on Windows, which has none: terminate), which must end it
within the grace period. Any failure exits 1 with a line starting
``SMOKE TEST FAILED`` and the server's log.
"""

from __future__ import annotations

import importlib
import os
import pathlib
import secrets
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import urllib.request
from importlib.machinery import EXTENSION_SUFFIXES

BANNER = "fastsnake: serving"
EXTENSIONS = ("fastsnake._exchange", "fastsnake._http", "fastsnake._wsgi", "fastsnake._asgi",
              "fastsnake._websocket", "fastsnake._respond")
START_TIMEOUT = 60.0   # generous: first start on a slow CI runner imports a lot
REQUEST_TIMEOUT = 15.0
STOP_TIMEOUT = 30.0    # grace_period below is 5s; the rest is slack

APP = '''\
def app(environ, start_response):
    token = environ.get("QUERY_STRING", "").partition("token=")[2]
    body = ("smoke ok " + token + "\\n").encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
'''

CADDYFILE = '''\
{{
	grace_period 5s
}}

:{port} {{
	python {{
		module_wsgi "smoke_app:app"
		working_dir .
		workers {workers}
	}}
}}
'''


class SmokeFailure(Exception):
    pass


def say(message: str) -> None:
    print(f"smoke: {message}", flush=True)


def free_port() -> int:
    # The server binds every interface (":port"), so probe the same way.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        port: int = sock.getsockname()[1]
        return port


def check_installed() -> None:
    try:
        import fastsnake
    except ImportError as exc:
        raise SmokeFailure(f"cannot import fastsnake with {sys.executable}: {exc}") from exc

    package_dir = pathlib.Path(fastsnake.__file__).resolve().parent
    say(f"fastsnake {fastsnake.__version__} from {package_dir}")
    if any(package_dir.glob("*.pyx")):
        raise SmokeFailure(f"fastsnake was imported from a source tree ({package_dir} holds "
                           ".pyx files), not from an installed wheel; run this script from "
                           "a folder outside the repository")
    # Every compiled module the wheel ships, and at least the four named above.
    found = {f"fastsnake.{path.name.partition('.')[0]}" for path in package_dir.iterdir()
             if any(path.name.endswith(suffix) for suffix in EXTENSION_SUFFIXES)}
    missing = sorted(set(EXTENSIONS) - found)
    if missing:
        raise SmokeFailure(f"the installed package lacks the compiled modules {missing}")
    for name in sorted(found):
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise SmokeFailure(f"cannot import the compiled module {name}: {exc}") from exc
        say(f"imported {name} ({pathlib.Path(module.__file__ or '?').name})")
    watchdog = package_dir / "fastsnake-watchdog"  # supervisor watchdog's program
    if sys.platform != "win32" and not os.access(watchdog, os.X_OK):
        raise SmokeFailure(f"the installed package lacks the program {watchdog}")
    check_console_script(fastsnake.__version__)
    if sysconfig.get_config_var("Py_GIL_DISABLED"):
        gil = sys._is_gil_enabled()  # type: ignore[attr-defined]
        say(f"free-threaded interpreter; GIL {'enabled' if gil else 'disabled'} "
            "after importing the extensions")


def check_console_script(version: str) -> None:
    """The `fastsnake` entry point the wheel installs next to this Python."""
    scripts = pathlib.Path(sysconfig.get_path("scripts"))
    names = ("fastsnake.exe", "fastsnake") if sys.platform == "win32" else ("fastsnake",)
    script = next((scripts / n for n in names if (scripts / n).is_file()), None)
    if script is None:
        raise SmokeFailure(f"no fastsnake console script in {scripts}")
    result = subprocess.run([str(script), "version"], capture_output=True, text=True,
                            timeout=60, stdin=subprocess.DEVNULL)
    if result.returncode != 0 or version not in result.stdout:
        raise SmokeFailure(f"'{script} version' exited {result.returncode}: "
                           f"{(result.stdout + result.stderr).strip()!r}")
    say(f"console script: {script.name} version -> {result.stdout.strip()}")


class Server:
    """python -m fastsnake in a subprocess, its stderr collected by a thread."""

    def __init__(self, caddyfile: pathlib.Path) -> None:
        self.lines: list[str] = []
        self.changed = threading.Condition()
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fastsnake", str(caddyfile)],
            cwd=str(caddyfile.parent), env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace")
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()

    def read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self.changed:
                self.lines.append(line.rstrip("\n"))
                self.changed.notify_all()
        with self.changed:
            self.lines.append("<stderr closed>")
            self.changed.notify_all()

    def wait_banner(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for line in self.lines:
                    if line.startswith(BANNER):
                        return line
                if self.lines and self.lines[-1] == "<stderr closed>":
                    self.proc.wait(5)
                    raise SmokeFailure(f"the server exited with code {self.proc.returncode} "
                                       f"before printing '{BANNER}'")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SmokeFailure(f"no '{BANNER}' line on stderr within {timeout:.0f}s")
                self.changed.wait(left)

    def stop(self) -> int:
        if sys.platform == "win32":
            # No SIGTERM here: terminate the server and any worker process
            # it started (taskkill /T), or the server alone if that fails.
            try:
                subprocess.run(["taskkill", "/T", "/F", "/PID", str(self.proc.pid)],
                               capture_output=True, check=False, timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                pass
            if self.proc.poll() is None:
                self.proc.terminate()
        else:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            raise SmokeFailure(f"the server did not exit within {STOP_TIMEOUT:.0f}s "
                               "of SIGTERM; killed it") from None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    @property
    def log(self) -> str:
        self.reader.join(5)
        with self.changed:
            return "\n".join("  | " + line for line in self.lines) or "  | (nothing)"


def run(folder: pathlib.Path) -> None:
    check_installed()
    port = free_port()
    # Windows has only the thread runtime (one process); elsewhere two
    # worker processes, as in examples/hello.
    workers = 1 if sys.platform == "win32" else 2
    (folder / "smoke_app.py").write_text(APP, encoding="utf-8")
    caddyfile = folder / "Caddyfile"
    caddyfile.write_text(CADDYFILE.format(port=port, workers=workers), encoding="utf-8")
    say(f"starting python -m fastsnake on :{port} ({workers} worker(s))")

    server = Server(caddyfile)
    try:
        try:
            say(f"ready: {server.wait_banner(START_TIMEOUT)}")
            token = secrets.token_hex(8)
            url = f"http://127.0.0.1:{port}/smoke?token={token}"
            try:
                with urllib.request.urlopen(url, timeout=REQUEST_TIMEOUT) as response:
                    status, body = response.status, response.read()
                    server_header = response.headers.get("Server")
            except OSError as exc:
                raise SmokeFailure(f"GET {url} failed: {exc}") from exc
            expected = f"smoke ok {token}\n".encode()
            if status != 200 or body != expected:
                raise SmokeFailure(f"GET {url} answered {status} {body!r}; "
                                   f"expected 200 {expected!r}")
            if server_header != "fastsnake":
                raise SmokeFailure(f"Server header is {server_header!r}, expected 'fastsnake'")
            say(f"GET /smoke -> {status} {body!r} (Server: {server_header})")
            code = server.stop()
            if sys.platform != "win32" and code != 0:
                raise SmokeFailure(f"the server exited with code {code} after SIGTERM, "
                                   "expected 0")
            say(f"stopped with {'taskkill/terminate' if sys.platform == 'win32' else 'SIGTERM'}, "
                f"exit code {code}")
        except SmokeFailure:
            server.kill()
            print(f"server log:\n{server.log}", file=sys.stderr)
            raise
    finally:
        server.kill()
    print(f"server log:\n{server.log}")


def main() -> int:
    say(f"Python {sys.version.split()[0]} ({sys.executable}) on {sys.platform}")
    try:
        with tempfile.TemporaryDirectory(prefix="fastsnake-smoke-",
                                         ignore_cleanup_errors=True) as tmp:
            run(pathlib.Path(tmp))
    except SmokeFailure as exc:
        print(f"SMOKE TEST FAILED: {exc}", file=sys.stderr, flush=True)
        return 1
    say("passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
