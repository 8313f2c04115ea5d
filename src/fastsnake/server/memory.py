"""Tuning the allocator and the garbage collector for a server's pattern.

Every read from a socket becomes a new bytes object of up to 256 KiB (uvloop's
read buffer), freed a moment later. glibc gives freed memory at the top of the
heap back to the kernel once more than M_TRIM_THRESHOLD (128 KiB, raised only
to twice the largest mmapped block freed) is free, so under upload load each
request grew the heap again and faulted its pages in afresh: a third of a
worker's time went to page faults. Keeping up to 32 MiB of free heap, and
serving blocks under 4 MiB from the heap, removes that; the memory stays
reusable by the process and peak RSS barely moves (measured in the note of the
bench issue).

A user's own MALLOC_TRIM_THRESHOLD_ / MALLOC_MMAP_THRESHOLD_ win, and other
C libraries (musl, macOS, Windows) are left alone.

The cyclic garbage collector, for its part, walks every tracked object in a
full collection: after the apps are imported that is the whole framework
(hundreds of thousands of objects for Django), re-examined again and again
although none of it is garbage. ``settle_after_startup`` moves everything that
exists once the apps have started into the permanent generation
(``gc.freeze``), so collections only look at what requests create. The
youngest generation is then collected every 20,000 net allocations instead of
700: a request allocates dozens of containers, nearly all freed by reference
counting, so the default had a collection run every few requests. Measured
on one pinned worker (ASGI hello over 256 connections): 81.6k -> 95-99k
req/s, p99 10.4 -> 3.2 ms; what waits for a collection is at most a few MB
of cyclic garbage.

The supervisor forks its workers, which then share its memory copy-on-write
until either side writes to a page. ``before_fork`` keeps that sharing: a
collection in the worker would write to the header of every tracked object
it inherited (and copy every such page), so what the supervisor holds is
frozen first, never to be walked again on either side; what the collector
and the config load freed is handed back to the kernel, so the worker does
not inherit it either.

Whether the supervisor also loads the workers' modules (the event loop, the
protocol, routing, apps) before forking depends on how many workers share
them (worker_start.share_worker_modules). RSS counts a page shared by two
processes in both, PSS splits it; PSS also moves with what else maps the same
libraries, so only numbers from one run compare. Measured with
bench/memory.py (hello app, Python 3.11, sums over the supervisor and its
workers, uvicorn in the same run: 30.8 MB RSS, 26.7 MB PSS):

                                          WSGI hello           ASGI hello
    workers 1, supervisor without them   46.4 RSS, 32.6 PSS   47.2 RSS, 33.5 PSS
    workers 1, supervisor with them      51.0 RSS, 30.3 PSS   52.1 RSS, 31.2 PSS
    workers 4, supervisor with them     121.2 RSS, 45.2 PSS  122.2 RSS, 46.3 PSS

(before a worker loaded features only when its Caddyfile uses them and
trimmed its heap after startup: 51.4/37.3 with one worker, 131.8/49.3 with
four.) Forking with os.fork and one pipe (forked.py) instead of
multiprocessing, whose pickle each worker ran for every message, measured on
a quiet machine (uvicorn in the same run: 30.8 RSS, 21.6 PSS):

                                          WSGI hello           ASGI hello
    workers 1, with multiprocessing      46.5 RSS, 27.7 PSS   47.5 RSS, 28.2 PSS
    workers 1, os.fork and a pipe        45.3 RSS, 27.1 PSS   46.3 RSS, 27.7 PSS
    workers 4, with multiprocessing     120.7 RSS, 40.5 PSS  122.0 RSS, 40.8 PSS
    workers 4, os.fork and a pipe       117.6 RSS, 38.0 PSS  119.1 RSS, 38.6 PSS
 With several workers, loading them first wins by both counts. With
one, RSS (what the issue and ``ps`` compare) favours a supervisor without
them, and so does the rule that a supervisor loads only what supervising
needs; PSS favours loading them: the lone worker, importing them itself,
writes into pages it shares with the supervisor (reference counts and other
fields of what its imports touch) and so copies about 6 MB of them, on
Python 3.12 as on 3.11: ``import ssl`` alone, which asyncio does, copies
3.4 MB, creating 40 small IntEnums 2.2 MB, while allocating 8 MB of new
objects copies 0.4 MB (filling pymalloc's or glibc's free slots before the
fork, so that the worker allocates in fresh pages, saved 0.3 MB at most).
Either way two interpreters cost more than uvicorn's one: a bare Python is
8.7 MB RSS, so the sum of RSS cannot reach it.

What is left is the Caddyfile load itself. The worker copies every shared
page it writes, and on Python 3.11 running a function writes to its code
object (the specialising interpreter's counters), so what the worker runs
of the supervisor's modules costs twice. A fork experiment (supervisor's
modules before the fork, the worker's after) gave 29.6 MB PSS; the same
modules all imported after the fork, by the worker alone, 24.8. A prototype
of a supervisor that never loads the Caddyfile (bench/memory_prototype.py: a
short-lived child loads it and hands over the pickled Config, which the
worker unpickles) measured 40.3 RSS, 25.7 PSS against 45.4 RSS, 28.1 PSS in
the same run (WSGI hello; its supervisor 13.1/6.6, its worker 27.2/19.0).
Not done yet: the supervisor would then work from plain facts (addresses,
worker counts, folders, timeouts) instead of the Config, and do every
reload through such a child.

``settle_after_startup`` ends with ``malloc_trim``: the worker's startup
(compiling, importing, the first collection) leaves free heap that the
32 MiB trim threshold above would otherwise keep for good (1.5 MB).

Serving blocks under 4 MiB from the heap has a price under large messages:
a freed block in the middle of the heap is never given back by the trim
threshold (it only cuts the top), so after WebSocket messages and bodies of
a few MiB a worker kept growing (WebSocket echo of messages up to 2 MiB: 36
-> 73 MB over two runs, 24 MB of it free heap). ``give_back_free_heap``,
called by the worker every 30 s, gives the free pages in the middle back
(malloc_trim madvises them) once 16 MiB more lie there, and the warm top too
when the worker served nothing in those 30 s.
"""

