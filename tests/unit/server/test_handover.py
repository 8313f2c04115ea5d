"""server/handover.py's parts: the sockets that cross a reload's exec, and
the throw-away import of the new configuration's apps (a real child
interpreter). The whole reload runs in tests/functional/test_one_process.py."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys

import pytest

from fastsnake.server import handover
from tests.config_helpers import build


def listening() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    return sock


def test_listening_sockets_cross_as_numbers_and_come_back_by_address(monkeypatch):
    first, second = listening(), listening()
    monkeypatch.setenv(handover.ENV, json.dumps([["", 8080, first.fileno()],
                                                 ["127.0.0.1", 8081, second.fileno()]]))
    first_fd, second_fd = first.detach(), second.detach()  # as after an exec: numbers only
    sockets = handover.take_inherited()
    assert handover.ENV not in os.environ  # consumed
    assert sorted(sockets) == [("", 8080), ("127.0.0.1", 8081)]
    assert sockets[("", 8080)].fileno() == first_fd
    assert sockets[("127.0.0.1", 8081)].fileno() == second_fd
    for sock in sockets.values():
        assert not sock.get_inheritable() and not sock.getblocking()
        # still the listening socket: a client connects and is queued
        with socket.create_connection(sock.getsockname(), timeout=5):
            pass
        sock.close()
    assert handover.take_inherited() == {}


def test_close_inherited_frees_the_ports(monkeypatch):
    sock = listening()
    address = sock.getsockname()
    monkeypatch.setenv(handover.ENV, json.dumps([["", address[1], sock.detach()]]))
    handover.close_inherited()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=5)


CADDYFILE = ':8080 {\n\tpython {\n\t\tmodule_wsgi "%s"\n\t\tworking_dir "%s"\n\t}\n}\n'


def test_check_apps_imports_in_a_child_and_says_why_not(tmp_path):
    (tmp_path / "good.py").write_text("def app(environ, start_response):\n    return []\n")
    (tmp_path / "bad.py").write_text("raise RuntimeError('no database here')\n")
    good = build(tmp_path, CADDYFILE % ("good:app", tmp_path))
    bad = build(tmp_path, CADDYFILE % ("bad:app", tmp_path))
    missing = build(tmp_path, CADDYFILE % ("good:nothing", tmp_path))
    assert asyncio.run(handover.check_apps(good)) is None
    assert "no database here" in asyncio.run(handover.check_apps(bad))
    assert "has no attribute 'nothing'" in asyncio.run(handover.check_apps(missing))
    # The import happened over there: this process never loaded the modules.
    assert "good" not in sys.modules and "bad" not in sys.modules
