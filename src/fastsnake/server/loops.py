"""Which event loop a serving process runs: a worker's, a tenant process's.

Apart from server.lifecycle because the supervisor imports that one, and a
supervisor of one worker must not load asyncio (its memory is the worker's
too after the fork).
"""

from __future__ import annotations

import asyncio
import os


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it exists; asyncio's own loop on Windows, or when
    FASTSNAKE_LOOP=asyncio asks for it (that is how the Windows path is
    exercised on Linux)."""
    if os.environ.get("FASTSNAKE_LOOP", "").lower() == "asyncio":
        return asyncio.new_event_loop()
    try:
        import uvloop
    except ImportError:  # Windows, or a platform without wheels
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()
