from __future__ import annotations

import pathlib
from collections.abc import Callable, Iterator

import pytest

from tests.server import RunningServer, start_server


@pytest.fixture
def serve(tmp_path: pathlib.Path) -> Iterator[Callable[..., RunningServer]]:
    """Start fastsnake on a Caddyfile (``$PORT`` and ``$APPS`` are filled in)."""
    started: list[RunningServer] = []

    def start(caddyfile: str, env: dict[str, str] | None = None,
              wait: bool = True) -> RunningServer:
        server = start_server(tmp_path, caddyfile, env, wait=False)
        started.append(server)
        if wait:
            server.wait_ready()
        return server

    yield start
    for server in started:
        server.stop()
