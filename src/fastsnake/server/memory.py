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
"""

from __future__ import annotations

import ctypes
import gc
import os
import sys

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
