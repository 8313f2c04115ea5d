"""Tuning glibc's allocator for a server's allocation pattern.

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
"""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
TRIM_THRESHOLD = 32 * 1024 * 1024
MMAP_THRESHOLD = 4 * 1024 * 1024


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
