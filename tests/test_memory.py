"""The glibc allocator tuning each worker applies (fastsnake.memory)."""

from __future__ import annotations

import ctypes
import sys

from fastsnake.memory import tune_malloc


def test_malloc_tuning_applies_and_respects_the_users_environment(monkeypatch):
    has_mallopt = sys.platform.startswith("linux") and hasattr(ctypes.CDLL(None), "mallopt")
    assert tune_malloc() is has_mallopt
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    assert tune_malloc() is False
