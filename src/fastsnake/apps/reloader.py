"""Watching app folders for Python source changes (watchfiles).

A DirectoryWatcher runs watchfiles in a background thread over a set of
folders and reports, debounced over a 500 ms window, which of those folders
saw a ``.py`` file written, created, removed or renamed. Hidden folders,
``__pycache__`` and ``node_modules`` are ignored. What to do about a change
(swap an app in-process, evict dynamic apps, roll the workers) is the
caller's business: this module only detects.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable

log = logging.getLogger("fastsnake.reloader")
# watchfiles logs every batch at INFO; our own line says what matters.
logging.getLogger("watchfiles").setLevel(logging.WARNING)

DEBOUNCE_MS = 500
WATCH_START_TIMEOUT = 5.0
IGNORED_FOLDERS = frozenset({"__pycache__", "node_modules"})


def is_python_source_change(change: object, path: str) -> bool:
    """watchfiles filter: .py files outside ``__pycache__`` and ``node_modules``."""
    return path.endswith(".py") and not any(
        part in IGNORED_FOLDERS for part in path.split(os.sep)[:-1])


def folders_of(paths: Iterable[str], folders: Iterable[str]) -> set[str]:
    """Which watched folders contain any of the changed paths, not counting
    paths inside a hidden folder below the watched one."""
    hit = set()
    for folder in folders:
        prefix = folder.rstrip(os.sep) + os.sep
        for path in paths:
            if path.startswith(prefix):
                inner = path[len(prefix):].split(os.sep)[:-1]
                if not any(part.startswith(".") for part in inner):
                    hit.add(folder)
                    break
    return hit


class DirectoryWatcher:
    """Calls ``on_change(folders)`` from its own thread after each debounced
    batch of Python source changes under the watched folders."""

    def __init__(self, on_change: Callable[[set[str]], None]) -> None:
        self.on_change = on_change
        self.folders: set[str] = set()
        self.lock = threading.Lock()
        self.stop_event: threading.Event | None = None
        self.thread: threading.Thread | None = None
        self.watching = threading.Event()

    def watch(self, folder: str) -> None:
        folder = os.path.realpath(folder)
        with self.lock:
            if folder in self.folders:
                return
            self.folders.add(folder)
        self.restart()

    def restart(self) -> None:
        # watchfiles fixes its paths when it starts: restart it with the new set.
        self.stop()
        with self.lock:
            folders = sorted(self.folders)
        if not folders:
            return
        stop_event = threading.Event()
        self.stop_event = stop_event
        self.watching.clear()
        self.thread = threading.Thread(target=self.run, args=(folders, stop_event),
                                       name="fastsnake-reloader", daemon=True)
        self.thread.start()
        # Return once watchfiles watches, so no edit made after this is missed.
        if not self.watching.wait(WATCH_START_TIMEOUT):
            log.warning("the file watcher is slow to start")

    def run(self, folders: list[str], stop_event: threading.Event) -> None:
        import watchfiles

        try:
            for changes in watchfiles.watch(*folders, watch_filter=is_python_source_change,
                                            debounce=DEBOUNCE_MS, step=50, rust_timeout=50,
                                            yield_on_timeout=True, stop_event=stop_event,
                                            raise_interrupt=False):
                # The first (possibly empty) batch means the watch is set up.
                self.watching.set()
                if not changes:
                    continue
                paths = {os.path.realpath(path) for _, path in changes}
                hit = folders_of(paths, folders)
                if hit:
                    log.info("change in %s: reloading", ", ".join(sorted(hit)))
                    self.on_change(hit)
        except Exception:
            log.exception("the file watcher stopped")

    def stop(self) -> None:
        if self.stop_event is not None:
            self.stop_event.set()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout=5)
        self.stop_event = None
        self.thread = None
