"""Micro-benchmarks: ``python -m pytest bench/micro --benchmark-only``.

They live outside tests/ (the main run's only testpath) and assert nothing
about speed: pytest-benchmark reports the numbers, people read them.
"""

from __future__ import annotations

import asyncio
import pathlib
import sys
from collections.abc import Iterator

import pytest
import uvloop

BENCH = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BENCH / "apps"))

pytest.importorskip("pytest_benchmark")


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    asyncio.set_event_loop(None)
    loop.close()
