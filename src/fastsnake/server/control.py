"""Reaching a running server: ``fastsnake reload`` and ``fastsnake stop``.

Caddy's commands talk to its admin API. fastsnake has no admin API (an HTTP
endpoint that can replace the config is one more thing to secure); instead
the supervisor of a running server writes its pid in a control file named
after its Caddyfile's absolute path, in a folder only its user can write
(``$XDG_RUNTIME_DIR``, else a 0700 folder of the user's in the temp
folder). ``reload`` checks the Caddyfile, then sends SIGHUP (re-read it,
replace the workers without dropping a connection); ``stop`` sends SIGTERM
(drain within the grace period) and waits for the server to exit. The
global ``admin off`` keeps its meaning: no control file, so neither command
can reach that server.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import time
import zlib

from fastsnake.errors import FatalError


def control_folder() -> str:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return runtime
    folder = os.path.join(tempfile.gettempdir(), f"fastsnake-{os.getuid()}")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    info = os.lstat(folder)
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise FatalError(f"{folder} is not a private folder of this user: refusing to use it "
                         "for the control file")
    return folder


def control_file(caddyfile: str) -> str:
    """The control file of the server that runs ``caddyfile``."""
    # Two 32-bit checksums, not a cryptographic hash: the name only has to
    # tell Caddyfiles apart, and hashlib would load OpenSSL's libcrypto into
    # the supervisor (about 3 MB of RSS) for it.
    path = os.path.abspath(caddyfile).encode("utf-8", "surrogateescape")
    name = f"{zlib.crc32(path):08x}{zlib.adler32(path):08x}"
    return os.path.join(control_folder(), f"fastsnake-{name}.pid")


@contextlib.contextmanager
def published(caddyfile: str) -> object:
    """Write this process's pid for ``reload``/``stop`` while the block runs."""
    path = control_file(caddyfile)
    with open(path, "w", encoding="ascii") as f:
        f.write(f"{os.getpid()}\n")
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):
            with open(path, encoding="ascii") as f:
                mine = f.read().strip() == str(os.getpid())
            if mine:  # a later server on the same Caddyfile may have taken it over
                os.unlink(path)


def running_pid(caddyfile: str) -> int:
    """The pid of the server running ``caddyfile``; FatalError if none is."""
    path = control_file(caddyfile)
    try:
        with open(path, encoding="ascii") as f:
            pid = int(f.read().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        raise FatalError(f"no fastsnake is running {os.path.abspath(caddyfile)} (no live "
                         f"control file {path}; a server with 'admin off' writes none)") from None
    return pid


def alive(pid: int) -> bool:
    """Whether ``pid`` still runs: an exited process its parent has not yet
    reaped (a zombie) has stopped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc here: it answered kill(0)


def reload(caddyfile: str) -> int:
    pid = running_pid(caddyfile)
    os.kill(pid, signal.SIGHUP)
    return pid


def stop(caddyfile: str, wait: float = 60.0) -> int:
    pid = running_pid(caddyfile)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if not alive(pid):
            return pid
        time.sleep(0.05)
    raise FatalError(f"fastsnake (pid {pid}) did not stop within {wait:.0f}s")
