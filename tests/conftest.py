from __future__ import annotations

import pathlib
from collections.abc import Callable, Iterator

import pytest

from tests.server import RunningServer, free_port, write_caddyfile


@pytest.fixture
def serve(tmp_path: pathlib.Path) -> Iterator[Callable[..., RunningServer]]:
    """Start fastsnake on a Caddyfile (``$PORT`` and ``$APPS`` are filled in)."""
    started: list[RunningServer] = []

    def start(caddyfile: str, env: dict[str, str] | None = None,
              wait: bool = True) -> RunningServer:
        port = free_port()
        server = RunningServer(write_caddyfile(tmp_path, caddyfile, port), port, env)
        started.append(server)
        if wait:
            server.wait_ready()
        return server

    yield start
    for server in started:
        server.stop()
