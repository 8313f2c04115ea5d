"""AppSlot and Generation: the readers–writer semantics of swapping apps."""

from __future__ import annotations

import asyncio

import pytest

from fastsnake.apps.loader import AppSlot, Generation
from fastsnake.config.model import Interface, PythonApp


def run(coro):
    return asyncio.new_event_loop().run_until_complete(coro)


def test_cleanup_waits_for_the_last_reader():
    async def scenario():
        cleaned = []
        generation = Generation("handler", lambda: cleaned.append(True), name="g")
        generation.acquire()
        generation.acquire()
        generation.retire()
        await asyncio.sleep(0)
        assert cleaned == []  # two requests still hold leases
        generation.release()
        await asyncio.sleep(0)
        assert cleaned == []
        generation.release()
        await generation.wait_cleaned()
        assert cleaned == [True]

    run(scenario())


def test_idle_generation_is_cleaned_at_once_and_only_once():
    async def scenario():
        calls = []

        async def cleanup():
            calls.append(1)

        generation = Generation("h", cleanup)
        generation.retire()
        generation.retire()
        await generation.wait_cleaned()
        generation.acquire()
        generation.release()
        await asyncio.sleep(0)
        assert calls == [1]

    run(scenario())


def test_cleanup_errors_are_logged_not_raised(caplog):
    async def scenario():
        def cleanup():
            raise RuntimeError("cleanup failed")

        generation = Generation("h", cleanup, name="bad")
        await generation.wait_cleaned()

    run(scenario())
    assert "error cleaning up bad" in caplog.text


def make_slot(outcomes):
    """A slot whose create() returns the next handler or raises the next error."""
    created = []

    async def create(app):
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        generation = Generation(outcome, lambda: created.append(("cleaned", outcome)))
        return generation

    app = PythonApp(Interface.WSGI, "main:app", working_dir="/nonexistent-for-test")
    return AppSlot(app, create, lambda message: "broken-500"), created


def test_swap_sends_new_requests_to_the_new_app_and_old_ones_finish():
    async def scenario():
        slot, created = make_slot(["v1", "v2"])
        await slot.start()
        assert slot.select(None) == "v1"
        in_flight = slot.current
        in_flight.acquire()  # a request started on v1
        await slot.reload()
        assert slot.select(None) == "v2"
        await asyncio.sleep(0)
        assert created == []  # v1 still serving its request
        in_flight.release()
        await in_flight.cleaned_up
        assert created == [("cleaned", "v1")]

    run(scenario())


def test_failed_reload_leaves_the_slot_broken_until_fixed():
    async def scenario():
        slot, _ = make_slot(["v1", SyntaxError("bad code"), "v3"])
        await slot.start()
        await slot.reload()
        assert slot.select(None) == "broken-500"
        await slot.reload()
        assert slot.select(None) == "v3"

    run(scenario())


@pytest.mark.parametrize("readers", [0, 1, 5])
def test_close_waits_for_readers(readers):
    async def scenario():
        slot, created = make_slot(["v1"])
        await slot.start()
        generation = slot.current
        for _ in range(readers):
            generation.acquire()
        closing = asyncio.ensure_future(slot.close())
        await asyncio.sleep(0.01)
        assert closing.done() is (readers == 0)
        for _ in range(readers):
            generation.release()
        await closing
        assert created == [("cleaned", "v1")]

    run(scenario())