from __future__ import annotations

import ctypes
import gc
import os
import sys
from typing import Any

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
TRIM_THRESHOLD = 32 * 1024 * 1024
MMAP_THRESHOLD = 4 * 1024 * 1024
YOUNG_THRESHOLD = 20_000


def tune_malloc() -> bool:
    """Set the thresholds in this process; True if they were set."""
    if not sys.platform.startswith("linux"):
        return False
    if "MALLOC_TRIM_THRESHOLD_" in os.environ or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False  # not glibc
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
                and mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))


def settle_after_startup() -> None:
    """Once the apps are imported and started: collect what startup left,
    then keep the rest out of every later collection."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, 20, 20)
    trim_heap()


def before_fork() -> None:
    """In the supervisor, before each fork: collect the garbage made since the
    last fork, freeze the rest, and give free heap pages back to the kernel."""
    gc.collect()
    # Never unfrozen: a later collection here would walk (and so copy) the
    # pages now shared with the workers. What is frozen is what was alive
    # at a fork; garbage only reference counting cannot free waits for ever,
    # and the supervisor makes little of it (a few objects per reload).
    gc.freeze()
    trim_heap()


# Free heap in the middle (not at the top) worth a malloc_trim.
FRAGMENTED_BYTES = 16 * 1024 * 1024
# Free heap at the top an idle worker gives back.
IDLE_TOP_BYTES = 1024 * 1024


class MallInfo2(ctypes.Structure):
    # glibc's struct mallinfo2 (2.33+): every field a size_t.
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]


_mallinfo2: Any = None  # looked up once: each ctypes lookup leaves a cycle behind


def heap_free() -> tuple[int, int] | None:
    """(bytes free below the heap's top chunk, bytes free at the top), or
    None where glibc's mallinfo2 is missing."""
    global _mallinfo2
    if _mallinfo2 is None:
        if not sys.platform.startswith("linux"):
            return None
        try:
            _mallinfo2 = ctypes.CDLL(None).mallinfo2
        except (OSError, AttributeError):
            return None  # not glibc, or older than 2.33
        _mallinfo2.restype = MallInfo2
    info = _mallinfo2()
    return int(info.fordblks - info.keepcost), int(info.keepcost)


# What was free in the middle after the last trim: mallinfo2 still counts
# pages given back as free (they are free chunks, only not resident), so
# only what was freed since then is news.
_free_after_trim = 0


def give_back_free_heap(idle: bool) -> bool:
    """Called every 30 s by a worker: give back the free pages in the heap's
    middle when many were freed since the last time, and, when the worker
    served nothing since the last call, the warm free top too (kept under
    load so that bodies do not fault pages in afresh; an idle worker has no
    use for it). True if it trimmed. mallinfo2 walks the free lists only."""
    global _free_after_trim
    free = heap_free()
    if free is None:
        return False
    middle, top = free
    _free_after_trim = min(_free_after_trim, middle)  # the allocator reused some
    if idle and top >= IDLE_TOP_BYTES:
        _free_after_trim = middle
        return trim_heap(0)
    if middle - _free_after_trim >= FRAGMENTED_BYTES:
        _free_after_trim = middle
        return trim_heap(TRIM_THRESHOLD)
    return False


class HeapKeeper:
    """give_back_free_heap on a serving process's tick: every ``every`` ticks
    (a worker's and a tenant's tick is 0.5 s: every 30 s), idle when no
    request was served in between. The count comes from the caller, as this
    module is the supervisor's too and loads no protocol."""

    def __init__(self, every: int = 60) -> None:
        self.every = every
        self.ticks = 0
        self.served = 0

    def tick(self, served: int) -> None:
        self.ticks += 1
        if self.ticks % self.every == 0:
            give_back_free_heap(idle=served == self.served)
            self.served = served


def trim_heap(keep_at_top: int = 0) -> bool:
    """glibc's malloc_trim: release the free pages in the whole heap, not
    only at its top (madvise), keeping keep_at_top bytes there. True if it ran."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        malloc_trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return False  # not glibc
    malloc_trim.argtypes = (ctypes.c_size_t,)
    malloc_trim(keep_at_top)
    return True
