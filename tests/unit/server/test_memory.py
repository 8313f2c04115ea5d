"""The glibc allocator tuning each worker applies (fastsnake.server.memory)."""

from __future__ import annotations

import ctypes
import json
import sys

from fastsnake.server.memory import tune_malloc


def test_malloc_tuning_applies_and_respects_the_users_environment(monkeypatch):
    has_mallopt = sys.platform.startswith("linux") and hasattr(ctypes.CDLL(None), "mallopt")
    assert tune_malloc() is has_mallopt
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    assert tune_malloc() is False


def test_startup_objects_are_frozen_out_of_later_collections():
    # In a child interpreter: freezing the test runner's own heap would change
    # how the rest of the suite collects.
    import subprocess

    code = ("import gc, json; from fastsnake.server.memory import settle_after_startup, "
            "YOUNG_THRESHOLD; before = gc.get_freeze_count(); settle_after_startup(); "
            "print(json.dumps([before, gc.get_freeze_count(), gc.get_threshold()[0], "
            "YOUNG_THRESHOLD]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    before, after, young, expected = json.loads(out)
    # (3.12+ may start with a few objects frozen already.)
    assert after > before + 1000
    assert young == expected


def test_before_fork_collects_garbage_then_freezes_the_rest():
    # In a child interpreter, as above. A cycle dropped before the fork is
    # collected, not frozen for ever; what is alive is frozen.
    import subprocess

    code = ("import gc, json, weakref\n"
            "from fastsnake.server.memory import before_fork, trim_heap\n"
            "class Node: pass\n"
            "kept, dropped = Node(), Node()\n"
            "dropped.me = dropped\n"
            "gone = weakref.ref(dropped)\n"
            "del dropped\n"
            "before_fork()\n"
            "print(json.dumps([gone() is None, gc.get_freeze_count(), trim_heap()]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    collected, frozen, trimmed = json.loads(out)
    assert collected
    assert frozen > 1000
    has_trim = sys.platform.startswith("linux") and hasattr(ctypes.CDLL(None), "malloc_trim")
    assert trimmed is has_trim


def test_free_heap_in_the_middle_is_given_back():
    # In a child interpreter with the workers' thresholds: blocks of 1 MiB
    # come from the heap, and freeing every other one leaves holes that the
    # trim threshold (the top only) never returns; give_back_free_heap does.
    import subprocess

    code = ("import json\n"
            "from fastsnake.server.memory import tune_malloc, heap_free, give_back_free_heap\n"
            "def rss():\n"
            "    for line in open('/proc/self/status'):\n"
            "        if line.startswith('VmRSS'):\n"
            "            return int(line.split()[1]) * 1024\n"
            "tune_malloc()\n"
            "blocks = [b\"x\" * (1024 * 1024 - 64 - i) for i in range(96)]  # pages touched\n"
            "del blocks[::2]\n"
            "free = heap_free()\n"
            "holes, before = (free[0] if free else None), rss()\n"
            "trimmed = give_back_free_heap(idle=False)\n"
            "released = before - rss()\n"
            "again = give_back_free_heap(idle=False)\n"
            "top = [b'y' * (3 * 1024 * 1024) for _ in range(2)]  # the heap grows at its top\n"
            "del top\n"
            "busy, idle = give_back_free_heap(idle=False), give_back_free_heap(idle=True)\n"
            "print(json.dumps([holes, trimmed, released, again, busy, idle]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    holes, trimmed, released, again, busy, idle = json.loads(out)
    if holes is None:  # not glibc 2.33+: nothing to measure
        assert trimmed is False
        return
    assert holes >= 40 * 1024 * 1024
    assert trimmed is True
    assert released >= 32 * 1024 * 1024
    assert again is False  # nothing left in the middle to give back
    # Free space at the top stays while the worker serves; idle, it goes.
    assert busy is False
    assert idle is True


def test_heap_keeper_checks_every_n_ticks_and_knows_idle(monkeypatch):
    from fastsnake.server import memory

    calls = []
    monkeypatch.setattr(memory, "give_back_free_heap", lambda idle: calls.append(idle))
    keeper = memory.HeapKeeper(every=3)
    for served in (5, 9, 12, 12, 12, 12, 13, 13, 13):
        keeper.tick(served)
    # Checks at the 3rd, 6th and 9th tick: served 12 (busy), 12 (idle), 13 (busy).
    assert calls == [False, True, False]
