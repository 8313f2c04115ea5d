"""Fixtures for ACME tests: one real Pebble per session, and its challenge listeners.

Tests that use ``pebble`` skip, saying why, where the pebble package is not
installed; the others run everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pebble import CHALLTESTSRV, MISSING, PEBBLE, ChallengeListeners, Pebble


@pytest.fixture(scope="session")
def challenge_listeners(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChallengeListeners]:
    listeners = ChallengeListeners(tmp_path_factory.mktemp("challenges"))
    yield listeners
    listeners.close()


@pytest.fixture(scope="session")
def pebble_server(tmp_path_factory: pytest.TempPathFactory,
                  challenge_listeners: ChallengeListeners) -> Iterator[Pebble]:
    if PEBBLE is None or CHALLTESTSRV is None:
        pytest.skip(MISSING)
    server = Pebble(tmp_path_factory.mktemp("pebble"), challenge_listeners.http_port,
                    challenge_listeners.tls_port)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def pebble(pebble_server: Pebble, challenge_listeners: ChallengeListeners) -> Pebble:
    """The session's Pebble, with the listeners' records cleared for this test."""
    challenge_listeners.reset()
    return pebble_server


@pytest.fixture
def solver(challenge_listeners: ChallengeListeners) -> ChallengeListeners:
    return challenge_listeners
