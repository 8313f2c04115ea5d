"""Reloading a server that runs in one process (``supervisor off``): the
process replaces itself, and no connection is refused.

With no supervisor to start new workers beside the old ones, SIGHUP (and
``fastsnake reload``) is carried out by the process itself:

1. the Caddyfile is read again, and its apps are imported in a throw-away
   interpreter (``python -m fastsnake.server.handover``, the Config on its
   stdin): a Caddyfile or an app that does not load is logged and the
   running configuration keeps serving, as under a supervisor;
2. the listeners stop accepting and drain (requests in flight finish within
   the grace period), but their listening sockets stay open: a client that
   connects meanwhile waits in the kernel's queue;
3. the process execs its own command line again. The listening sockets
   cross the exec (their numbers in FASTSNAKE_HANDOVER); the new image
   adopts those whose address is still in the Caddyfile and closes the
   others.

Clients that connect between 2 and the new image's first accept wait for
the apps to import, but none is refused. A failure only the new image can
meet (a lifespan startup that fails) ends the server, as at a start.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import sys
from typing import NoReturn

from fastsnake.apps.loader import AppLoader
from fastsnake.config.model import Config
from fastsnake.server.plan import is_dynamic

log = logging.getLogger("fastsnake.reload")

ENV = "FASTSNAKE_HANDOVER"
CHECK_TIMEOUT = 120.0  # the longest a throw-away import of the apps may take

Address = tuple[str, int]


def take_inherited() -> dict[Address, socket.socket]:
    """The listening sockets a previous image of this process handed over
    (none on a plain start); the variable is consumed."""
    text = os.environ.pop(ENV, "")
    if not text:
        return {}
    sockets = {}
    for host, port, fd in json.loads(text):
        sock = socket.socket(fileno=fd)
        sock.set_inheritable(False)
        sock.setblocking(False)
        sockets[(host, port)] = sock
    return sockets


def close_inherited() -> None:
    """A handover the new image will not use (it starts a supervisor): its
    sockets would keep the ports taken."""
    for sock in take_inherited().values():
        sock.close()


def exec_again(sockets: dict[Address, socket.socket], start_dir: str) -> NoReturn:
    """Replace this process with a new run of its own command line, handing
    over ``sockets`` (the listening sockets, still open and queueing)."""
    os.chdir(start_dir)  # the apps moved to their working_dir; argv may be relative
    exec_command([sys.executable, *sys.orig_argv[1:]], sockets)


def exec_command(argv: list[str], sockets: dict[Address, socket.socket]) -> NoReturn:
    """Replace this process with ``argv``, handing over ``sockets``."""
    for sock in sockets.values():
        sock.set_inheritable(True)
    os.environ[ENV] = json.dumps([[host, port, sock.fileno()]
                                  for (host, port), sock in sockets.items()])
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)


async def check_apps(config: Config) -> str | None:
    """Import ``config``'s apps in a separate interpreter: None when they
    all import, else why not (the child's last lines)."""
    import pickle  # only here: a reload is rare, a single-process server counts its MB

    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fastsnake.server.handover",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    try:
        _, errors = await asyncio.wait_for(child.communicate(pickle.dumps(config)),
                                           CHECK_TIMEOUT)
    except asyncio.TimeoutError:
        child.kill()
        await child.wait()
        return f"importing the apps took more than {CHECK_TIMEOUT:.0f}s"
    if child.returncode == 0:
        return None
    lines = errors.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else f"the app check exited with code {child.returncode}"


def import_apps(config: Config) -> None:
    """The throw-away interpreter's job: import every app that is not chosen
    per request (those import on their first request, wherever they run)."""
    loader = AppLoader()
    for listener in config.listeners:
        for app in listener.apps:
            if not is_dynamic(app):
                loader.load(app)


def main() -> int:
    import pickle

    config = pickle.loads(sys.stdin.buffer.read())
    try:
        import_apps(config)
    except Exception as exc:  # whatever the app raises: reported, the old config stays
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
